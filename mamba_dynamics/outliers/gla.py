"""Hand-derived hinge gradients of one-layer gated linear attention (GLA) in eq. 3's place (arXiv 2510.00399
App. E.6): a vector gate on the key dimension.

Per prompt, with ``k_i = W_B p_i``, ``u = W_C p_q``, ``t_j = W_a p_j`` ``(m,)``, the decay ``alpha_ja =
sigmoid(t_ja)^(1/tau)`` and its products ``D_ia = prod_{j=i+1}^{l+1} alpha_ja`` (the query's decay included, as
eq. 3 includes it):

    F = sum_{i<=l} y_i sum_a u_a D_ia k_ia                                 (e_ia = y_i u_a D_ia k_ia, F = sum e_ia)
    dF/dW_B[a, :] = u_a sum_i y_i D_ia p_i                                 (m, d+1)
    dF/dW_C[a, :] = (sum_i y_i D_ia k_ia) p_q                              (m, d+1)
    dF/dW_a[a, :] = sum_j beta_ja E_ja p_j,   E_ja = sum_{i<j} e_ia,       beta_ja = (1 - sigmoid(t_ja)) / tau

(``d log D_ia / d t_ja = beta_ja 1{j > i}``; the ``j > i`` sum regrouped as a prefix sum ``E``: O(l m d) per
prompt).  With every ``alpha = 1`` this is the linear Transformer.  The derivation is checked by sympy from the
raw recurrence ``H_j = H_{j-1} diag(alpha_j) + p_j (W_B p_j)^T`` ``(d+1, m)``, ``F = e_{d+1}^T H_{l+1} W_C p_q``
(:mod:`mamba_dynamics.outliers.symbolic`).

* :func:`gla_grads_reference` - NumPy, the ``j > i`` sum written out (``later`` matrix), ``D`` in log space;
* :func:`gla_grads` - the Numba kernel: the projections as three BLAS products over the batch, then per prompt
  the decay products as running products from the query back (an underflow to 0 only where the true product is
  below the double range), ``F``, and for the active prompts the gradients' coefficients per token in one pass;
  the gradients are then three BLAS products over the batch.

Glossary: ``W_a`` = ``params.w`` ``(m, d+1)``; ``gate`` a :class:`~mamba_dynamics.core.gates.VectorGate`.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ..core import gates
from ..core.gates import gate_terms
from ..core.losses import LossGrad, hinge_loss, hinge_slope


def gla_grads_reference(W_B: np.ndarray, W_C: np.ndarray, W_a: np.ndarray, P: np.ndarray, z: np.ndarray,
                        gate: gates.VectorGate) -> LossGrad:
    """NumPy reference.  ``W_B``, ``W_C``, ``W_a`` ``(m, d+1)``; ``P`` ``(B, l+1, d+1)``; ``z`` ``(B,)``; returns a
    :class:`~mamba_dynamics.core.losses.LossGrad` with ``grads = {"W_B", "W_C", "w": (m, d+1)}`` and ``F``."""
    B, lp1, Dw = P.shape
    ctx, pq, y = P[:, :-1, :], P[:, -1, :], P[:, :-1, -1]
    T = P @ W_a.T  # (B, l+1, m)
    Dg = np.exp(gates.vector_log_gates_naive(T, gate))  # (B, l, m)
    k = ctx @ W_B.T  # (B, l, m)
    u = pq @ W_C.T  # (B, m)
    e = y[:, :, None] * u[:, None, :] * Dg * k  # (B, l, m)
    F = e.sum(axis=(1, 2))
    loss = hinge_loss(F, z)
    g = hinge_slope(F, z)
    gW_B = np.einsum("b,ba,bi,bia,bid->ad", g, u, y, Dg, ctx)
    gW_C = np.einsum("b,bi,bia,bia,bd->ad", g, y, Dg, k, pq)
    later = np.triu(np.ones((lp1 - 1, lp1)), k=1)  # later[i, j] = 1 iff j > i
    dT = gates.dlog_decay(T, gate.decay) * np.einsum("ij,bia->bja", later, e)  # (B, l+1, m): dF/dt_ja
    gW_a = np.einsum("b,bja,bjd->ad", g, dT, P)
    return LossGrad(loss, {"W_B": gW_B, "W_C": gW_C, "w": gW_a}, F)


@njit(cache=True, error_model="numpy")
def _gla_kernel(P, z, K, U, T, inv_tau, want_grad, F, CA, CB, V):  # pragma: no cover - compiled
    """Per prompt: the decays ``alpha`` and slopes ``beta`` from ``T`` ``(B, l+1, m)`` (gated retention's,
    :func:`~mamba_dynamics.core.gates.gate_terms`: one ``log1p`` and two vectorisable ``exp`` each), the products ``D`` from
    the query back, ``F_b``; for the active prompts (``want_grad``) the coefficients of the three gradients, each
    times ``g_b = dLoss/dF_b``: ``CA[b, j, a] = dLoss/dt_ja`` and ``CB[b, j, a] = g_b y_j u_a D_ja`` ``(B, l+1,
    m)`` (so that ``dLoss/dW_a = sum_{b,j} CA_bj p_bj^T`` and ``dLoss/dW_B = sum CB_bj p_bj^T``: one product
    each over the batch) and ``V[b, a] = g_b sum_i y_i D_ia k_ia`` (``dLoss/dW_C = V^T P_q``); rows of inactive
    prompts stay 0.  ``K`` ``(B, l, m)`` keys, ``U`` ``(B, m)``.  Returns the loss."""
    B, lp1, D = P.shape
    m = U.shape[1]
    l = lp1 - 1
    AL = np.empty((lp1, m))
    BE = np.empty((lp1, m))
    Dg = np.empty((l, m))
    prod = np.empty(m)
    E = np.empty(m)
    loss = 0.0
    for b in range(B):
        Tb, ALf, BEf = T[b].reshape(lp1 * m), AL.reshape(lp1 * m), BE.reshape(lp1 * m)
        for q in range(lp1 * m):  # one flat loop: it vectorises (gated retention's decay per coordinate)
            _, ALf[q], _, BEf[q] = gate_terms(3, Tb[q], inv_tau, 1.0)
        for a in range(m):
            prod[a] = AL[l, a]
        for i in range(l - 1, -1, -1):
            for a in range(m):
                Dg[i, a] = prod[a]
                prod[a] *= AL[i, a]
        Fb = 0.0
        for i in range(l):
            acc = 0.0
            for a in range(m):
                acc += U[b, a] * Dg[i, a] * K[b, i, a]
            Fb += P[b, i, D - 1] * acc
        F[b] = Fb
        margin = 1.0 - z[b] * Fb
        if margin <= 0.0 or not want_grad:
            continue
        loss += margin / B
        g = -z[b] / B
        E[:] = 0.0
        for j in range(lp1):
            y = P[b, j, D - 1] if j < l else 0.0
            for a in range(m):
                CA[b, j, a] = g * BE[j, a] * E[a]
                if j < l:
                    yd = y * Dg[j, a]
                    CB[b, j, a] = g * yd * U[b, a]
                    ek = yd * K[b, j, a]
                    V[b, a] += g * ek
                    E[a] += ek * U[b, a]
    return loss


@njit(cache=True)
def _mean_gates(T, inv_tau, out):  # pragma: no cover - compiled
    """``out[b, i] = mean_a D_ia`` ``(B, l)`` from ``T`` ``(B, l+1, m)``: the decay products from the query back."""
    B, lp1, m = T.shape
    prod = np.empty(m)
    for b in range(B):
        for a in range(m):
            prod[a] = gate_terms(3, T[b, lp1 - 1, a], inv_tau, 1.0)[1]
        for i in range(lp1 - 2, -1, -1):
            acc = 0.0
            for a in range(m):
                acc += prod[a]
                prod[a] *= gate_terms(3, T[b, i, a], inv_tau, 1.0)[1]
            out[b, i] = acc / m


def mean_gates(W_a: np.ndarray, P: np.ndarray, gate: gates.VectorGate) -> np.ndarray:
    """GLA's tracked gate ``(B, l)``: the mean over the coordinates of each example's decay products ``D_ia``
    (Numba; NumPy reference: :func:`mamba_dynamics.outliers.model.gates` with ``reference=True``)."""
    P = np.ascontiguousarray(P, dtype=np.float64)
    out = np.empty((P.shape[0], P.shape[1] - 1))
    _mean_gates(np.ascontiguousarray(P @ W_a.T), 1.0 / gate.tau, out)
    return out


def _projections(W_B, W_C, W_a, P):
    B, lp1, D = P.shape
    flat = P.reshape(B * lp1, D)
    K = np.ascontiguousarray((flat @ W_B.T).reshape(B, lp1, -1)[:, :-1, :])
    T = np.ascontiguousarray((flat @ W_a.T).reshape(B, lp1, -1))
    U = np.ascontiguousarray(P[:, -1, :] @ W_C.T)
    return K, U, T


def gla_outputs(W_B: np.ndarray, W_C: np.ndarray, W_a: np.ndarray, P: np.ndarray,
                gate: gates.VectorGate) -> np.ndarray:
    """GLA's output ``F`` ``(B,)`` (the kernel without its backward; NumPy reference
    :func:`mamba_dynamics.outliers.model.gla_forward`)."""
    P = np.ascontiguousarray(P, dtype=np.float64)
    F = np.empty(len(P))
    none = np.zeros((1, 1, 1))
    _gla_kernel(P, np.zeros(len(P)), *_projections(W_B, W_C, W_a, P), 1.0 / gate.tau, False, F, none, none,
                np.zeros((1, 1)))
    return F


def gla_grads(W_B: np.ndarray, W_C: np.ndarray, W_a: np.ndarray, P: np.ndarray, z: np.ndarray,
              gate: gates.VectorGate) -> LossGrad:
    """Numba kernel, then three products over the batch; same contract as :func:`gla_grads_reference`."""
    P = np.ascontiguousarray(P, dtype=np.float64)
    B, lp1, D = P.shape
    m = W_B.shape[0]
    K, U, T = _projections(W_B, W_C, W_a, P)
    F = np.empty(B)
    CA, CB, V = np.zeros((B, lp1, m)), np.zeros((B, lp1, m)), np.zeros((B, m))
    loss = _gla_kernel(P, np.ascontiguousarray(z, dtype=np.float64), K, U, T, 1.0 / gate.tau, True, F, CA, CB, V)
    flat = P.reshape(B * lp1, D)
    grads = {"W_B": CB.reshape(B * lp1, m).T @ flat, "W_C": V.T @ P[:, -1, :],
             "w": CA.reshape(B * lp1, m).T @ flat}
    return LossGrad(float(loss), grads, F)
