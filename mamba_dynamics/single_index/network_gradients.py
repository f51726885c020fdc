"""Hand-derived gradients of the end-to-end single-index network (:mod:`mamba_dynamics.single_index.network`):
the one function training runs and the gradient checker verifies.  Derivation in docs/single_index.md
("End-to-end networks"); sympy re-derives it from the raw scan in :mod:`mamba_dynamics.single_index.symbolic`.

Loss ``L = (1/2nQ) sum_{p,q} (f_pq - y_pq)^2``.  With ``R = (f - y)/(nQ)``, ``S = 1[H > 0]`` and
``g = dL/dM = sum_j R a_j v_j S_j``:

    dL/da_j = sum R ReLU(H_j),     dL/dv_j = sum R a_j S_j M,     dL/dc_j = sum R a_j S_j,
    Gamma_p = sum_q g_pq kappa_pq C_pq = W_C Zg_p     (m_s,)   C_pq = W_C z_pq,   Zg_p = sum_q g_pq kappa_pq z_pq
    dL/dW_B = sum_p Gamma_p A_p^T,    dL/dW_C = sum_{p,q} g_pq kappa_pq (W_B A_p) z_pq^T = sum_p (W_B A_p) Zg_p^T,
    U_p = W_B^T Gamma_p = dL/dA_p                            (D,)
    dL/ds_j = e_j sig(-s_j) - sig(s_j) sum_{i<j} e_i,   e_i = G_i y_i z_i^T U_p    (context gates)
    dL/ds_q = -g_pq sig(s_q) M_pq                                                  (query decay)
    dL/dw = sum dL/ds z,   dL/db = sum dL/ds.

Cost per step O(n N d^2 + n m_s D + n Q D): the context's forward and gate adjoint
(:func:`network.context_statistic`, :func:`network.gate_adjoint`; Hermite tokens as quadratic forms of ``(x, 1)``,
never embedded), the rest BLAS; the queries enter through ``Zg`` and ``Bc W_C`` only (no ``W_C z_q`` per query).
``reference=True`` swaps both, and the head's one-pass kernel (:func:`network.mlp_head`), for their NumPy
references (explicit embedding; :func:`network.mlp_head_reference`).

Glossary: ``batch`` = :class:`NetworkBatch` ``(Xc (n, N, d), Yc (n, N), Xq (n, Q, d), yq (n, Q))``; ``params`` a
:class:`~mamba_dynamics.single_index.network.NetworkParams`.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..core.losses import LossGrad, half_squared_loss
from . import network


class NetworkBatch(NamedTuple):
    """One step's prompts: contexts ``Xc`` ``(n, N, d)``, their labels ``Yc`` ``(n, N)``, queries ``Xq`` ``(n, Q,
    d)`` and the query labels ``yq`` ``(n, Q)``."""

    Xc: np.ndarray
    Yc: np.ndarray
    Xq: np.ndarray
    yq: np.ndarray


def network_grads(params, batch: NetworkBatch, gated: bool, tokens: str, reference: bool = False,
                  work=None) -> LossGrad:
    """``L`` and the gradient of every block (a dict keyed like :class:`~network.NetworkParams`), and the
    predictions ``F = f`` ``(n, Q)``; the context passes are looked up at call time (a patched kernel is what
    runs and what is checked).  ``work``: the workspace of the context passes (the forward's arrays that the
    gate adjoint reads live there, so both run here, back to back)."""
    Xc, Yc, Xq, yq = batch
    n, N, _ = Xc.shape
    stat = network.context_statistic_reference if reference else network.context_statistic
    adjoint = network.gate_adjoint_reference if reference else network.gate_adjoint
    gates: list = []  # what the forward pass keeps for the gate adjoint
    A = stat(Xc, Yc, params.w, params.b, gated, tokens, gates_out=gates, work=work)
    Zq = network.embed_tokens(Xq, None, tokens, fast=not reference)
    M, kappa, sig_q, Bc = network.scan_outputs(params, A, Zq, N, gated)
    f, g, grads = (network.mlp_head_reference if reference else network.mlp_head)(M, yq, params)  # g = dL/dM
    gk = g * kappa
    Zg = np.einsum("nq,nqk->nk", gk, Zq)  # sum_q g_pq kappa_pq z_pq  (n, D)
    Gamma = Zg @ params.W_C.T
    grads["W_B"] = Gamma.T @ A
    grads["W_C"] = Bc.T @ Zg
    if gated:
        dsq = -g * sig_q * M
        gw_c, gb_c = adjoint(Xc, Yc, params.w, params.b, tokens, Gamma @ params.W_B, gates, work)
        grads["w"] = gw_c + np.einsum("nq,nqk->k", dsq, Zq)
        grads["b"] = np.array([gb_c + dsq.sum()])
    else:
        grads["w"], grads["b"] = np.zeros_like(params.w), np.zeros_like(params.b)
    return LossGrad(half_squared_loss(f, yq), grads, f)


def softmax_network_grads(params, batch: NetworkBatch, tokens: str, temperature: float,
                          reference: bool = False) -> LossGrad:
    """The softmax-attention network (``st-single-index-e2e``): ``L`` and every block's gradient (``w``, ``b``
    unused: zero), ``F = f`` ``(n, Q)``.  With ``e_i = dL/ds_i = g A_i (v_i - M) / tau`` over the context and
    the query itself (``v`` the labels, 0 for the query; :func:`network._softmax_rows_adjoint`) and ``U_q = sum_i
    e_i z_i`` (the query included),

        dL/dW_B = sum_{p,q} c_q U_q^T,      dL/dW_C = sum_{p,q} (W_B U_q) z_q^T,

    ``c_q = W_C z_q``: the context never projected, and Hermite tokens read as quadratic forms of ``(x, 1)``
    (:func:`network.softmax_readout`, ``network._context_moments``), then three BLAS products.
    ``reference=True``: the explicit embedding and, per prompt and query, the softmax's Jacobian ``diag(a) - a
    a^T`` written out."""
    if reference:
        return _softmax_network_reference(params, batch, tokens, temperature)
    Xc, Yc, Xq, yq = batch
    M, (Zq, Cq, u, A, Aq, ctx) = network.softmax_readout(params, Xc, Yc, Xq, temperature, tokens)
    f, g, grads = network.mlp_head(M, yq, params)
    E, Eq = np.empty(A.shape), np.empty(Aq.shape)
    Yc = np.ascontiguousarray(Yc, dtype=np.float64)
    network._softmax_rows_adjoint(g, A, Aq, Yc, M, 1.0 / temperature, E, Eq)
    n, Q, D = Zq.shape
    U = (network._context_moments(E, Yc, ctx, tokens, D) + Eq[..., None] * Zq).reshape(n * Q, D)  # the query too
    grads["W_B"] = Cq.reshape(n * Q, -1).T @ U
    grads["W_C"] = (U @ params.W_B.T).T @ Zq.reshape(n * Q, D)
    grads["w"], grads["b"] = np.zeros_like(params.w), np.zeros_like(params.b)
    return LossGrad(half_squared_loss(f, yq), grads, f)


def _softmax_network_reference(params, batch: NetworkBatch, tokens: str, temperature: float) -> LossGrad:
    Xc, Yc, Xq, yq = batch
    Zc, Zq = network.embed_tokens(Xc, Yc, tokens), network.embed_tokens(Xq, None, tokens)
    M = network.softmax_readout_reference(params, Zc, Yc, Zq, temperature)
    f, g, grads = network.mlp_head_reference(M, yq, params)
    dW_B, dW_C = np.zeros_like(params.W_B), np.zeros_like(params.W_C)
    for p in range(Zq.shape[0]):
        for q in range(Zq.shape[1]):
            Z = np.vstack([Zc[p], Zq[p, q]])  # the context, then the query itself
            v = np.append(Yc[p], 0.0)
            b, c = Z @ params.W_B.T, params.W_C @ Zq[p, q]
            s = b @ c / temperature
            a = np.exp(s - np.logaddexp.reduce(s))
            ds = g[p, q] * (np.diag(a) - np.outer(a, a)) @ v / temperature  # dL/ds, the Jacobian written out
            dW_B += np.outer(c, ds @ Z)
            dW_C += np.outer(ds @ b, Zq[p, q])
    grads.update(W_B=dW_B, W_C=dW_C, w=np.zeros_like(params.w), b=np.zeros_like(params.b))
    return LossGrad(half_squared_loss(f, yq), grads, f)


__all__ = ("NetworkBatch", "network_grads", "softmax_network_grads")
