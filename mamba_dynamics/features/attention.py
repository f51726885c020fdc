"""Causal linear attention (F4) of the feature-filtering paper's comparison model (``lt-mlp``, arXiv 2602.12499),
with the Eq. 6 head: its outputs and its hinge gradients (F10), in three paths chosen by cost; and causal softmax
attention (``st-mlp``, the Transformer of the paper's Fig. 6) through the core's softmax mixer (:func:`softmax_grads`,
naive reference :func:`mamba_dynamics.features.model.mix_softmax` and
:func:`~mamba_dynamics.features.gradients.hinge_grads_reference`).

    y_l = sum_{s<=l} omega_{ls} (x_s^T W x_l) x_s                      (F4; omega = 1/l, or 1/k in a window of k)
    dLoss/dW = sum_{n, s<=l} omega_{ls} <Gy_l, x_s> x_s x_l^T            (F10; Gy = dLoss/dY from the head, F7)

==============================  ================================================================================
path                            when (:func:`attention_grads` chooses)
==============================  ================================================================================
:func:`attention_pass`          short sequences (the papers' ``L = 12``): one Numba call of fixed-order small
                                products, the head inside (:func:`~mamba_dynamics.features.head.head_pass`)
pairwise chunks                 longer ones still below the recurrence's break-even: ``S = omega * (U X^T)`` as
                                batched BLAS products, chunk by chunk of sequences (:func:`attention_scores`)
:func:`attention_mix` /         global attention on long sequences (``L >= 2d``, the O(L d^2) recurrence) and
:func:`attention_adjoint`       narrow windows (the O(L k d) direct sum): Numba kernels
==============================  ================================================================================

Naive reference: :func:`mamba_dynamics.features.model.mix_attention` (forward) and
:func:`mamba_dynamics.features.gradients.hinge_grads_reference` (gradients), plain NumPy; tested equal.

Glossary: ``X`` ``(N, L, d)`` tokens; ``W`` ``(d, d)`` = W_K^T W_Q; ``omega`` ``(L, L)`` the attention weights
(:func:`~mamba_dynamics.features.model.attention_weights`); ``window`` = k (0: global); ``work``: a workspace the
arrays live in (the model's; fresh arrays without one).
"""

from __future__ import annotations

import functools

import numpy as np
from numba import njit

from ..core.attention import softmax_mix, softmax_mix_adjoint
from ..core.losses import LossGrad, hinge_loss, hinge_loss_kernel, mean_over_chunks
from ..core.mixer import pairs_small
from ..core.simd import bmm, gemm, matmul
from ..core.workspace import Workspace, getter
from . import model
from .head import (HEAD_GROUP, ONE_LAYER_CHUNK_BYTES, copy_sequence, f64, head, head_chunks, head_pass,
                   pass_block)


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
            copy_sequence(Xb, active[j], Xa, j)
        Xs, C, Zs = Xa[:na], S[:na], U[:na]  # S and U reused for C and z
        bmm(Gy[:na], Xs.transpose(0, 2, 1), C, False)
        for n in range(na):
            for l in range(L):
                for s in range(L):
                    C[n, l, s] *= omega[l, s]
        bmm(C, Xs, Zs, False)
        gemm(Zs, 0, 1, d, Xs, 0, d, dW, 0, d, d, na * L, d, True)


@njit(cache=True)
def attention_step(X, W, omega, V, a, y, block, group):
    """:func:`attention_pass` with the transposes ``W^T``, ``V^T``, the outputs and the hinge loss in the same
    Numba call (as :func:`~mamba_dynamics.features.content.content_step`).  Returns ``(loss, F (N,), dW (d, d),
    dV (m, d))``."""
    N, L, d = X.shape
    F = np.empty(N)
    dW = np.zeros((d, d))
    dVt = np.zeros((d, V.shape[0]))
    attention_pass(X, np.ascontiguousarray(W.T), omega, V, np.ascontiguousarray(V.T), a, y, block, group, F, dW,
                   dVt)
    return hinge_loss_kernel(F, y), F, dW, np.ascontiguousarray(dVt.T)


def attention_pairs(L: int, d: int, window: int) -> bool:
    """Whether linear attention runs in its pairwise form (:func:`attention_pass`, or :func:`attention_scores` as
    batched BLAS products, O(L^2 d) per sequence) rather than the Numba kernels: unless it runs as its O(L d^2)
    recurrence (:func:`attention_recurrent`) or a window of ``k`` tokens makes the direct sum's O(L k d) four
    times cheaper (``L > 4 k``)."""
    return not attention_recurrent(L, d, window) and (window == 0 or L <= 4 * window)


@functools.lru_cache(maxsize=16)
def attention_weights(L: int, window: int) -> np.ndarray:
    """:func:`~mamba_dynamics.features.model.attention_weights`, made once per ``(L, window)`` (read-only): building
    it took about 20 us, twice per chunk of the training step."""
    w = model.attention_weights(L, window)
    w.setflags(write=False)
    return w


def attention_scores(X: np.ndarray, W: np.ndarray, window: int, get) -> np.ndarray:
    """The weighted scores of (F4) for a batch ``X`` ``(N, L, d)``: ``S[n, l, s] = omega_{ls} x_s^T W x_l``
    ``(N, L, L)``, as ``U = X W^T`` (one product over all tokens), then ``S = U X^T`` (batched) times the weights.
    ``get(name, shape)`` gives the arrays (a workspace's ``get``)."""
    N, L, d = X.shape
    U = matmul(X.reshape(N * L, d), f64(W).T, get("U", (N * L, d))).reshape(N, L, d)
    S = get("S", (N, L, L))
    matmul(U, X.transpose(0, 2, 1), S)
    S *= attention_weights(L, window)
    return S


def attention_outputs(X: np.ndarray, W: np.ndarray, window: int, work: Workspace | None = None) -> np.ndarray:
    """Fast (F4) outputs ``Y`` ``(N, L, d)``: the pairwise form in BLAS (:func:`attention_pairs`) or the Numba
    kernel :func:`attention_mix`; in ``work``'s arrays when given (overwritten by the next call on it)."""
    X = f64(X)
    get = getter(work)
    if attention_pairs(*X.shape[1:], window):
        Y = get("Yatt", X.shape)
        matmul(attention_scores(X, W, window, get), X, Y)
        return Y
    Y = get("Ymix", X.shape)
    attention_mix(X, f64(W), Y, window)
    return Y


def _pairs_grad(X: np.ndarray, Gy: np.ndarray, active: np.ndarray, window: int, work: Workspace | None) -> np.ndarray:
    """(F10) in the pairwise form on the active sequences: ``C = Gy X^T`` weighted by ``omega``, ``z = C X``
    (``z_l = sum_s omega_{ls} <Gy_l, x_s> x_s``) and ``dLoss/dW = sum_l z_l x_l^T`` as one product over their
    tokens.  ``Gy`` ``(na, L, d)`` in the order of ``active`` ``(na,)``; returns ``(d, d)``.  The arrays are
    ``work``'s (prefixes of the full batch's): fresh ones of about 1 MB faulted in 700 pages a step."""
    get = getter(work)
    N, L, d = X.shape
    na = len(active)
    Xa = X if na == N else np.take(X, active, axis=0, out=get("Xa", X.shape)[:na])
    C = get("C", (N, L, L))[:na]
    matmul(Gy, Xa.transpose(0, 2, 1), C)
    C *= attention_weights(L, window)
    Z = get("z", X.shape)[:na]
    matmul(C, Xa, Z)
    return matmul(Z.reshape(-1, d).T, Xa.reshape(-1, d), np.empty((d, d)))


def _pairs_chunk(params, X: np.ndarray, y: np.ndarray, window: int, work: Workspace | None) -> LossGrad:
    """Linear attention in the pairwise form (:func:`attention_scores`), the head and (F10) on one chunk of
    sequences ``X`` ``(n, L, d)``, ``y`` ``(n,)`` (float64, contiguous rows)."""
    d = X.shape[2]
    get = getter(work)
    Y = get("Y", X.shape)
    matmul(attention_scores(X, params.W, window, get), X, Y)
    loss, F, dV, Gy, active = head(Y, params.V, params.a, y, compact=True, work=work)
    dW = _pairs_grad(X, Gy, active, window, work) if active.size else np.zeros((d, d))
    return LossGrad(loss, {"W": dW, "V": dV}, F)


def attention_grads(params, X: np.ndarray, y: np.ndarray, window: int = 0,
                    work: Workspace | None = None) -> LossGrad:
    """The LT-MLP's hinge loss and gradients ``{"W": (d, d), "V": (m, d)}``, ``F`` ``(N,)``, by the cheapest
    path (module docstring).  ``params`` a :class:`~mamba_dynamics.features.model.Params`; ``X`` ``(N, L, d)``,
    ``y`` ``(N,)`` (not modified); ``work``: the workspace of the chunks and the head."""
    X = f64(X)
    N, L, d = X.shape
    if attention_pairs(L, d, window):
        y = f64(y)
        if pairs_small(L, d, d):  # one Numba call (:func:`attention_pass`)
            V = f64(params.V)
            loss, F, dW, dV = attention_step(X, f64(params.W), attention_weights(L, window), V, f64(params.a), y,
                                             min(N, pass_block(L, d, d)), HEAD_GROUP)
            return LossGrad(loss, {"W": dW, "V": dV}, F)
        return mean_over_chunks(lambda sl: _pairs_chunk(params, X[sl], y[sl], window, work),
                                head_chunks(X, params.V, ONE_LAYER_CHUNK_BYTES), lambda F: hinge_loss(F, y))
    Y = attention_outputs(X, params.W, window)
    loss, F, dV, Gy, _ = head(Y, params.V, params.a, y, compact=False, work=work)
    dW = np.zeros((d, d))
    attention_adjoint(X, f64(Gy), dW, window)
    return LossGrad(loss, {"W": dW, "V": dV}, F)


# ------------------------------------------------------------------------------------------------------------
# causal softmax attention (st-mlp): the core's softmax mixer with b_s = x_s, c_t = W x_t
# ------------------------------------------------------------------------------------------------------------

def softmax_outputs(X: np.ndarray, W: np.ndarray, att, work: Workspace | None = None) -> tuple:
    """``(Y (N, L, d), saved, C (N, L, d))``: ``y_t = mean_k sum_s softmax_s(x_s^T W^k x_t / tau) x_s`` over ``s <=
    t`` (the last ``window`` tokens when set), by the core's mixer (:func:`~mamba_dynamics.core.attention
    .softmax_mix`, whose ``saved`` the adjoint reads) with ``b_s = x_s`` and ``c_t = W x_t``; head ``k`` reads
    coordinates ``k d/h .. (k+1) d/h - 1`` of both.  In ``work``'s arrays when given."""
    X = f64(X)
    N, L, d = X.shape
    get = getter(work)
    C = matmul(X.reshape(N * L, d), f64(W).T, get("Csm", (N * L, d))).reshape(N, L, d)
    Y = get("Ysm", X.shape)
    saved = softmax_mix(X, X, C, att, 0, Y, get)
    return Y, saved, C


def softmax_grads(params, X: np.ndarray, y: np.ndarray, att, work: Workspace | None = None) -> LossGrad:
    """st-mlp's hinge loss and gradients ``{"W": (d, d), "V": (m, d)}``, ``F`` ``(N,)``: the softmax mixer, the
    Eq. 6 head and its backward (:func:`~mamba_dynamics.features.head.head`), the mixer's adjoint
    (:func:`~mamba_dynamics.core.attention.softmax_mix_adjoint`: ``dC``; the value path and ``dB`` are skipped:
    ``b = x`` is the input) and ``dW = sum_t dC_t x_t^T``."""
    X = f64(X)
    N, L, d = X.shape
    Y, saved, C = softmax_outputs(X, params.W, att, work)
    loss, F, dV, Gy, _ = head(Y, params.V, params.a, y, compact=False, work=work)
    dC = getter(work)("dCsm", X.shape)
    softmax_mix_adjoint(X, X, C, att, 0, Gy, saved, None, None, dC)
    dW = matmul(dC.reshape(N * L, d).T, X.reshape(N * L, d), np.empty((d, d)))
    return LossGrad(loss, {"W": dW, "V": dV}, F)


__all__ = ("attention_recurrent", "attention_mix", "attention_adjoint", "attention_pass", "attention_step",
           "attention_pairs", "attention_weights", "attention_scores", "attention_outputs", "attention_grads",
           "softmax_outputs", "softmax_grads")
