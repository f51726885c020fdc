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
The derivation is re-done symbolically in ``derivations/outlier_mamba.py``.

Two implementations with one signature:

* :func:`loss_and_grad_reference` - plain NumPy, batched, with the O(l^2) gate and the explicit ``j > i`` double
  sum: the literal formula, for checking.
* :func:`loss_and_grad` - the Numba kernel (``@njit(cache=True)``, serial, no fastmath), O(B l (d+m)).

Glossary: ``gWB, gWC, gw`` = gradients of the loss w.r.t. W_B, W_C, w; ``F`` ``(B,)`` = outputs; ``z`` ``(B,)``.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit

from .gating import log_gates_naive, log_gates_row, sigmoid, softplus_scalar


class LossGrad(NamedTuple):
    """Loss value, outputs ``F`` ``(B,)`` and gradients ``gW_B, gW_C`` ``(m, d+1)``, ``gw`` ``(d+1,)``."""

    loss: float
    F: np.ndarray
    gW_B: np.ndarray
    gW_C: np.ndarray
    gw: np.ndarray


def loss_and_grad_reference(
    W_B: np.ndarray, W_C: np.ndarray, w: np.ndarray, P: np.ndarray, z: np.ndarray, gated: bool = True
) -> LossGrad:
    """NumPy reference.  ``P`` ``(B, l+1, d+1)``, ``z`` ``(B,)``; returns :class:`LossGrad`."""
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
    margin = 1.0 - z * F
    loss = float(np.mean(np.maximum(margin, 0.0)))
    g = np.where(margin > 0.0, -z / B, 0.0)  # dLoss/dF_b
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
    return LossGrad(loss, F, gW_B, gW_C, gw)


@njit(cache=True)
def _loss_grad_kernel(W_B, W_C, w, P, z, gated, gWB, gWC, gw, F):  # pragma: no cover - compiled
    """Accumulate loss and gradients into the zeroed outputs; returns the loss.  Shapes as in the module doc."""
    B, lp1, D = P.shape
    l = lp1 - 1
    m = W_B.shape[0]
    u = np.empty(m)
    v = np.empty(D)
    r = np.empty(D)
    Wr = np.empty(m)
    t = np.empty(lp1)
    logG = np.empty(l)
    s = np.empty(l)
    loss = 0.0
    for b in range(B):
        pq = P[b, l]
        for a in range(m):  # u = W_C p_q
            acc = 0.0
            for k in range(D):
                acc += W_C[a, k] * pq[k]
            u[a] = acc
        for k in range(D):  # v = W_B^T u = W_B^T W_C p_q
            acc = 0.0
            for a in range(m):
                acc += W_B[a, k] * u[a]
            v[k] = acc
        for i in range(l):
            acc = 0.0
            for k in range(D):
                acc += P[b, i, k] * v[k]
            s[i] = acc
        if gated:
            for j in range(lp1):
                acc = 0.0
                for k in range(D):
                    acc += w[k] * P[b, j, k]
                t[j] = acc
            log_gates_row(t, logG)
        Fb = 0.0
        for i in range(l):
            Gi = np.exp(logG[i]) if gated else 1.0
            Fb += Gi * P[b, i, D - 1] * s[i]
        F[b] = Fb
        margin = 1.0 - z[b] * Fb
        if margin <= 0.0:
            continue
        loss += margin / B
        g = -z[b] / B
        for k in range(D):
            r[k] = 0.0
        for i in range(l):
            c = (np.exp(logG[i]) if gated else 1.0) * P[b, i, D - 1]
            for k in range(D):
                r[k] += c * P[b, i, k]
        for a in range(m):
            acc = 0.0
            for k in range(D):
                acc += W_B[a, k] * r[k]
            Wr[a] = acc
        for a in range(m):
            gu = g * u[a]
            gwr = g * Wr[a]
            for k in range(D):
                gWB[a, k] += gu * r[k]
                gWC[a, k] += gwr * pq[k]
        if gated:
            Q = 0.0  # running prefix sum of q_i over earlier examples
            for j in range(lp1):
                sig_j = np.exp(-softplus_scalar(-t[j]))
                coef = -sig_j * Q
                if j < l:
                    qj = P[b, j, D - 1] * s[j] * np.exp(logG[j])
                    coef += qj * np.exp(-softplus_scalar(t[j]))  # q_j (1 - sig_j)
                    Q += qj
                coef *= g
                for k in range(D):
                    gw[k] += coef * P[b, j, k]
    return loss


def loss_and_grad(
    W_B: np.ndarray, W_C: np.ndarray, w: np.ndarray, P: np.ndarray, z: np.ndarray, gated: bool = True
) -> LossGrad:
    """Numba kernel; same contract as :func:`loss_and_grad_reference`.  Inputs must be float64."""
    gWB = np.zeros_like(W_B)
    gWC = np.zeros_like(W_C)
    gw = np.zeros_like(w)
    F = np.empty(P.shape[0])
    loss = _loss_grad_kernel(
        np.ascontiguousarray(W_B), np.ascontiguousarray(W_C), np.ascontiguousarray(w),
        np.ascontiguousarray(P), np.ascontiguousarray(z, dtype=np.float64), bool(gated), gWB, gWC, gw, F,
    )
    return LossGrad(float(loss), F, gWB, gWC, gw)
