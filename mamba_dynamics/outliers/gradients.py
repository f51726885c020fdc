"""Hand-derived closed-form gradients of the hinge loss of one-layer Mamba / the linear Transformer (and, at the
end of the module, of the one-layer softmax Transformer of App. B.1: :func:`softmax_hinge_grads`).

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

* :func:`hinge_grads_reference` - plain NumPy, batched, with the O(l^2) gate and the explicit ``j > i`` double
  sum: the literal formula, for checking.
* :func:`hinge_grads` - the Numba kernel (``@njit(cache=True)``, no fastmath, serial loops; the dot products
  over ``d+1`` and the per-prompt transposed products in fixed-order SIMD lanes (:mod:`mamba_dynamics.core.simd`),
  the gates' ``exp`` as a vectorised polynomial within 1 ulp of libm; the two rank-B weight updates and the query
  projections are BLAS products), O(B l d + B m d).  The same bits on every machine but for the BLAS products.

* :func:`softmax_hinge_grads` - the softmax Transformer's kernel (its formulas stand above it); its reference is the
  stack's NumPy path at depth 1, and :func:`softmax_outputs` its forward alone.

Glossary: ``gWB, gWC, gw`` = gradients of the loss w.r.t. W_B, W_C, w (returned as ``grads["W_B"]`` ...);
``F`` ``(B,)`` = outputs; ``z`` ``(B,)``.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ..core import gates
from ..core.gates import as_gate, gate_terms
from ..core.gating import sigmoid_pair_poly
from ..core.losses import LossGrad, hinge_loss, hinge_slope
from ..core.simd import dot, dot2, exp_nonpos, gemv_t, gemv_t2


def hinge_grads_reference(
    W_B: np.ndarray, W_C: np.ndarray, w: np.ndarray, P: np.ndarray, z: np.ndarray, gated=True
) -> LossGrad:
    """NumPy reference.  ``P`` ``(B, l+1, d+1)``, ``z`` ``(B,)``; ``gated`` a :class:`~mamba_dynamics.core.gates.Gate`
    of the scalar family (True: Mamba's, False: none); returns a :class:`~mamba_dynamics.core.losses.LossGrad`
    with ``grads = {"W_B": (m, d+1), "W_C": (m, d+1), "w": (d+1,)}`` and ``F`` ``(B,)``.  The gate gradient is
    ``sum_i q_i [alpha_i p_i + sum_{j>i} beta_j p_j]`` with the ``j > i`` sum written out."""
    gate = as_gate(gated)
    B, lp1, D = P.shape
    ctx, pq, y = P[:, :-1, :], P[:, -1, :], P[:, :-1, -1]
    A = W_B.T @ W_C
    s = np.einsum("bid,de,be->bi", ctx, A, pq)
    if gate:
        t = P @ w
        G = np.exp(gates.log_gates_naive(t, gate))
    else:
        G = np.ones_like(s)
    F = np.sum(G * y * s, axis=1)
    loss = hinge_loss(F, z)
    g = hinge_slope(F, z)  # dLoss/dF_b
    r = np.einsum("bi,bid->bd", G * y, ctx)
    u = pq @ W_C.T
    gW_B = np.einsum("b,bm,bd->md", g, u, r)
    gW_C = np.einsum("b,bm,bd->md", g, r @ W_B.T, pq)
    if gate.learned:
        later = np.triu(np.ones((lp1 - 1, lp1)), k=1)  # later[i, j] = 1 iff j > i
        dlogG = (gates.dlog_coef(t[:, :-1], gate)[:, :, None] * ctx
                 + np.einsum("ij,bj,bjd->bid", later, gates.dlog_decay(t, gate), P))
        gw = np.einsum("b,bi,bid->d", g, y * s * G, dlogG)
    else:
        gw = np.zeros_like(w)
    return LossGrad(loss, {"W_B": gW_B, "W_C": gW_C, "w": gw}, F)


@njit(cache=True, error_model="numpy")
def _loss_grad_kernel(W_B, W_C, w, P, z, code, inv_tau, gamma, NB, gWB, gWC, gw, F, rescaled):  # pragma: no cover - compiled
    """Write loss gradients into ``gWB, gWC, gw`` and outputs into ``F``; returns the loss.

    The prompts go in blocks of ``NB`` (a block's ``P`` stays in cache between the passes):

    1. per prompt, the scores ``s_j = p_j . V_b`` (``V_b = W_B^T W_C p_q``) and the gate pre-activations
       ``t_j = w . p_j``: one :func:`~mamba_dynamics.core.simd.dot2` per token (SIMD lanes, a fixed order);
    2. for the whole block, one loop over its ``NB (l+1)`` tokens: the input coefficient ``a_j``, the decay
       ``lambda_j`` and their log-slopes ``alpha_j``, ``beta_j`` of the gate kind ``code``
       (:mod:`mamba_dynamics.core.gates`); for Mamba ``sig`` and ``1 - sig`` from one ``exp(-|t|)`` and one
       division each, without cancellation (:func:`~mamba_dynamics.core.gating.sigmoid_pair_poly`: a polynomial
       ``exp``, no call, so the loop vectorises; ``error_model="numpy"`` drops the zero-division check that would
       stop it), for the others :func:`~mamba_dynamics.core.gates.gate_terms`; RetNet's constant decay;
    3. per prompt, the gate product ``G_i = a_i prod_{j>i} lambda_j`` in linear space with exact
       power-of-two rescaling (its base-2 log tracked in ``scale``, so nothing underflows before the true value
       leaves double range; each rescaling is counted in ``rescaled[0]``, a store that keeps the rare case a
       branch: as a select it put a compare on the product's dependency chain, 4x slower), ``F_b``, and for the
       active prompts the coefficients of ``r_b`` and of the gate gradient (a prefix sum), then ``r_b`` and the
       prompt's part of ``dLoss/dw`` as one :func:`~mamba_dynamics.core.simd.gemv_t2` (``P_b^T c``,
       ``P_b^T k``: each element summed over the tokens in order).

    The rank-B updates of ``W_B`` and ``W_C`` are matrix products: for ``B > D`` one ``(D, B) x (B, D)`` product
    ``M = sum_b g_b p_q r_b^T`` then ``W_C M`` and ``W_B M^T`` (and the queries go through ``A = W_B^T W_C``), else
    per-prompt projections ``(B, m)``.
    """
    B, lp1, D = P.shape
    l = lp1 - 1
    gated = code != 0
    learn = code == 1 or code == 2 or code == 3  # the gate depends on t = w . p (w is trained)
    Pq = np.ascontiguousarray(P[:, l, :])  # (B, D) queries; read-only (a view of P when B == 1)
    via_A = D < B  # forming A = W_B^T W_C costs m D^2 and pays off only when the batch is larger than D
    if via_A:
        V = Pq @ (W_B.T @ W_C).T  # (B, D): W_B^T W_C p_q
    else:
        V = (Pq @ W_C.T) @ W_B
    R = np.zeros((B, D))  # r_b = sum_i G_i y_i p_i (active prompts only)
    gvec = np.zeros(B)  # dLoss/dF_b
    S = np.empty((NB, lp1))  # the block's scores s_j (the query's slot unused)
    T = np.empty((NB, lp1))  # the block's gate pre-activations w^T p_j
    SIG = np.empty((NB, lp1))  # a(t_j): sigmoid for Mamba
    OMS = np.empty((NB, lp1))  # lambda(t_j): 1 - sigmoid for Mamba
    AL = np.empty((NB, lp1))  # alpha(t_j) = (log a)'
    BE = np.empty((NB, lp1))  # beta(t_j) = (log lambda)'
    G = np.ones(lp1)
    cvec = np.zeros(lp1)  # coefficients of r_b: G_j y_j (0 for the query)
    kvec = np.empty(lp1)  # coefficients of the prompt's dLoss/dw
    TINY, HUGE = 2.0 ** -500, 2.0**500
    loss = 0.0
    for b0 in range(0, B, NB):
        nb = min(NB, B - b0)
        for bb in range(nb):  # pass 1
            b = b0 + bb
            if learn:
                for j in range(lp1):
                    S[bb, j], T[bb, j] = dot2(P, (b * lp1 + j) * D, V, b * D, w, 0, D)
            else:
                for j in range(l):
                    S[bb, j] = dot(P, (b * lp1 + j) * D, V, b * D, D)
        if gated:  # pass 2
            Tf, SIGf, OMSf = T.reshape(NB * lp1), SIG.reshape(NB * lp1), OMS.reshape(NB * lp1)
            ALf, BEf = AL.reshape(NB * lp1), BE.reshape(NB * lp1)
            if code == 1:
                for q in range(nb * lp1):
                    sq, kq = sigmoid_pair_poly(Tf[q])
                    SIGf[q], OMSf[q], ALf[q], BEf[q] = sq, kq, kq, -sq
            elif learn:
                for q in range(nb * lp1):
                    SIGf[q], OMSf[q], ALf[q], BEf[q] = gate_terms(code, Tf[q], inv_tau, gamma)
            else:  # RetNet: nothing depends on t
                for q in range(nb * lp1):
                    SIGf[q], OMSf[q] = 1.0, gamma
        for bb in range(nb):  # pass 3
            b = b0 + bb
            if gated:
                prod = OMS[bb, l]
                scale = 1.0  # 2^(-500 n) after n rescalings
                for i in range(l - 1, -1, -1):
                    G[i] = SIG[bb, i] * prod * scale
                    prod *= OMS[bb, i]
                    if prod < TINY:
                        prod *= HUGE
                        scale *= TINY
                        rescaled[0] += 1
            Fb = 0.0
            for i in range(l):
                Fb += G[i] * P[b, i, D - 1] * S[bb, i]
            F[b] = Fb
            margin = 1.0 - z[b] * Fb
            if margin <= 0.0:
                continue
            loss += margin / B
            g = -z[b] / B
            gvec[b] = g
            if not learn:  # r_b alone (dLoss/dw = 0)
                for j in range(l):
                    cvec[j] = G[j] * P[b, j, D - 1]
                gemv_t(P, b * lp1 * D, l, D, cvec, 0, R, b * D)
                continue
            Q = 0.0  # prefix sum of q_i = y_i s_i G_i over earlier examples
            for j in range(lp1):
                c = G[j] * P[b, j, D - 1] if j < l else 0.0
                coef = BE[bb, j] * Q
                if j < l:
                    qj = c * S[bb, j]
                    coef += qj * AL[bb, j]
                    Q += qj
                cvec[j] = c
                kvec[j] = coef * g
            gemv_t2(P, b * lp1 * D, lp1, D, cvec, 0, kvec, 0, R, b * D, gw, 0)
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


#: A block of the kernel holds as many prompts as keep its ``P`` within this many bytes (docs/performance_history.md,
#: "Fixed-order SIMD": at B = 1024, l = 20, d = 30 blocks of 1 / 4 / 8 / 16 / 32 / 64 prompts took
#: 1.27 / 1.08 / 1.04 / 1.01 / 1.00 / 1.00 of the time of the default's 50).
BLOCK_BYTES = 256 * 1024


def prompt_block(B: int, lp1: int, D: int, budget: int = BLOCK_BYTES) -> int:
    """Prompts per block of the kernel for ``P`` ``(B, lp1, D)``: as many as fit ``budget`` bytes, within
    ``[1, B]``."""
    return int(max(1, min(B, budget // max(1, lp1 * D * 8))))


def hinge_grads(
    W_B: np.ndarray, W_C: np.ndarray, w: np.ndarray, P: np.ndarray, z: np.ndarray, gated=True,
    block: int | None = None,
) -> LossGrad:
    """Numba kernel; same contract as :func:`hinge_grads_reference` (``gated`` a scalar
    :class:`~mamba_dynamics.core.gates.Gate`, or True / False).  Inputs must be float64.  ``block``: prompts per
    block of the kernel (default :func:`prompt_block`); any block size gives the same bits."""
    code, inv_tau, gamma = as_gate(gated).args
    P = np.ascontiguousarray(P)
    B, lp1, D = P.shape
    NB = prompt_block(B, lp1, D) if block is None else int(max(1, min(B, block)))
    gWB = np.zeros_like(W_B)
    gWC = np.zeros_like(W_C)
    gw = np.zeros_like(w)
    F = np.empty(B)
    loss = _loss_grad_kernel(
        np.ascontiguousarray(W_B), np.ascontiguousarray(W_C), np.ascontiguousarray(w),
        P, np.ascontiguousarray(z, dtype=np.float64), code, inv_tau, gamma, NB, gWB, gWC, gw, F,
        np.zeros(1, np.int64),
    )
    return LossGrad(float(loss), {"W_B": gWB, "W_C": gWC, "w": gw}, F)


# ------------------------------------------------------------------------------------------------------------
# the softmax Transformer at one layer (``st``, App. B.1): eq. 3 with the weights softmax-normalised
# ------------------------------------------------------------------------------------------------------------
#
#     F = (1/h) sum_k sum_{i in W} A^k_i y_i,     A^k_i = softmax_i(p_i . V^k / tau),   V^k = W_B^k^T W_C^k p_q
#
# over the keys ``W`` = the examples and the query itself (whose label is 0; the last ``window`` tokens when set),
# head ``k`` reading rows ``k m/h .. (k+1) m/h - 1`` of ``W_B``, ``W_C``.  With ``F^k = sum_i A^k_i y_i`` and
#
#     r^k = dF/dV^k = (1 / (h tau)) sum_i A^k_i (y_i - F^k) p_i                                        (D,)
#
# (the softmax's Jacobian applied to the labels), ``dF/dW_B^k = (W_C^k p_q) r^k^T`` and ``dF/dW_C^k = (W_B^k
# r^k) p_q^T``: O(l D) per prompt, then two products per head over the batch.


@njit(cache=True, error_model="numpy")
def _softmax_kernel(P, z, Vh, inv_tau, window, want_grad, F, R):  # pragma: no cover - compiled
    """Per prompt: every head's scores ``p_i . V^k`` over the keys (fixed-order SIMD dots), the max-shifted
    exponentials (:func:`~mamba_dynamics.core.simd.exp_nonpos`, in a loop that vectorises), their sum and the
    label sum in one pass, ``F_b``; with ``want_grad``, for the active prompts ``g_b r^k_b = g_b sum_i c_i p_i``
    (``g_b = dLoss/dF_b``; one transposed product, :func:`~mamba_dynamics.core.simd.gemv_t`) into ``R`` ``(B, h,
    D)`` (zero rows for the others).  Returns the loss.  ``Vh`` ``(B, h, D)``."""
    B, lp1, D = P.shape
    heads = Vh.shape[1]
    l = lp1 - 1
    lo = lp1 - window if 0 < window < lp1 else 0
    A = np.empty((heads, lp1))
    coef = np.empty(lp1)
    Fh = np.empty(heads)
    Z = np.empty(heads)
    loss = 0.0
    for b in range(B):
        Fb = 0.0
        for k in range(heads):
            top = -np.inf
            for i in range(lo, lp1):
                s = dot(P, (b * lp1 + i) * D, Vh, (b * heads + k) * D, D) * inv_tau
                A[k, i] = s
                if s > top:
                    top = s
            for i in range(lo, lp1):
                A[k, i] = exp_nonpos(A[k, i] - top)
            zk = 0.0
            acc = 0.0
            for i in range(lo, l):
                zk += A[k, i]
                acc += A[k, i] * P[b, i, D - 1]
            zk += A[k, l]  # the query's own weight (its label is 0)
            Z[k] = zk
            Fh[k] = acc / zk
            Fb += Fh[k]
        Fb /= heads
        F[b] = Fb
        margin = 1.0 - z[b] * Fb
        if margin <= 0.0 or not want_grad:
            continue
        loss += margin / B
        for k in range(heads):
            scale = (-z[b] / B) * inv_tau / (heads * Z[k])  # g_b / (h tau) and the softmax's 1 / z
            for i in range(lo, l):
                coef[i] = A[k, i] * (P[b, i, D - 1] - Fh[k]) * scale
            coef[l] = A[k, l] * (0.0 - Fh[k]) * scale
            gemv_t(P, (b * lp1 + lo) * D, lp1 - lo, D, coef, lo, R, (b * heads + k) * D)
    return loss


def _query_vectors(W_B: np.ndarray, W_C: np.ndarray, P: np.ndarray, attention) -> np.ndarray:
    """Every head's ``V^k = Q^k^T p_q`` ``(B, h, D)``, ``Q^k = W_C^k^T W_B^k`` (``D x D``, made once: one product
    over the batch per head)."""
    m = W_B.shape[0]
    attention.check_width(m)
    h, rh = attention.heads, m // attention.heads
    Pq = P[:, -1, :]
    Vh = np.empty((len(P), h, P.shape[2]))
    for k in range(h):
        rows = slice(k * rh, (k + 1) * rh)
        Vh[:, k, :] = Pq @ (W_C[rows].T @ W_B[rows])
    return Vh


def softmax_outputs(W_B: np.ndarray, W_C: np.ndarray, P: np.ndarray, attention) -> np.ndarray:
    """The one-layer softmax Transformer's output ``F`` ``(B,)`` on prompts ``P`` ``(B, l+1, d+1)`` (the kernel
    of :func:`softmax_hinge_grads` without its backward).  NumPy reference:
    :func:`mamba_dynamics.outliers.model.forward` with ``attention``."""
    P = np.ascontiguousarray(P, dtype=np.float64)
    F = np.empty(len(P))
    _softmax_kernel(P, np.zeros(len(P)), _query_vectors(W_B, W_C, P, attention), 1.0 / attention.temperature,
                    attention.window, False, F, np.zeros((1, 1, 1)))
    return F


def softmax_hinge_grads(W_B: np.ndarray, W_C: np.ndarray, P: np.ndarray, z: np.ndarray, attention) -> LossGrad:
    """The one-layer softmax Transformer's hinge loss and gradients ``{"W_B", "W_C": (m, d+1), "w": zeros}``, ``F``
    ``(B,)``: the Numba kernel above, then per head ``M^k = sum_b p_q (g_b r^k_b)^T = dLoss/dQ^k`` (one product
    over the batch) and ``dW_B^k = W_C^k M^k``, ``dW_C^k = W_B^k M^k^T``.  ``attention`` a
    :class:`~mamba_dynamics.core.attention.Attention` (heads divide ``m``).  Its NumPy reference is the stack's at
    depth 1 (:func:`mamba_dynamics.outliers.stack.stack_grads` with ``fast=False``: the softmax's Jacobian written
    out; :meth:`mamba_dynamics.outliers.models.SoftmaxOneLayer.loss_and_grad` with ``reference=True``)."""
    P = np.ascontiguousarray(P, dtype=np.float64)
    B, lp1, D = P.shape
    h, rh = attention.heads, W_B.shape[0] // attention.heads
    Vh = _query_vectors(W_B, W_C, P, attention)
    F, R = np.empty(B), np.zeros((B, h, D))
    loss = _softmax_kernel(P, np.ascontiguousarray(z, dtype=np.float64), Vh, 1.0 / attention.temperature,
                           attention.window, True, F, R)
    Pq = P[:, -1, :]
    gWB, gWC = np.empty_like(W_B), np.empty_like(W_C)
    for k in range(h):
        rows = slice(k * rh, (k + 1) * rh)
        M = Pq.T @ R[:, k, :]  # (D, D): dLoss/dQ^k
        gWB[rows] = W_C[rows] @ M
        gWC[rows] = W_B[rows] @ M.T
    return LossGrad(float(loss), {"W_B": gWB, "W_C": gWC, "w": np.zeros(D)}, F)