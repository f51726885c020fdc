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

:func:`loss_and_grad` is the fast path (``@njit(cache=True)`` kernels, serial, fastmath off, and BLAS).
- The gate-only SSM and attention: a Numba mixer and adjoint (F8, F10) around the head (F7, :func:`_head`: BLAS
  products and one Numba pass for the hinge).  Global attention on long sequences runs as its O(L d^2)
  recurrence (:func:`attention_recurrent`).
- The Eq. 5 SSM runs in three passes: the mixer forward of every sequence (:func:`content_mix`); the head
  (:func:`_head`, :func:`hinge_rows`); and the mixer's adjoint on the sequences whose hinge is active only
  (:func:`content_adjoint`).  The mixer takes its quadratic form (P2, gate products ``beta`` by running
  products, :func:`_betas`) for ``L <= 2 r`` and the scan (P1) above (:func:`quadratic_form`), so long sequences
  stay O(L).  :func:`loss_and_grad_reference` is plain NumPy: the
closed form (F3) in log space, the closed-form derivative (F9), a per-neuron head and einsum (F10); it shares no
code with the fast path beyond ``softplus``.

Both return a :class:`~mamba_dynamics.core.losses.LossGrad` ``(loss, grads, F)`` with ``grads`` holding ``"w"``
``(d,)`` (SSM), ``"W_B"``, ``"W_C"`` ``(d, r)`` (SSM with ``content``) or ``"W"`` ``(d, d)`` (attention), and
``"V"`` ``(m, d)``; ``F`` ``(N,)``.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ..core.gating import sigmoid_pair, softplus, softplus_scalar
from ..core.mixer import _betas  # beta[l, s] = sigma_s prod_{s<j<=l} (1 - sigma_j), by running products
from ..core.losses import LossGrad, hinge_loss, hinge_slope
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


@njit(cache=True)
def _gates(Xn, w, sig, keep):
    """Gates of one sequence ``Xn`` ``(L, d)``: ``sig[l] = sigma(w^T x_l)`` and ``keep[l] = 1 - sigma(w^T x_l)``,
    each ``(L,)``, from one ``exp`` and one division per token (both without cancellation, for any ``w^T x``);
    the sign test is a select, not a branch."""
    L, d = Xn.shape
    for l in range(L):
        t = 0.0
        for k in range(d):
            t += Xn[l, k] * w[k]
        sig[l], keep[l] = sigmoid_pair(t)


@njit(cache=True)
def _seq_scan_forward(Xn, Bn, Cn, sig, keep, Hs, Yn):
    """(Eqs. 2-3) on one sequence: ``Xn`` ``(L, d)``, ``Bn``, ``Cn`` ``(L, r)`` (the ``b_t``, ``c_t``), gates from
    :func:`_gates`; writes the outputs into ``Yn`` ``(L, d)`` and every state into ``Hs`` ``(L, d, r)``, or, when
    ``Hs`` is ``(1, d, r)``, keeps only the current state there (the forward pass alone: the buffer stays in
    cache on long sequences)."""
    L, d = Xn.shape
    r = Bn.shape[1]
    store = Hs.shape[0] == L
    for l in range(L):
        cur = l if store else 0
        prv = l - 1 if store else 0
        for i in range(d):
            sx = sig[l] * Xn[l, i]
            acc = 0.0
            for j in range(r):
                prev = Hs[prv, i, j] if l > 0 else 0.0
                h = keep[l] * prev + sx * Bn[l, j]
                Hs[cur, i, j] = h
                acc += h * Cn[l, j]
            Yn[l, i] = acc


@njit(cache=True)
def _seq_scan_adjoint(Xn, Bn, Cn, Gyn, sig, keep, Hs, Gh, gx, dw, dBn, dCn, want_wbc):
    """(P1) on one sequence, after :func:`_seq_scan_forward` filled ``Hs``: accumulate ``dLoss/dw`` into ``dw``
    and, if ``want_wbc``, write ``dLoss/db_t = sigma_t Gh_t^T x_t`` and ``dLoss/dc_t = H_t^T Gy_t`` into ``dBn``,
    ``dCn`` ``(L, r)``.  ``Gh`` ``(d, r)`` and ``gx`` ``(r,)`` are scratch."""
    L, d = Xn.shape
    r = Bn.shape[1]
    for l in range(L - 1, -1, -1):
        carry = keep[l + 1] if l < L - 1 else 0.0
        for i in range(d):
            g = Gyn[l, i]
            for j in range(r):
                Gh[i, j] = carry * Gh[i, j] + g * Cn[l, j] if l < L - 1 else g * Cn[l, j]
        xgb = 0.0
        gh_h = 0.0
        for j in range(r):
            acc = 0.0
            for i in range(d):
                acc += Gh[i, j] * Xn[l, i]
                if l > 0:
                    gh_h += Gh[i, j] * Hs[l - 1, i, j]
            gx[j] = acc  # (Gh^T x_l)_j
            xgb += acc * Bn[l, j]
        coef = sig[l] * keep[l] * (xgb - gh_h)
        for k in range(d):
            dw[k] += coef * Xn[l, k]
        if want_wbc:
            for j in range(r):
                dc = 0.0
                for i in range(d):
                    dc += Hs[l, i, j] * Gyn[l, i]
                dBn[l, j] = sig[l] * gx[j]
                dCn[l, j] = dc


@njit(cache=True)
def _seq_quadratic_forward(Xn, Bn, Cn, beta, Yn):
    """(Eq. 5) on one sequence in its quadratic ("attention") form, O(L^2 (d + r)) against the scan's
    O(L d r): ``y_l = sum_{s<=l} beta[l, s] (b_s . c_l) x_s``.  Shapes as in :func:`_seq_scan_forward`,
    ``beta`` from :func:`_betas`."""
    L, d = Xn.shape
    r = Bn.shape[1]
    for l in range(L):
        for k in range(d):
            Yn[l, k] = 0.0
        for s in range(l + 1):
            score = 0.0
            for j in range(r):
                score += Bn[s, j] * Cn[l, j]
            coef = beta[l, s] * score
            for k in range(d):
                Yn[l, k] += coef * Xn[s, k]


@njit(cache=True)
def _seq_quadratic_adjoint(Xn, Bn, Cn, Gyn, sig, keep, beta, cum, rowK, colK, dw, dBn, dCn, want_wbc):
    """(P2) on one sequence: accumulate ``dLoss/dw`` into ``dw`` and, if ``want_wbc``, write ``dLoss/db_s``,
    ``dLoss/dc_t`` into ``dBn``, ``dCn`` ``(L, r)``.  With ``K_ls = C_ls S_ls beta_ls`` and
    ``cum_l = sum_{j<=l} sigma_j x_j``, (F9) regroups as ``dw = sum_s colK_s ((1 - sigma_s) x_s + cum_s) -
    sum_l rowK_l cum_l`` (``rowK``, ``colK`` the row and column sums of ``K``): O(L^2) + O(L d), not O(L^2 d).
    ``cum`` ``(L, d)``, ``rowK``, ``colK`` ``(L,)`` are scratch."""
    L, d = Xn.shape
    r = Bn.shape[1]
    for l in range(L):
        rowK[l] = 0.0
        colK[l] = 0.0
        for k in range(d):
            cum[l, k] = (cum[l - 1, k] if l > 0 else 0.0) + sig[l] * Xn[l, k]
    if want_wbc:
        for l in range(L):
            for j in range(r):
                dBn[l, j] = 0.0
                dCn[l, j] = 0.0
    for l in range(L):
        for s in range(l + 1):
            score = 0.0
            for j in range(r):
                score += Bn[s, j] * Cn[l, j]
            c = 0.0
            for k in range(d):
                c += Gyn[l, k] * Xn[s, k]
            M = c * beta[l, s]
            K = M * score
            rowK[l] += K
            colK[s] += K
            if want_wbc:
                for j in range(r):
                    dBn[s, j] += M * Cn[l, j]
                    dCn[l, j] += M * Bn[s, j]
    for s in range(L):
        cs = colK[s]
        rs = rowK[s]
        for k in range(d):
            dw[k] += cs * (keep[s] * Xn[s, k] + cum[s, k]) - rs * cum[s, k]


@njit(cache=True)
def content_mix(X, w, Bp, Cp, Y, SIG, KEEP, quadratic):
    """(Eq. 5) for a batch: ``X`` ``(N, L, d)``, ``w`` ``(d,)``, ``Bp = X W_B``, ``Cp = X W_C`` ``(N, L, r)``;
    writes ``Y`` ``(N, L, d)`` and the gates ``SIG``, ``KEEP`` ``(N, L)``, by the quadratic form or by the scan
    (one ``(d, r)`` state, updated in place)."""
    N, L, d = X.shape
    r = Bp.shape[2]
    beta = np.empty((L, L))
    Hs = np.empty((1, d, r))  # the current state only
    for n in range(N):
        _gates(X[n], w, SIG[n], KEEP[n])
        if quadratic:
            _betas(SIG[n], KEEP[n], beta)
            _seq_quadratic_forward(X[n], Bp[n], Cp[n], beta, Y[n])
        else:
            _seq_scan_forward(X[n], Bp[n], Cp[n], SIG[n], KEEP[n], Hs, Y[n])


@njit(cache=True)
def hinge_rows(Z, y, a, L, F, active):
    """The Eq. 6 head's output, hinge and backward weights from its pre-activations ``Z = Y V^T``
    ``(N L, m)`` (rows sequence-major): writes ``F`` ``(N,)`` and the indices of the sequences whose hinge is
    active into ``active`` ``(N,)``; overwrites ``Z`` with ``R = dLoss/dZ``, ``R[(n, l), i] = g_n a_i
    1{Z > 0} / L`` (zero rows for inactive sequences), so that ``dLoss/dV = R^T Y`` and ``dLoss/dY = R V``.
    Returns the number of active sequences."""
    NL, m = Z.shape
    N = NL // L
    na = 0
    for n in range(N):
        f = 0.0
        for l in range(L):
            row = n * L + l
            for i in range(m):
                f += a[i] * max(Z[row, i], 0.0)
        f /= L
        F[n] = f
        margin = 1.0 - y[n] * f
        g = 0.0
        if margin > 0.0:
            active[na] = n
            na += 1
            g = -y[n] / N / L
        for l in range(L):
            row = n * L + l
            for i in range(m):
                Z[row, i] = g * a[i] * (Z[row, i] > 0.0)
    return na


@njit(cache=True)
def content_adjoint(X, Bp, Cp, Gy, SIG, KEEP, active, na, quadratic, want_wbc, dw, dB, dC):
    """The mixer's adjoint (P1 by the scan, P2 by the quadratic form) on the active sequences ``active[:na]``
    only: ``Gy`` ``(na, L, d)`` holds ``dLoss/dY`` of the ``q``-th active sequence in row ``q``; accumulates
    ``dLoss/dw`` into ``dw`` and, if ``want_wbc``, writes ``dLoss/db_t``, ``dLoss/dc_t`` into ``dB``, ``dC``
    ``(na, L, r)`` (same row order).  The scan first re-runs the sequence's forward to rebuild its states."""
    N, L, d = X.shape
    r = Bp.shape[2]
    beta = np.empty((L, L))
    cum = np.empty((L, d))
    rowK = np.empty(L)
    colK = np.empty(L)
    Hs = np.empty((0 if quadratic else L, d, r))
    Yn = np.empty((L, d))
    Gh = np.empty((d, r))
    gx = np.empty(r)
    for q in range(na):
        n = active[q]
        if quadratic:
            _betas(SIG[n], KEEP[n], beta)
            _seq_quadratic_adjoint(X[n], Bp[n], Cp[n], Gy[q], SIG[n], KEEP[n], beta, cum, rowK, colK, dw, dB[q],
                                   dC[q], want_wbc)
        else:
            _seq_scan_forward(X[n], Bp[n], Cp[n], SIG[n], KEEP[n], Hs, Yn)
            _seq_scan_adjoint(X[n], Bp[n], Cp[n], Gy[q], SIG[n], KEEP[n], Hs, Gh, gx, dw, dB[q], dC[q], want_wbc)


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
    """The Eq. 6 head and its backward (F7): ``Z = Y V^T`` by BLAS, the hinge and ``R = dLoss/dZ`` in one Numba
    pass (:func:`hinge_rows`), then ``dV = R^T Y`` and ``Gy = R V`` by BLAS.  Returns ``(loss, F (N,), dV (m, d),
    Gy, active)``: with ``compact`` the products run on the active sequences' rows only and ``Gy`` is
    ``(na, L, d)`` in the order of ``active`` ``(na,)``; otherwise ``Gy`` is ``(N, L, d)`` (zero for inactive
    sequences)."""
    N, L, d = Y.shape
    flat = Y.reshape(N * L, d)
    Z = flat @ V.T
    F, active = np.empty(N), np.empty(N, dtype=np.int64)
    na = hinge_rows(Z, _f64(y), _f64(a), L, F, active)
    active = active[:na]
    if compact and na < N:  # only the active sequences' rows are non-zero
        rows = (active[:, None] * L + np.arange(L)).ravel()
        Z, flat = Z[rows], flat[rows]
    return hinge_loss(F, y), F, Z.T @ flat, (Z @ V).reshape(-1, L, d), active


def _f64(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a, dtype=np.float64)


def quadratic_form(L: int, r: int) -> bool:
    """Whether the Eq. 5 SSM uses the quadratic kernels (``L <= 2 r``) rather than the scan (long sequences:
    O(L), never O(L^2)).  Measured per full-batch gradient at d = r = 10 (one thread): the quadratic form takes
    2.1 / 5.4 / 6.9 / 10.1 ms at L = 6 / 12 / 24 / 48 (same token count), the scan 3.7 / 7.1 / 6.7 / 6.7 ms; at
    L = 12 and d = r = 100 the quadratic form is 5x faster (84 against 443 ms)."""
    return L <= 2 * r


def _mix_fast(params: "model.Params", X: np.ndarray, gated: bool, content: bool, window: int):
    """Fast outputs ``Y`` ``(N, L, d)`` (Numba scan or attention); returns ``(X, Y, T)`` with the gate
    pre-activations ``T`` ``(N, L)`` of the gate-only SSM (else None)."""
    X = _f64(X)
    Y = np.empty_like(X)
    if gated and content:
        N, L, _ = X.shape
        content_mix(X, _f64(params.w), X @ params.W_B, X @ params.W_C, Y, np.empty((N, L)), np.empty((N, L)),
                    quadratic_form(L, params.W_B.shape[1]))
        return X, Y, None
    if gated:
        T = np.empty(X.shape[:2])
        ssm_scan(X, _f64(params.w), Y, T)
        return X, Y, T
    attention_mix(X, _f64(params.W), Y, window)
    return X, Y, None


def outputs(params: "model.Params", X: np.ndarray, gated: bool, content: bool = False, window: int = 0) -> np.ndarray:
    """Fast per-token outputs ``Y`` ``(N, L, d)``; O(L d) (gate-only SSM), O(L d r) (Eq. 5 SSM) or O(L^2 d)
    (attention) per sequence."""
    return _mix_fast(params, X, gated, content, window)[1]


def predict(params: "model.Params", X: np.ndarray, gated: bool, content: bool = False, window: int = 0) -> np.ndarray:
    """Fast ``F(X)`` ``(N,)``."""
    return model.head(outputs(params, X, gated, content, window), params.V, params.a)


def loss_and_grad(params: "model.Params", X: np.ndarray, y: np.ndarray, gated: bool, content: bool = False,
                  window: int = 0, want_wbc: bool = True):
    """Fast hinge loss and gradients.  ``X`` ``(N, L, d)``, ``y`` ``(N,)``; inputs are not modified.  With
    ``content`` and ``want_wbc = False`` the ``W_B``, ``W_C`` gradients are skipped (frozen projections)."""
    if gated and content:
        return _content_loss_and_grad(params, _f64(X), _f64(y), want_wbc)
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


def _content_loss_and_grad(params: "model.Params", X: np.ndarray, y: np.ndarray, want_wbc: bool):
    """The Eq. 5-6 model in three passes: the mixer forward of every sequence (:func:`content_mix`), the head
    (:func:`_head`, its products on the active sequences' rows only), then the mixer's adjoint on the active
    sequences alone (:func:`content_adjoint`); ``dW_B = X^T dB`` and ``dW_C = X^T dC`` by BLAS."""
    N, L, d = X.shape
    r = params.W_B.shape[1]
    quadratic = quadratic_form(L, r)
    Bp, Cp = X @ params.W_B, X @ params.W_C
    Y, SIG, KEEP = np.empty_like(X), np.empty((N, L)), np.empty((N, L))
    content_mix(X, _f64(params.w), Bp, Cp, Y, SIG, KEEP, quadratic)
    loss, F, dV, Gy, active = _head(Y, params.V, params.a, y, compact=True)
    na = len(active)
    dw = np.zeros(d)
    shape = (na, L, r) if want_wbc else (na, 1, 1)
    dB, dC = np.empty(shape), np.empty(shape)
    content_adjoint(X, Bp, Cp, Gy, SIG, KEEP, active, na, quadratic, want_wbc, dw, dB, dC)
    if not want_wbc:
        return LossGrad(loss, {"w": dw, "V": dV}, F)
    flat_x = (X if na == N else X[active]).reshape(na * L, d)
    return LossGrad(loss, {"w": dw, "W_B": flat_x.T @ dB.reshape(-1, r), "W_C": flat_x.T @ dC.reshape(-1, r),
                           "V": dV}, F)


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
