"""Hand-derived gradients of the hinge loss (F6) of the feature-filtering model, fast and reference.

Derivation (docs/features.md, eqs. F7-F10).  With ``g_n = -y_n 1{y_n F_n < 1} / N`` and
``r_{n,l,i} = g_n a_i 1{v_i^T y_l > 0} / L``:

(F7)  dLoss/dv_i = sum_{n,l} r_{n,l,i} y_{n,l}            dLoss/dy_{n,l} =: Gy_{n,l} = sum_i r_{n,l,i} v_i
(F8)  SSM, adjoint of the scan (F2):  G_L = Gy_L,  G_l = Gy_l + (1 - sigma_{l+1}) G_{l+1},
      dLoss/dw = sum_{n,l} sigma_l (1 - sigma_l) <G_l, x_l - h_{l-1}> x_l                       (O(L d))
(F9)  SSM, closed form (F3):  dbeta_s^(l)/dw = beta_s^(l) [ (1 - sigma_s) x_s - sum_{j=s+1}^{l} sigma_j x_j ],
      dLoss/dw = sum_{n, s<=l} <Gy_l, x_s> dbeta_s^(l)/dw                                        (O(L^2 d))
(F10) linear attention (F4):  dLoss/dW = sum_{n, s<=l} omega_{l,s} <Gy_l, x_s> x_s x_l^T   (omega = 1/l, or 1/k in a
      window of the last k tokens)

The paper's mixer (Eq. 5, ``content``), with ``b_t = W_B^T x_t``, ``c_t = W_C^T x_t``, state ``H_t`` ``(d, r)``:

(P1)  adjoint of the scan H_t = (1 - sigma_t) H_{t-1} + sigma_t x_t b_t^T, y_t = H_t c_t:
      Gh_L = Gy_L c_L^T,  Gh_t = Gy_t c_t^T + (1 - sigma_{t+1}) Gh_{t+1}                           ((d, r))
      dLoss/dw   = sum_t sigma_t (1 - sigma_t) [ x_t^T Gh_t b_t - <Gh_t, H_{t-1}>_F ] x_t
      dLoss/dW_B = sum_t sigma_t x_t (Gh_t^T x_t)^T        dLoss/dW_C = sum_t x_t (H_t^T Gy_t)^T        (O(L d r))
(P2)  closed form, with C_{ts} = <Gy_t, x_s>, S_{ts} = b_s^T c_t, M = C * beta:
      dLoss/dw = (F9) with C replaced by C * S;   dLoss/db_s = sum_t M_{ts} c_t,  dLoss/dc_t = sum_s M_{ts} b_s,
      dLoss/dW_B = sum_s x_s (dLoss/db_s)^T,  dLoss/dW_C = sum_t x_t (dLoss/dc_t)^T                (O(L^2 (d + r)))

:func:`loss_and_grad` is the fast path (``@njit(cache=True)`` kernels, serial, fastmath off).  The head (F7) is
one Numba pass, :func:`head_pass`, whose products are the core's fixed-order small products
(:func:`~mamba_dynamics.core.simd.gemm`, no BLAS).
- The Eq. 5 SSM is one block of the shared stack (the mixer of :mod:`mamba_dynamics.core.mixer` implements P1 as
  (M1)/(M3)-(M4) and P2 as (M2)).  Short sequences, the papers' case, run in one Numba call,
  :func:`content_pass`: blocks of sequences through the mixer's one-call pairwise kernels, the head, and the
  adjoint on the sequences whose hinge is active.  Long ones go through :mod:`mamba_dynamics.core.stack` at
  depth 1 in chunks (:func:`stack_chunk`), by the O(L) scan (:func:`~mamba_dynamics.core.stack.block_form`
  chooses by cost).
- Linear attention in its pairwise form: one Numba call too (:func:`attention_pass`); on long sequences its
  O(L d^2) recurrence (:func:`attention_recurrent`) and the gate-only SSM: a Numba mixer and adjoint (F8, F10)
  around the head.
:func:`loss_and_grad_reference` is plain NumPy: the
closed form (F3) in log space, the closed-form derivative (F9), a per-neuron head and einsum (F10); it shares no
code with the fast path beyond ``softplus``.

Both return a :class:`~mamba_dynamics.core.losses.LossGrad` ``(loss, grads, F)`` with ``grads`` holding ``"w"``
``(d,)`` (SSM), ``"W_B"``, ``"W_C"`` ``(d, r)`` (SSM with ``content``) or ``"W"`` ``(d, d)`` (attention), and
``"V"`` ``(m, d)``; ``F`` ``(N,)``.
"""

from __future__ import annotations

import functools

import numpy as np
from numba import njit

from ..core.gating import softplus, softplus_scalar
from ..core.losses import LossGrad, hinge_loss, hinge_slope, mean_over_chunks
from ..core.mixer import pairs_adjoint_kernel, pairs_forward_kernel, pairs_small
from ..core.simd import bmm, gemm, matmul
from ..core.stack import (CHUNK_BYTES, Workspace, _weights, block_form, block_grads, sequence_chunks, stack_backward,
                          stack_forward)
from . import model


@njit(cache=True)
def ssm_scan(X, w, Y, T):
    """(F2) for a batch: ``X`` ``(N, L, d)``, ``w`` ``(d,)``; writes ``Y`` ``(N, L, d)`` and the gate
    pre-activations ``T`` ``(N, L)``."""
    N, L, d = X.shape
    for n in range(N):
        for l in range(L):
            t = 0.0
            for k in range(d):
                t += X[n, l, k] * w[k]
            T[n, l] = t
            s = np.exp(-softplus_scalar(-t))  # sigma(t)
            keep = np.exp(-softplus_scalar(t))  # 1 - sigma(t)
            for k in range(d):
                prev = Y[n, l - 1, k] if l > 0 else 0.0
                Y[n, l, k] = keep * prev + s * X[n, l, k]


@njit(cache=True)
def ssm_scan_adjoint(X, Y, T, Gy, dw):
    """(F8): accumulate ``dLoss/dw`` into ``dw`` ``(d,)`` from ``Gy = dLoss/dY`` ``(N, L, d)``."""
    N, L, d = X.shape
    G = np.empty(d)
    for n in range(N):
        for k in range(d):
            G[k] = 0.0
        for l in range(L - 1, -1, -1):
            if l < L - 1:
                keep_next = np.exp(-softplus_scalar(T[n, l + 1]))
                for k in range(d):
                    G[k] = Gy[n, l, k] + keep_next * G[k]
            else:
                for k in range(d):
                    G[k] = Gy[n, l, k]
            dot = 0.0
            for k in range(d):
                prev = Y[n, l - 1, k] if l > 0 else 0.0
                dot += G[k] * (X[n, l, k] - prev)
            t = T[n, l]
            coef = dot * np.exp(-softplus_scalar(t) - softplus_scalar(-t))  # sigma (1 - sigma) <G, x - h>
            for k in range(d):
                dw[k] += coef * X[n, l, k]


#: active sequences gathered per backward product of :func:`head_pass` (a speed choice only: any group gives the
#: same bits): 8 sequences of 12 tokens make a 96-long sum per tile of ``R^T Y``
HEAD_GROUP = 8


@njit(cache=True, error_model="numpy")
def _head_group_backward(Yg, Rg, V, g, dVt, Gy, rows):
    """The backward products of :func:`head_pass` for a group of ``g`` active sequences, their tokens side by side
    (``Yg`` ``(G L, d)``, ``Rg`` ``(G L, m)``, the first ``g L`` rows used): ``dVt += Yg^T Rg`` ``(d, m)`` (the
    neurons in the vector lanes) and ``Gy[rows[j]] = R_j V`` ``(L, d)`` for the group's ``j``-th sequence."""
    d = Yg.shape[1]
    m = Rg.shape[1]
    L = Gy.shape[1]
    gemm(Yg, 0, 1, d, Rg, 0, m, dVt, 0, m, d, g * L, m, True)
    for j in range(g):
        gemm(Rg, j * L * m, m, 1, V, 0, d, Gy, rows[j] * L * d, d, L, m, d, False)


@njit(cache=True, error_model="numpy")
def head_pass(Y, V, Vt, a, y, F, active, Gy, dVt, compact, group, n_total):
    """The Eq. 6 head, its hinge and its backward (F7) in one pass over the sequences of ``Y`` ``(N, L, d)``, the
    products in the core's cache (:func:`~mamba_dynamics.core.simd.gemm`, each sum in a fixed order, no BLAS):

    * ``Z = Y_n V^T`` ``(L, m)`` per sequence; ``F[n] = sum_i a_i sum_l max(Z[l, i], 0) / L`` (each neuron's sum
      over the tokens, then the neurons' weighted sum in the order ``i``);
    * if the hinge is active (``y_n F_n < 1``): ``R[l, i] = g_n a_i 1{Z[l, i] > 0} / L`` with ``g_n = -y_n /
      n_total`` (the whole batch's size, of which ``Y`` may be a block); ``dVt += Y_n^T R`` ``(d, m)``
      (``dLoss/dV`` transposed, each element summed over the active tokens in order, from its old value, so that
      consecutive blocks give the same bits as one) and ``Gy_n = R V`` ``(L, d)``, for ``group`` active sequences
      at a time (:func:`_head_group_backward`; the group changes no bit).

    ``V`` ``(m, d)`` and its transpose ``Vt`` ``(d, m)`` (C-contiguous), ``a`` ``(m,)``, ``y`` ``(N,)``.  Writes ``F`` ``(N,)``, the indices of the active sequences
    into ``active`` ``(N,)``, adds into ``dVt`` and writes ``Gy``: with ``compact`` the active sequences' rows in
    their order (``(na, L, d)``, the rest of ``Gy`` untouched), else ``(N, L, d)`` with zero rows for the inactive
    ones.  Returns ``na``, the number of active sequences.  The pre-activations are never stored (the BLAS head
    wrote and read 3.8 MB of them per step; docs/performance.md, "The feature steps without BLAS")."""
    N, L, d = Y.shape
    m = V.shape[0]
    Z = np.empty((L, m))
    Yg = np.empty((group * L, d))
    Rg = np.empty((group * L, m))
    rows = np.empty(group, dtype=np.int64)
    acc = np.empty(m)
    ga = np.empty(m)
    na = 0
    g = 0
    for n in range(N):
        gemm(Y, n * L * d, d, 1, Vt, 0, m, Z, 0, m, L, d, m, False)
        acc[:] = 0.0
        for l in range(L):
            for i in range(m):
                z = Z[l, i]
                acc[i] += 0.0 if z <= 0.0 else z  # max(z, 0) as a select (vectorises), NaN kept
        f = 0.0
        for i in range(m):
            f += a[i] * acc[i]
        f = f / L
        F[n] = f
        if 1.0 - y[n] * f <= 0.0:
            if not compact:
                Gy[n, :, :] = 0.0
            continue
        rows[g] = na if compact else n
        active[na] = n
        na += 1
        c = -y[n] / n_total / L
        for i in range(m):
            ga[i] = c * a[i]
        for l in range(L):
            t = g * L + l
            for k in range(d):
                Yg[t, k] = Y[n, l, k]
            for i in range(m):
                Rg[t, i] = ga[i] if Z[l, i] > 0.0 else 0.0
        g += 1
        if g == group:
            _head_group_backward(Yg, Rg, V, g, dVt, Gy, rows)
            g = 0
    if g > 0:
        _head_group_backward(Yg, Rg, V, g, dVt, Gy, rows)
    return na


@njit(cache=True)
def attention_recurrent(L, d, window):
    """Whether global linear attention runs as its O(L d^2) recurrence (``L >= 2 d``: fewer operations than the
    O(L^2 d) direct sum, whose ``L (L + 1) / 2`` pairs cost ``2 d`` each against ``5 d^2`` per token)."""
    return window == 0 and L >= 2 * d


@njit(cache=True, inline="always")
def _attention_state_step(X, n, l, S, v, out):
    """One token of the linear-attention recurrence for sequence ``n`` of ``X`` ``(N, L, d)``: ``S += x_l x_l^T``
    (``S`` ``(d, d)``, symmetric), then ``out += S v / l`` (``v``, ``out`` ``(d,)``, ``l`` counted from 1)."""
    d = X.shape[2]
    for i in range(d):
        xi = X[n, l, i]
        for k in range(d):
            S[i, k] += xi * X[n, l, k]
    for i in range(d):
        vi = v[i] / (l + 1)
        for k in range(d):
            out[k] += vi * S[i, k]


@njit(cache=True)
def attention_mix(X, W, Y, window):
    """(F4) for a batch, global (``window = 0``) or over the last ``window`` tokens: writes ``Y`` ``(N, L, d)``.

    Global attention on long sequences (``L >= 2 d``, :func:`attention_recurrent`) runs as its recurrence,
    O(L d^2) per sequence instead of O(L^2 d): ``y_l = S_l W x_l / l`` with the running ``(d, d)`` state
    ``S_l = sum_{s<=l} x_s x_s^T``.  Otherwise the sum over the earlier tokens (or the window's ``k``) is direct,
    O(L^2 d) (O(L k d))."""
    N, L, d = X.shape
    U = np.empty(d)
    S = np.empty((d, d))
    recurrent = attention_recurrent(L, d, window)
    for n in range(N):
        if recurrent:
            S[:, :] = 0.0  # a new sequence: empty state
        for l in range(L):
            for i in range(d):
                U[i] = 0.0
            for k in range(d):
                xk = X[n, l, k]
                for i in range(d):
                    U[i] += W[i, k] * xk  # W x_l
            for k in range(d):
                Y[n, l, k] = 0.0
            if recurrent:
                _attention_state_step(X, n, l, S, U, Y[n, l])  # y_l = S_l W x_l / l
                continue
            first = l - window + 1 if window > 0 and l - window + 1 > 0 else 0
            for s in range(first, l + 1):
                score = 0.0
                for k in range(d):
                    score += X[n, s, k] * U[k]
                score /= l + 1 - first
                for k in range(d):
                    Y[n, l, k] += score * X[n, s, k]


@njit(cache=True)
def attention_adjoint(X, Gy, dW, window):
    """(F10): accumulate ``dLoss/dW`` into ``dW`` ``(d, d)`` (same ``window`` as :func:`attention_mix`):
    ``dW = sum_l z_l x_l^T`` with ``z_l = sum_s omega_{ls} <Gy_l, x_s> x_s``, which for global attention is
    ``S_l Gy_l / l`` (the state of :func:`attention_mix`, O(L d^2) per sequence, when
    :func:`attention_recurrent`)."""
    N, L, d = X.shape
    Z = np.empty(d)
    S = np.empty((d, d))
    recurrent = attention_recurrent(L, d, window)
    for n in range(N):
        if recurrent:
            S[:, :] = 0.0  # a new sequence: empty state
        for l in range(L):
            for k in range(d):
                Z[k] = 0.0
            if recurrent:
                _attention_state_step(X, n, l, S, Gy[n, l], Z)  # z_l = S_l Gy_l / l
            else:
                first = l - window + 1 if window > 0 and l - window + 1 > 0 else 0
                for s in range(first, l + 1):
                    c = 0.0
                    for k in range(d):
                        c += Gy[n, l, k] * X[n, s, k]
                    c /= l + 1 - first
                    for k in range(d):
                        Z[k] += c * X[n, s, k]
            for i in range(d):
                zi = Z[i]
                for k in range(d):
                    dW[i, k] += zi * X[n, l, k]


def _head(Y: np.ndarray, V: np.ndarray, a: np.ndarray, y: np.ndarray, compact: bool):
    """The Eq. 6 head and its backward (F7) in one Numba pass (:func:`head_pass`).  Returns ``(loss, F (N,), dV
    (m, d), Gy, active)``: with ``compact`` ``Gy`` is ``(na, L, d)``, the active sequences' rows in the order of
    ``active`` ``(na,)``; otherwise ``(N, L, d)`` (zero for inactive sequences).  ``Gy`` lives in a reused array
    (overwritten by the next call)."""
    N, L, d = Y.shape
    F, active = np.empty(N), np.empty(N, dtype=np.int64)
    dVt = np.zeros((d, V.shape[0]))
    Gy = _HEAD.get("Gy", (N, L, d))
    na = head_pass(_f64(Y), _f64(V), _transpose(V), _f64(a), _f64(y), F, active, Gy, dVt, compact, HEAD_GROUP, N)
    return hinge_loss(F, y), F, dVt.T.copy(), Gy[:na] if compact else Gy, active[:na]


#: the head's reused arrays (:func:`_head`) and the evaluations' (:func:`head_outputs`, the attention scores of
#: :func:`outputs`)
_HEAD = Workspace()
_EVAL = Workspace()


def _f64(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a, dtype=np.float64)


def _transpose(a: np.ndarray) -> np.ndarray:
    """``a^T`` as a C-contiguous float64 array (the passes' weights, whose products read them by rows)."""
    return np.ascontiguousarray(np.asarray(a, dtype=np.float64).T)


def _mix_fast(params: "model.Params", X: np.ndarray, gated: bool, content: bool, window: int, reuse: bool = False):
    """Fast outputs ``Y`` ``(N, L, d)`` (Numba scan or attention); returns ``(X, Y, T)`` with the gate
    pre-activations ``T`` ``(N, L)`` of the gate-only SSM (else None).  ``reuse``: ``Y`` and ``T`` in
    :data:`_EVAL`'s arrays (overwritten by the next such call); the intermediates always are."""
    X = _f64(X)
    get = _EVAL.get if reuse else (lambda name, shape: np.empty(shape))
    if gated and content:
        work = _EVAL if reuse else None
        return X, stack_forward(*_content_block(params), X, True, "mixer", True, work=work)[0], None
    if not gated and attention_pairs(*X.shape[1:], window):
        Y = get("Yatt", X.shape)
        matmul(_attention_scores(X, params.W, window, _EVAL.get), X, Y)
        return X, Y, None
    Y = get("Ymix", X.shape)
    if gated:
        T = get("T", X.shape[:2])
        ssm_scan(X, _f64(params.w), Y, T)
        return X, Y, T
    attention_mix(X, _f64(params.W), Y, window)
    return X, Y, None


def attention_pairs(L: int, d: int, window: int) -> bool:
    """Whether linear attention runs in its pairwise form as batched BLAS products (:func:`_attention_scores`,
    O(L^2 d) per sequence at BLAS speed) rather than the Numba kernels: unless it runs as its O(L d^2)
    recurrence (:func:`attention_recurrent`) or a window of ``k`` tokens makes the direct sum's O(L k d) four
    times cheaper (``L > 4 k``)."""
    return not attention_recurrent(L, d, window) and (window == 0 or L <= 4 * window)


def _attention_scores(X: np.ndarray, W: np.ndarray, window: int, get=None) -> np.ndarray:
    """The weighted scores of (F4) for a batch ``X`` ``(N, L, d)``: ``S[n, l, s] = omega_{ls} x_s^T W x_l``
    ``(N, L, L)``, as ``U = X W^T`` (one product over all tokens), then ``S = U X^T`` (batched) times the weights
    (:func:`~mamba_dynamics.features.model.attention_weights`).  ``get(name, shape)`` gives the arrays (default:
    the training step's reused ones, :data:`_HEAD`; the evaluations pass :data:`_EVAL`'s)."""
    get = get or _HEAD.get
    N, L, d = X.shape
    U = matmul(X.reshape(N * L, d), _f64(W).T, get("U", (N * L, d))).reshape(N, L, d)
    S = get("S", (N, L, L))
    matmul(U, X.transpose(0, 2, 1), S)
    S *= _attention_weights(L, window)
    return S


@functools.lru_cache(maxsize=16)
def _attention_weights(L: int, window: int) -> np.ndarray:
    """:func:`~mamba_dynamics.features.model.attention_weights`, made once per ``(L, window)`` (read-only): building
    it took about 20 us, twice per chunk of the training step."""
    w = model.attention_weights(L, window)
    w.setflags(write=False)
    return w


def _attention_pairs_grad(X: np.ndarray, Gy: np.ndarray, active: np.ndarray, window: int) -> np.ndarray:
    """(F10) in the pairwise form on the active sequences: ``C = Gy X^T`` weighted by ``omega``, ``z = C X``
    (``z_l = sum_s omega_{ls} <Gy_l, x_s> x_s``) and ``dLoss/dW = sum_l z_l x_l^T`` as one product over their
    tokens.  ``Gy`` ``(na, L, d)`` in the order of ``active`` ``(na,)``; returns ``(d, d)``.  The arrays are
    reused (:data:`_HEAD`, prefixes of the full batch's): fresh ones of about 1 MB faulted in 700 pages a step."""
    N, L, d = X.shape
    na = len(active)
    Xa = X if na == N else np.take(X, active, axis=0, out=_HEAD.get("Xa", X.shape)[:na])
    C = _HEAD.get("C", (N, L, L))[:na]
    matmul(Gy, Xa.transpose(0, 2, 1), C)
    C *= _attention_weights(L, window)
    Z = _HEAD.get("z", X.shape)[:na]
    matmul(C, Xa, Z)
    return matmul(Z.reshape(-1, d).T, Xa.reshape(-1, d), np.empty((d, d)))


def outputs(params: "model.Params", X: np.ndarray, gated: bool, content: bool = False, window: int = 0,
            reuse: bool = False) -> np.ndarray:
    """Fast per-token outputs ``Y`` ``(N, L, d)``; O(L d) (gate-only SSM), O(L d r) (Eq. 5 SSM) or O(L^2 d)
    (attention) per sequence.  ``reuse=True`` (the evaluations during training): the result lives in a reused
    array, overwritten by the next call with ``reuse=True``; fresh arrays of a megabyte or more are mapped anew at
    every call and fault in every page (507 faults and 3.2 ms instead of about 1 ms for 1000 sequences)."""
    return _mix_fast(params, X, gated, content, window, reuse)[1]


def head_outputs(Y: np.ndarray, V: np.ndarray, a: np.ndarray) -> np.ndarray:
    """(F5) ``F`` ``(N,)`` from outputs ``Y`` ``(N, L, d)``: the arithmetic of
    :func:`~mamba_dynamics.features.model.head` (the same numbers bit for bit, tested) with the pre-activations
    ``(N L, m)`` in one product into a reused array.  The reference's two fresh ``(N, L, m)`` arrays (3.8 MB each
    at the defaults) are mapped anew at every call, and their page faults made an evaluation of 1000 sequences
    take about 4 ms instead of 0.7 (docs/performance.md)."""
    N, L, d = Y.shape
    Z = np.matmul(Y.reshape(N * L, d), V.T, out=_EVAL.get("Z", (N * L, V.shape[0])))
    np.maximum(Z, 0.0, out=Z)
    return (Z @ a).reshape(N, L).sum(axis=1) / L


def predict(params: "model.Params", X: np.ndarray, gated: bool, content: bool = False, window: int = 0) -> np.ndarray:
    """Fast ``F(X)`` ``(N,)``."""
    return head_outputs(outputs(params, X, gated, content, window, reuse=True), params.V, params.a)


def loss_and_grad(params: "model.Params", X: np.ndarray, y: np.ndarray, gated: bool, content: bool = False,
                  window: int = 0, want_wbc: bool = True):
    """Fast hinge loss and gradients.  ``X`` ``(N, L, d)``, ``y`` ``(N,)``; inputs are not modified.  With
    ``content`` and ``want_wbc = False`` the ``W_B``, ``W_C`` gradients are skipped (frozen projections)."""
    if gated and content:
        return _content_loss_and_grad(params, _f64(X), _f64(y), want_wbc)
    if not gated and attention_pairs(*X.shape[1:], window):
        X, y = _f64(X), _f64(y)
        N, L, d = X.shape
        if pairs_small(L, d, d):  # one Numba call (:func:`attention_pass`)
            V = _f64(params.V)
            F, dW, dVt = np.empty(N), np.zeros((d, d)), np.zeros((d, V.shape[0]))
            attention_pass(X, _transpose(params.W), _attention_weights(L, window), V, _transpose(V),
                           _f64(params.a), y, PASS_BLOCK, HEAD_GROUP, F, dW, dVt)
            return LossGrad(hinge_loss(F, y), {"W": dW, "V": dVt.T.copy()}, F)
        return mean_over_chunks(lambda sl: _attention_pairs_chunk(params, X[sl], y[sl], window),
                                head_chunks(X, params.V, ONE_LAYER_CHUNK_BYTES), lambda F: hinge_loss(F, y))
    X, Y, T = _mix_fast(params, X, gated, content, window)
    d = X.shape[2]
    loss, F, dV, Gy, _ = _head(Y, params.V, params.a, y, compact=False)
    if gated:
        dw = np.zeros(d)
        ssm_scan_adjoint(X, Y, T, _f64(Gy), dw)
        return LossGrad(loss, {"w": dw, "V": dV}, F)
    dW = np.zeros((d, d))
    attention_adjoint(X, _f64(Gy), dW, window)
    return LossGrad(loss, {"W": dW, "V": dV}, F)


def head_chunks(X: np.ndarray, V: np.ndarray, budget: int = CHUNK_BYTES) -> list:
    """The training step's chunks of sequences (:func:`~mamba_dynamics.core.stack.sequence_chunks`), sized by the
    widest per-token array the step keeps: the head's pre-activations ``(N, L, m)`` (``m`` = 40 neurons against
    ``d`` = 10 at the defaults, 3.8 MB for 1000 sequences) or the tokens ``(N, L, d)``, about ``budget`` bytes
    each.  The stacks keep the core's budget (Table 3: 10 chunks of 100, whose arrays stay in the 1 MB L2 through
    the head's three products and the blocks); the one-layer models pass :data:`ONE_LAYER_CHUNK_BYTES` (5 chunks of
    200 at the defaults).  ``X`` ``(N, L, d)``, ``V`` ``(m, d)``."""
    N, L, d = X.shape
    return sequence_chunks(N, L, max(d, V.shape[0]), budget)


#: the one-layer models' chunk budget (:func:`head_chunks`): 5 chunks of 200 sequences at the defaults.  Each
#: chunk pays a fixed 40-60 us (about twenty NumPy and Numba calls), and one layer keeps few arrays per sequence,
#: so larger chunks than the stacks' win: measured side by side on the Eq. 5 SSM and the LT-MLP at the defaults
#: (OpenBLAS's detected kernels), 5 chunks took 0.92-0.97 of the time of 10 (warm, and after a 64 MB read); 1, 20
#: or 40 chunks were slower, 8 about as 5 (docs/performance.md, "Chunks of the one-layer steps")
ONE_LAYER_CHUNK_BYTES = 768 * 1024


@njit(cache=True, error_model="numpy")
def attention_pass(X, WT, omega, V, Vt, a, y, block, group, F, dW, dVt):
    """Linear attention in the pairwise form with the Eq. 6 head: the loss and gradients in one Numba call,
    ``block`` sequences at a time (fixed-order small products, :func:`~mamba_dynamics.core.simd.bmm`):
    ``U = X W^T``, ``S = omega * (U X^T)``, ``Y = S X`` (F4), the head (:func:`head_pass`), then on the active
    sequences (F10): ``C = omega * (Gy X^T)``, ``z = C X`` and ``dW += z^T X``.  ``X`` ``(N, L, d)``, ``WT`` ``(d,
    d)`` = ``W^T``, ``omega`` ``(L, L)`` the weights (:func:`~mamba_dynamics.features.model.attention_weights`),
    ``V``, ``Vt`` as in :func:`head_pass`; writes ``F`` ``(N,)`` and adds into ``dW`` ``(d, d)`` and ``dVt`` ``(d,
    m)``.  The block size changes no bit."""
    N, L, d = X.shape
    U = np.empty((block, L, d))
    S = np.empty((block, L, L))
    Y = np.empty((block, L, d))
    Gy = np.empty((block, L, d))
    Xa = np.empty((block, L, d))
    active = np.empty(block, dtype=np.int64)
    for b0 in range(0, N, block):
        nb = min(block, N - b0)
        Xb = X[b0:b0 + nb]
        gemm(Xb, 0, d, 1, WT, 0, d, U, 0, d, nb * L, d, d, False)
        bmm(U[:nb], Xb.transpose(0, 2, 1), S[:nb], False)
        for n in range(nb):
            for l in range(L):
                for s in range(L):
                    S[n, l, s] *= omega[l, s]
        bmm(S[:nb], Xb, Y[:nb], False)
        na = head_pass(Y[:nb], V, Vt, a, y[b0:b0 + nb], F[b0:b0 + nb], active, Gy, dVt, True, group, N)
        if na == 0:
            continue
        for j in range(na):
            Xa[j] = Xb[active[j]]
        Xs, C, Zs = Xa[:na], S[:na], U[:na]  # S and U reused for C and z
        bmm(Gy[:na], Xs.transpose(0, 2, 1), C, False)
        for n in range(na):
            for l in range(L):
                for s in range(L):
                    C[n, l, s] *= omega[l, s]
        bmm(C, Xs, Zs, False)
        gemm(Zs, 0, 1, d, Xs, 0, d, dW, 0, d, d, na * L, d, True)


def _attention_pairs_chunk(params: "model.Params", X: np.ndarray, y: np.ndarray, window: int) -> LossGrad:
    """Linear attention in the pairwise form (:func:`_attention_scores`), the head and (F10) on one chunk of
    sequences ``X`` ``(n, L, d)``, ``y`` ``(n,)`` (float64, contiguous rows)."""
    d = X.shape[2]
    Y = _HEAD.get("Y", X.shape)
    matmul(_attention_scores(X, params.W, window), X, Y)
    loss, F, dV, Gy, active = _head(Y, params.V, params.a, y, compact=True)
    dW = _attention_pairs_grad(X, Gy, active, window) if active.size else np.zeros((d, d))
    return LossGrad(loss, {"W": dW, "V": dV}, F)


def _content_block(params: "model.Params") -> tuple:
    """The Eq. 5 mixer as one block of the shared stack (:mod:`~mamba_dynamics.core.stack`): ``(W_B, W_C, w)``
    as ``(1, r, d)``, ``(1, r, d)``, ``(1, d)`` in the core orientation (``b = W_B^k x``: the transposes of the
    model's ``W_B``, ``W_C``, whose ``b = W_B^T x``)."""
    return params.W_B.T[None], params.W_C.T[None], _f64(params.w)[None]


#: sequences per block of :func:`content_pass` and :func:`attention_pass` (a speed choice only: any block gives
#: the same bits): a block's forward quantities (about 6 kB a sequence at the defaults) stay in the core's caches
PASS_BLOCK = 16


@njit(cache=True, error_model="numpy")
def content_pass(X, WkT, factored, V, Vt, a, y, block, group, F, dWk, dVt):
    """The Eq. 5-6 model's loss and gradients in one Numba call, ``block`` sequences at a time, every array of a
    block in the core's cache (the shared mixer's one-call pairwise kernels,
    :func:`~mamba_dynamics.core.mixer.pairs_forward_kernel` and
    :func:`~mamba_dynamics.core.mixer.pairs_adjoint_kernel`, and :func:`head_pass`):

    * ``Z = X Wk^T`` ``(T, P)`` (``WkT`` ``(D, P)`` = ``Wk^T``): the packed projections of the one block (:func:`~mamba_dynamics.core.stack
      ._weights`: ``[w^T; Q^T]`` when ``factored``, with ``b_s = x_s`` and ``c_t = A_t``, else ``[W_B; W_C;
      w^T]``), then the mixer's forward (M2) and the head;
    * on the sequences whose hinge is active (their forward rows moved to the front of the block): the mixer's
      adjoint (M3)-(M4) without the paths into ``X``, and ``dWk += dZ^T X`` ``(P, D)``.

    ``X`` ``(N, T, D)``, ``V``, ``Vt`` as in :func:`head_pass`, ``a`` ``(m,)``, ``y`` ``(N,)``; writes ``F`` ``(N,)``
    and adds into ``dWk`` and ``dVt`` ``(D, m)`` (``dLoss/dV`` transposed).  Every gradient element is one sum over
    the tokens in order, so the block size changes no bit.  Against the shared stack's chunked step
    (:func:`stack_chunk`) this keeps no megabyte-sized array per chunk and makes one Python call per step
    (docs/performance.md, "The feature steps without BLAS")."""
    N, T, D = X.shape
    P = WkT.shape[1]
    r = (P - 1) // 2  # the pairs form's projections (unused when factored)
    Z = np.empty((block, T, P))
    SIG = np.empty((block, T))
    KEEP = np.empty((block, T))
    S = np.empty((block, T, T))
    Y = np.empty((block, T, D))
    Gy = np.empty((block, T, D))
    C = np.empty((block, T, T))
    dZ = np.empty((block, T, P))
    Xa = np.empty((block, T, D))
    active = np.empty(block, dtype=np.int64)
    none = np.empty((0, 0, 0))
    for b0 in range(0, N, block):
        nb = min(block, N - b0)
        Xb = X[b0:b0 + nb]
        Zb = Z[:nb]
        gemm(Xb, 0, D, 1, WkT, 0, P, Zb, 0, P, nb * T, D, P, False)
        if factored:
            pairs_forward_kernel(Xb, Xb, Zb[:, :, 1:], Zb[:, :, 0], True, 0, Y[:nb], SIG[:nb], KEEP[:nb], S[:nb])
        else:
            pairs_forward_kernel(Xb, Zb[:, :, :r], Zb[:, :, r:2 * r], Zb[:, :, 2 * r], True, 0, Y[:nb], SIG[:nb],
                                 KEEP[:nb], S[:nb])
        na = head_pass(Y[:nb], V, Vt, a, y[b0:b0 + nb], F[b0:b0 + nb], active, Gy, dVt, True, group, N)
        if na == 0:
            continue
        for j in range(na):  # the active sequences' forward rows to the front (j <= active[j])
            i = active[j]
            Xa[j] = Xb[i]
            if i != j:
                Z[j] = Z[i]
                SIG[j] = SIG[i]
                KEEP[j] = KEEP[i]
                S[j] = S[i]
        Xs, Zs, dZs = Xa[:na], Z[:na], dZ[:na]
        if factored:
            pairs_adjoint_kernel(Xs, Xs, Zs[:, :, 1:], Gy[:na], SIG[:na], KEEP[:na], True, 0, S[:na], none, False,
                                 none, False, dZs[:, :, 1:], dZs[:, :, 0], C[:na])
        else:
            pairs_adjoint_kernel(Xs, Zs[:, :, :r], Zs[:, :, r:2 * r], Gy[:na], SIG[:na], KEEP[:na], True, 0, S[:na],
                                 none, False, dZs[:, :, :r], True, dZs[:, :, r:2 * r], dZs[:, :, 2 * r], C[:na])
        gemm(dZs, 0, 1, P, Xs, 0, D, dWk, 0, D, P, na * T, D, True)


#: :func:`stack_chunk` runs the blocks' backward on the active sequences alone (their cache rows copied) when
#: fewer than this fraction of the chunk is active, else on every sequence with the inactive ones' gradient rows
#: zero (exact zeros through the backward): copying nearly all of the cache costs more than the few inactive
#: sequences' backward (measured in docs/performance.md, "The active sequences' backward")
TAKE_BELOW = 0.9

#: the one-block stack's reused arrays (:func:`_content_loss_and_grad`), and :func:`stack_chunk`'s for the active
#: sequences' cache rows and backward (prefixes of arrays kept at the largest size asked for)
_WORK = Workspace()
_ACTIVE = Workspace(rows=True)


def _content_loss_and_grad(params: "model.Params", X: np.ndarray, y: np.ndarray, want_wbc: bool):
    """The Eq. 5-6 model through the shared mixer block (the one implementation of Eq. 5 in the package), its form
    chosen by cost (:func:`~mamba_dynamics.core.stack.block_form`): short sequences in the pairwise form (M2, on
    the factored scores ``x_t^T W_C W_B^T x_s`` when that is cheaper) in one Numba call (:func:`content_pass`);
    long ones by the O(L) scan (M1) through :mod:`~mamba_dynamics.core.stack` at depth 1, chunk by chunk of
    sequences, each through :func:`stack_chunk`.  The gradients come back in the model's orientation (``W_B``,
    ``W_C`` ``(d, r)``)."""
    blocks = _content_block(params)
    N, T, D = X.shape
    form = block_form(T, D, blocks[0].shape[1])
    W_B, W_C, w = blocks
    if form != "scan" and pairs_small(T, D, W_B.shape[1]):  # one Numba call (:func:`content_pass`)
        V = _f64(params.V)
        Wk = _weights(W_B, W_C, w, True, form)[0]
        F, dWk, dVt = np.empty(N), np.zeros(Wk.shape), np.zeros((D, V.shape[0]))
        content_pass(X, _transpose(Wk), form == "factored", V, _transpose(V), _f64(params.a), y, PASS_BLOCK,
                     HEAD_GROUP, F, dWk, dVt)
        dW_B, dW_C, dw = block_grads(dWk, W_B[0], W_C[0], form, True)
        grads = {"w": dw.copy(), "V": dVt.T.copy()}
        if want_wbc:
            grads["W_B"], grads["W_C"] = dW_B.T.copy(), dW_C.T.copy()
        return LossGrad(hinge_loss(F, y), grads, F)
    r = mean_over_chunks(lambda sl: stack_chunk(blocks, params.V, params.a, X[sl], y[sl], work=_WORK,
                                                want_wbc=want_wbc),
                         head_chunks(X, params.V, ONE_LAYER_CHUNK_BYTES), lambda F: hinge_loss(F, y))
    grads = {"w": r.grads["w"][0], "V": r.grads["V"]}
    if want_wbc:
        grads["W_B"], grads["W_C"] = r.grads["W_B"][0].T, r.grads["W_C"][0].T
    return LossGrad(r.loss, grads, r.F)


def stack_chunk(blocks: tuple, V: np.ndarray, a: np.ndarray, X: np.ndarray, y: np.ndarray, norm: str = "rms",
                fast: bool = True, work: Workspace | None = None, want_wbc: bool = True) -> LossGrad:
    """Eq. 5 blocks on a residual stream read at the last mixer (:mod:`~mamba_dynamics.core.stack`; one block is
    the paper's model) with the Eq. 6 head, on one chunk of sequences ``X`` ``(N, L, d)``: the hinge loss and the
    gradients ``{"w": (Lb, d), "W_B", "W_C": (Lb, r, d), "V": (m, d)}`` in the core orientation (no ``"W_B"``,
    ``"W_C"`` with ``want_wbc = False``).  ``blocks = (W_B, W_C, w)`` ``(Lb, r, d)``, ``(Lb, r, d)``, ``(Lb, d)``.
    The blocks' forward of every sequence (in ``work``'s arrays when given), the head (:func:`_head`, its products
    on the active sequences' rows only), then the blocks' backward on the active sequences alone (their cache rows
    gathered, :meth:`~mamba_dynamics.core.stack.StackCache.take`); a chunk whose hinges are all inactive skips the
    backward, whose gradients would be exact zeros.  ``fast=False``: the mixers' NumPy references."""
    W_B, W_C, w = blocks
    Y, cache = stack_forward(W_B, W_C, w, X, True, "mixer", fast, work=work, norm=norm)
    loss, F, dV, Gy, active = _head(np.ascontiguousarray(Y), V, a, y, compact=True)
    if not active.size:  # every hinge inactive: the blocks' gradients are exact zeros
        grads = {"w": np.zeros_like(w), "V": dV}
        if want_wbc:
            grads["W_B"], grads["W_C"] = np.zeros_like(W_B), np.zeros_like(W_C)
        return LossGrad(loss, grads, F)
    N = len(X)
    if active.size < TAKE_BELOW * N:  # the backward of the active sequences only
        work = _ACTIVE if work is not None else None
        cache = cache.take(active, work)
    elif active.size < N:  # of every sequence, the inactive ones' gradient rows zero
        full = (_HEAD if work is None else work).get("Gfull", (N,) + Gy.shape[1:])
        full.fill(0.0)
        full[active] = Gy
        Gy = full
    dW_B, dW_C, dw, _ = stack_backward(W_B, W_C, w, cache, Gy, True, "mixer", fast, work, want_wbc=want_wbc)
    grads = {"w": dw, "V": dV}
    if want_wbc:
        grads["W_B"], grads["W_C"] = dW_B, dW_C
    return LossGrad(loss, grads, F)


def head_reference(Y: np.ndarray, V: np.ndarray, a: np.ndarray, y: np.ndarray) -> tuple:
    """The Eq. 6 head, its hinge loss and backward (F7), neuron by neuron in NumPy: ``(loss, F (N,), dV (m, d),
    Gy = dLoss/dY (N, L, d))`` from the mixer outputs ``Y`` ``(N, L, d)``."""
    L = Y.shape[1]
    dV = np.zeros_like(V)
    Gy = np.zeros_like(Y)
    pre = np.einsum("nld,md->nlm", Y, V)
    F = np.einsum("nlm,m->n", np.maximum(pre, 0.0), a) / L
    g = hinge_slope(F, y)
    for i in range(V.shape[0]):
        r = (pre[:, :, i] > 0) * a[i] * g[:, None] / L  # (N, L)
        dV[i] = np.einsum("nl,nld->d", r, Y)
        Gy += r[:, :, None] * V[i][None, None, :]
    return hinge_loss(F, y), F, dV, Gy


def loss_and_grad_reference(params: "model.Params", X: np.ndarray, y: np.ndarray, gated: bool,
                            content: bool = False, window: int = 0):
    """Plain NumPy reference: closed forms (F3)/(Eq. 5)/(F4), per-neuron head (F7), derivatives (F9)/(P2)/(F10)."""
    L = X.shape[1]
    Y = model.mix(params, X, gated, content, window)
    loss, F, dV, Gy = head_reference(Y, params.V, params.a, y)
    C = np.einsum("nld,nsd->nls", Gy, X)  # C[n, l, s] = <Gy_l, x_s>
    if gated:
        t = X @ params.w
        beta = np.exp(model.log_beta(t))
        sig = np.exp(-softplus(-t))
        keep = np.exp(-softplus(t))
        cum = np.cumsum(sig[:, :, None] * X, axis=1)  # cum[l] = sum_{j<=l} sigma_j x_j
        S = model.content_scores(X, params.W_B, params.W_C) if content else 1.0
        K = C * S * beta  # (N, l, s), zero above the diagonal
        own = keep[:, :, None] * X + cum  # (1 - sigma_s) x_s + sum_{j<=s} sigma_j x_j
        dw = np.einsum("nls,nsd->d", K, own) - np.einsum("nls,nld->d", K, cum)
        if not content:
            return LossGrad(loss, {"w": dw, "V": dV}, F)
        M = C * beta
        Bp, Cp = X @ params.W_B, X @ params.W_C  # b_s, c_t  (N, L, r)
        db = np.einsum("nls,nlr->nsr", M, Cp)
        dc = np.einsum("nls,nsr->nlr", M, Bp)
        return LossGrad(loss, {"w": dw, "W_B": np.einsum("nsd,nsr->dr", X, db),
                               "W_C": np.einsum("nld,nlr->dr", X, dc), "V": dV}, F)
    dW = np.einsum("nls,nsd,nle->de", C * model.attention_weights(L, window)[None], X, X)
    return LossGrad(loss, {"W": dW, "V": dV}, F)
