"""Hand-derived closed-form gradients of the hinge loss of one-layer Mamba / the linear Transformer.

Paper: arXiv 2510.00399, eq. (3) and Algorithm 1.  Loss over a batch of ``B`` prompts:

    Loss = (1/B) sum_b max(0, 1 - z_b F_b),       dLoss/dF_b = -z_b / B  if z_b F_b < 1, else 0.

With ``u = W_C p_q`` ``(m,)``, ``r = sum_i G_i y_i p_i`` ``(d+1,)`` (so that ``F = (W_B r) . u``):

    dF/dW_B = u r^T                                                                   (m, d+1)
    dF/dW_C = (W_B r) p_q^T                                                           (m, d+1)
    dF/dw   = sum_i q_i [(1 - sig_i) p_i - sum_{j=i+1}^{l+1} sig_j p_j]                (d+1,)
            = sum_i q_i (1 - sig_i) p_i - sum_{j=1}^{l+1} sig_j Q_j p_j,   Q_j = sum_{i<j} q_i

where ``q_i = y_i s_i G_i``, ``s_i = p_i^T W_B^T W_C p_q`` and ``sig_j = sigmoid(w^T p_j)``; the second line of
``dF/dw`` (a prefix sum) is O(l d) per prompt.  For the linear Transformer ``G == 1`` and ``dF/dw = 0``.
The derivation is re-done symbolically in :mod:`mamba_dynamics.outliers.symbolic` (run it with
``python derivations/outlier_mamba.py``).

Two implementations with one signature:

* :func:`loss_and_grad_reference` - plain NumPy, batched, with the O(l^2) gate and the explicit ``j > i`` double
  sum: the literal formula, for checking.
* :func:`loss_and_grad` - the Numba kernel (``@njit(cache=True)``, no fastmath, serial loops; the two rank-B
  weight updates and the query projections are BLAS products), O(B l d + B m d).

Glossary: ``gWB, gWC, gw`` = gradients of the loss w.r.t. W_B, W_C, w (returned as ``grads["W_B"]`` ...);
``F`` ``(B,)`` = outputs; ``z`` ``(B,)``.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ..core.gating import log_gates_naive, sigmoid
from ..core.losses import LossGrad, hinge_loss, hinge_slope


def loss_and_grad_reference(
    W_B: np.ndarray, W_C: np.ndarray, w: np.ndarray, P: np.ndarray, z: np.ndarray, gated: bool = True
) -> LossGrad:
    """NumPy reference.  ``P`` ``(B, l+1, d+1)``, ``z`` ``(B,)``; returns a :class:`~mamba_dynamics.core.losses.LossGrad`
    with ``grads = {"W_B": (m, d+1), "W_C": (m, d+1), "w": (d+1,)}`` and ``F`` ``(B,)``."""
    B, lp1, D = P.shape
    ctx, pq, y = P[:, :-1, :], P[:, -1, :], P[:, :-1, -1]
    A = W_B.T @ W_C
    s = np.einsum("bid,de,be->bi", ctx, A, pq)
    if gated:
        t = P @ w
        G = np.exp(log_gates_naive(t))
    else:
        G = np.ones_like(s)
    F = np.sum(G * y * s, axis=1)
    loss = hinge_loss(F, z)
    g = hinge_slope(F, z)  # dLoss/dF_b
    r = np.einsum("bi,bid->bd", G * y, ctx)
    u = pq @ W_C.T
    gW_B = np.einsum("b,bm,bd->md", g, u, r)
    gW_C = np.einsum("b,bm,bd->md", g, r @ W_B.T, pq)
    if gated:
        sig = sigmoid(t)
        later = np.triu(np.ones((lp1 - 1, lp1)), k=1)  # later[i, j] = 1 iff j > i
        dlogG = (1.0 - sig[:, :-1, None]) * ctx - np.einsum("ij,bj,bjd->bid", later, sig, P)
        gw = np.einsum("b,bi,bid->d", g, y * s * G, dlogG)
    else:
        gw = np.zeros_like(w)
    return LossGrad(loss, {"W_B": gW_B, "W_C": gW_C, "w": gw}, F)


@njit(cache=True, inline="always")
def _score(P, V, b, i, D):  # pragma: no cover - compiled
    """``p_i . V[b]`` for prompt ``b`` with four partial sums: independent chains instead of one latency-bound
    chain (a fixed order, so still deterministic; fastmath stays off)."""
    a0 = a1 = a2 = a3 = 0.0
    k = 0
    while k + 4 <= D:
        a0 += P[b, i, k] * V[b, k]
        a1 += P[b, i, k + 1] * V[b, k + 1]
        a2 += P[b, i, k + 2] * V[b, k + 2]
        a3 += P[b, i, k + 3] * V[b, k + 3]
        k += 4
    while k < D:
        a0 += P[b, i, k] * V[b, k]
        k += 1
    return (a0 + a1) + (a2 + a3)


@njit(cache=True)
def _loss_grad_kernel(W_B, W_C, w, P, z, gated, gWB, gWC, gw, F, T, E):  # pragma: no cover - compiled
    """Write loss gradients into ``gWB, gWC, gw`` and outputs into ``F``; returns the loss.

    ``T``, ``E`` ``(B, l+1)``: the gate pre-activations ``w^T p_j`` and ``exp(-|w^T p_j|)`` computed by the
    caller (``exp = "simd"`` of :func:`loss_and_grad`), or ``(0, 0)`` arrays: then the kernel computes them itself
    (libm ``exp``).

    Per token one ``exp`` and one division give ``sig`` and ``1 - sig`` without cancellation (in a loop of their
    own, branch-free); the gate product runs in linear space with exact power-of-two rescaling (its base-2 log is
    tracked, so nothing underflows early), three transcendentals fewer per token than summing logs.  The rank-B
    updates of ``W_B`` and ``W_C`` are matrix products: for ``B > D`` one ``(D, B) x (B, D)`` product
    ``M = sum_b g_b p_q r_b^T`` then ``W_C M`` and ``W_B M^T`` (and the queries go through ``A = W_B^T W_C``), else
    per-prompt projections ``(B, m)``.
    """
    B, lp1, D = P.shape
    l = lp1 - 1
    given = T.shape[0] > 0
    Pq = np.ascontiguousarray(P[:, l, :])  # (B, D) queries; read-only (a view of P when B == 1)
    via_A = D < B  # forming A = W_B^T W_C costs m D^2 and pays off only when the batch is larger than D
    if via_A:
        V = Pq @ (W_B.T @ W_C).T  # (B, D): W_B^T W_C p_q
    else:
        V = (Pq @ W_C.T) @ W_B
    R = np.zeros((B, D))  # r_b = sum_i G_i y_i p_i (active prompts only)
    gvec = np.zeros(B)  # dLoss/dF_b
    s = np.empty(l)
    G = np.ones(l)
    sig = np.empty(lp1)
    one_m_sig = np.empty(lp1)
    tt = np.empty(lp1)  # gate pre-activations w^T p_j
    TINY, HUGE = 2.0 ** -500, 2.0**500
    loss = 0.0
    for b in range(B):
        if not gated or given:  # scores only (linear Transformer, or gates given)
            for i in range(l):
                s[i] = _score(P, V, b, i, D)
        for j in range(lp1 if gated and not given else 0):  # one pass: score and gate pre-activation together
            a0 = a1 = a2 = a3 = 0.0
            t0 = t1 = t2 = t3 = 0.0
            k = 0
            while k + 4 <= D:
                p0, p1, p2, p3 = P[b, j, k], P[b, j, k + 1], P[b, j, k + 2], P[b, j, k + 3]
                a0 += p0 * V[b, k]
                a1 += p1 * V[b, k + 1]
                a2 += p2 * V[b, k + 2]
                a3 += p3 * V[b, k + 3]
                t0 += p0 * w[k]
                t1 += p1 * w[k + 1]
                t2 += p2 * w[k + 2]
                t3 += p3 * w[k + 3]
                k += 4
            while k < D:
                a0 += P[b, j, k] * V[b, k]
                t0 += P[b, j, k] * w[k]
                k += 1
            acc = (a0 + a1) + (a2 + a3)
            t = (t0 + t1) + (t2 + t3)
            if j < l:
                s[j] = acc
            tt[j] = t
        if gated:
            # the gates in a loop of their own, the sign test as a select rather than a branch: a mispredicted
            # branch per token cost more than the exp (docs/performance.md, "The gate's exp")
            for j in range(lp1):
                e = E[b, j] if given else np.exp(-abs(tt[j]))
                inv = 1.0 / (1.0 + e)
                ei = e * inv
                pos = (T[b, j] if given else tt[j]) >= 0.0
                sig[j] = inv if pos else ei
                one_m_sig[j] = ei if pos else inv
            # G_i = sig_i * prod_{j>i} (1 - sig_j), the product kept as mantissa * 2^(-RESCALE * n): exact
            # power-of-two rescaling holds the mantissa in the normal range, so the log of the product is
            # tracked in the integer n (no underflow before the true value leaves double range)
            prod = one_m_sig[l]
            scale = 1.0  # 2^(-RESCALE * n)
            for i in range(l - 1, -1, -1):
                G[i] = sig[i] * prod * scale
                prod *= one_m_sig[i]
                if prod < TINY:
                    prod *= HUGE
                    scale *= TINY
        Fb = 0.0
        for i in range(l):
            Fb += G[i] * P[b, i, D - 1] * s[i]
        F[b] = Fb
        margin = 1.0 - z[b] * Fb
        if margin <= 0.0:
            continue
        loss += margin / B
        g = -z[b] / B
        gvec[b] = g
        if not gated:  # r_b alone (dLoss/dw = 0; the query's c is 0)
            for j in range(l):
                c = G[j] * P[b, j, D - 1]
                for k in range(D):
                    R[b, k] += c * P[b, j, k]
            continue
        Q = 0.0  # prefix sum of q_i = y_i s_i G_i over earlier examples
        for j in range(lp1):  # one pass: r_b and the gate gradient together
            c = G[j] * P[b, j, D - 1] if j < l else 0.0
            coef = -sig[j] * Q
            if j < l:
                qj = c * s[j]
                coef += qj * one_m_sig[j]
                Q += qj
            coef *= g
            for k in range(D):
                pk = P[b, j, k]
                R[b, k] += c * pk
                gw[k] += coef * pk
    gPq = np.empty((B, D))  # a new array: Pq may be a view of the caller's P
    for b in range(B):
        for k in range(D):
            gPq[b, k] = gvec[b] * Pq[b, k]
    if via_A:
        M = gPq.T @ R  # (D, D): sum_b g_b p_q r_b^T
        gWB[:, :] = W_C @ M  # sum_b g_b (W_C p_q) r_b^T
        gWC[:, :] = W_B @ M.T  # sum_b g_b (W_B r_b) p_q^T
    else:
        gWB[:, :] = (gPq @ W_C.T).T @ R
        gWC[:, :] = (R @ W_B.T).T @ gPq
    return loss


#: How the Mamba kernel exponentiates its gate pre-activations (see :func:`loss_and_grad`).
GATE_EXPS = ("libm", "simd")
_NONE = np.empty((0, 0))


def loss_and_grad(
    W_B: np.ndarray, W_C: np.ndarray, w: np.ndarray, P: np.ndarray, z: np.ndarray, gated: bool = True,
    exp: str = "libm",
) -> LossGrad:
    """Numba kernel; same contract as :func:`loss_and_grad_reference`.  Inputs must be float64.

    ``exp`` (Mamba only) chooses how the gates are exponentiated:
    - ``"libm"`` (default): the kernel computes each pre-activation and calls the C library's scalar ``exp``;
      the same bits on every machine with the same libm;
    - ``"simd"``: the pre-activations ``P w`` ``(B, l+1)`` as one BLAS product and ``exp(-|P w|)`` as one NumPy
      call, which uses the CPU's SIMD ``exp`` (within 1 ulp of libm).  About 10-20% faster per step
      (docs/performance.md), but the last bits then depend on the BLAS and SIMD paths of the machine.
    """
    P = np.ascontiguousarray(P)
    gWB = np.zeros_like(W_B)
    gWC = np.zeros_like(W_C)
    gw = np.zeros_like(w)
    F = np.empty(P.shape[0])
    if gated and exp == "simd":
        T = P @ np.ascontiguousarray(w)
        E = np.exp(-np.abs(T))
    elif exp in GATE_EXPS:
        T = E = _NONE
    else:
        raise ValueError(f"exp must be one of {GATE_EXPS}, got {exp!r}")
    loss = _loss_grad_kernel(
        np.ascontiguousarray(W_B), np.ascontiguousarray(W_C), np.ascontiguousarray(w),
        P, np.ascontiguousarray(z, dtype=np.float64), bool(gated), gWB, gWC, gw, F, T, E,
    )
    return LossGrad(float(loss), {"W_B": gWB, "W_C": gWC, "w": gw}, F)
