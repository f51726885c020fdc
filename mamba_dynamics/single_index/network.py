"""The end-to-end trained one-layer Mamba in-context learner of single-index prompts, and its linear-attention
counterpart (arXiv 2510.12026, the experiment of spec section 6; the selective scan of arXiv 2510.00399 eq. 1-3).

Unlike the Algorithm-1 readout of :mod:`mamba_dynamics.single_index.model` (``W_B^T W_C = diag(gamma, 0)`` and a
fixed gate), every weight of the scan is trained: full ``W_B, W_C`` ``(m_s, D)``, the gate weights ``w`` ``(D,)``
and a gate bias ``b``, plus the MLP head.  Tokens are ``z_i = (e(x_i), y_i)`` and a query is ``z_q = (e(x_q), 0)``
with ``e`` the degree-2 Hermite embedding ``phi`` (``tokens = "hermite"``, ``D = d~ + 1``) or the identity
(``tokens = "raw"``, ``D = d + 1``).  With ``A = -I`` the label channel of the scan at the query reads

    M_q = kappa_q (W_B A)^T (W_C z_q),          A = sum_{i<=N} G_i y_i z_i,
    G_i = sig(s_i) prod_{i<j<=N} sig(-s_j),     kappa_q = sig(-s_q),      s = w^T z + b - log N,

where ``kappa_q`` is the query's own decay factor ``1 - sig(s_q)``, so several queries of one prompt share ``A``.
The ``- log N`` in the gate is the length offset of the spec's section 2.3 (Jiang et al.'s ``b_Delta ~ -log N``):
without it the gate keeps about three examples at any N; the trained part of the bias is ``b``.  The
linear-attention counterpart has the constant gate ``G_i = 1/N``, ``kappa = 1`` and no ``w, b``.  The head is
``f = sum_j a_j ReLU(v_j M + c_j)``, all of ``v, c, a`` trained.

Fast path (:func:`context_statistic`, :func:`gate_adjoint`): Hermite tokens are never embedded.  Every map that
is linear in ``z`` is a quadratic form of the augmented input ``x~ = (x, 1)`` ``(d+1,)``: ``z . u = x~^T T_u x~ +
u_y y`` with ``T_u`` ``(d+1, d+1)`` upper-triangular, built from ``u``, and ``sum_i c_i z_i`` is read off the
moment ``sum_i c_i x~_i x~_i^T`` (:mod:`~mamba_dynamics.single_index.quadforms`).  So the gate pre-activations
are the values of one form ``T_w`` at every token, ``A`` the moments with weights ``G y``, and the adjoint's ``z .
U_p`` and ``sum_j ds_j z_j`` two more: O(N d^2) per prompt in register-tiled fixed-order kernels, against O(N d~)
scalar cross products for the embedding (derivation: docs/single_index.md, "The quadratic form of the Hermite
features").  Raw tokens (``D = d + 1``) take the per-prompt Numba passes :func:`_forward_kernel` /
:func:`_adjoint_kernel`.  The naive reference :func:`context_statistic_reference` embeds every token explicitly;
both are tested equal to the raw recurrence :func:`mamba_dynamics.core.scan.selective_scan`.

Glossary: ``Xc`` ``(n, N, d)`` context inputs, ``Yc`` ``(n, N)`` context labels, ``Xq`` ``(n, Q, d)`` queries;
``D`` token width; ``m_s`` state size (rows of ``W_B, W_C``); ``s`` gate pre-activations; ``logG`` ``(n, N)``
= ``log G_i``; ``kappa`` ``(n, Q)``; ``M`` ``(n, Q)`` scan outputs; ``m`` MLP width.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numba import njit

from ..core.gating import sigmoid, sigmoid_log_pair_poly, softplus, softplus_scalar
from ..core.simd import exp_nonpos
from ..core.train import ParamBlocks
from ..core.workspace import Workspace, getter
from . import quadforms
from .config import TOKENS, token_width
from .data import embed


@dataclass
class NetworkParams(ParamBlocks):
    """The trained weights.  ``W_B``, ``W_C`` ``(m_s, D)``; ``w`` ``(D,)`` gate weights; ``b`` ``(1,)`` gate bias;
    ``v``, ``c``, ``a`` ``(m,)`` MLP first-layer weights, biases and output weights.  The linear-attention model
    keeps ``w, b`` (unused, zero gradient) so both models share one container."""

    W_B: np.ndarray
    W_C: np.ndarray
    w: np.ndarray
    b: np.ndarray
    v: np.ndarray
    c: np.ndarray
    a: np.ndarray


def embed_tokens(X: np.ndarray, Y: np.ndarray | None, tokens: str, fast: bool = False) -> np.ndarray:
    """Tokens ``(..., D)`` from inputs ``(..., d)`` and labels ``(...)`` (``None``: label slot 0, as for queries):
    through :func:`data.embed` (the reference), or with ``fast`` through the Numba :func:`embed_row`, which
    computes the same products and gives the same bits."""
    if fast:
        flat = np.ascontiguousarray(X, dtype=np.float64).reshape(-1, X.shape[-1])
        out = np.empty((len(flat), token_width(X.shape[-1], tokens)))
        _embed_rows(flat, tokens == "hermite", out)
        out[:, -1] = 0.0 if Y is None else np.ravel(Y)
        return out.reshape(X.shape[:-1] + (out.shape[1],))
    feats = embed(X) if tokens == "hermite" else X
    lab = np.zeros(X.shape[:-1] + (1,)) if Y is None else Y[..., None]
    return np.concatenate([feats, lab], axis=-1)


def gate_offset(N: int) -> float:
    """The length offset ``-log N`` added to every gate pre-activation of a prompt of ``N`` examples."""
    return -math.log(N)


# ------------------------------------------------------------------------------------------------------------
# naive references
# ------------------------------------------------------------------------------------------------------------

def context_gates_reference(Zc: np.ndarray, w: np.ndarray, b: float, gated: bool) -> tuple[np.ndarray, np.ndarray]:
    """``(s, logG)`` each ``(n, N)`` for embedded contexts ``Zc`` ``(n, N, D)``: the literal product of the gate
    factors (``log G_i = log sig(s_i) + sum_{j>i} log sig(-s_j)``, a triangular matrix product); ``logG`` is
    ``log(1/N)`` for the constant gate."""
    n, N, _ = Zc.shape
    s = Zc @ w + b + gate_offset(N)
    if not gated:
        return s, np.full((n, N), -math.log(N))
    later = np.triu(np.ones((N, N)), k=1)  # later[i, j] = 1 iff j > i
    return s, -softplus(-s) + (-softplus(s)) @ later.T


def context_statistic_reference(Xc, Yc, w, b, gated: bool, tokens: str, gates_out: list = None,
                                work=None) -> np.ndarray:
    """NumPy reference of ``A = sum_i G_i y_i z_i`` ``(n, D)`` through the explicitly embedded tokens
    (``gates_out`` and ``work`` are accepted for the kernel's signature and left alone: the reference adjoint
    recomputes)."""
    Zc = embed_tokens(Xc, Yc, tokens)
    _, logG = context_gates_reference(Zc, w, float(np.ravel(b)[0]), gated)
    return np.einsum("ni,nik->nk", np.exp(logG) * Yc, Zc)


def query_decay(Zq: np.ndarray, w: np.ndarray, b: float, N: int, gated: bool) -> tuple[np.ndarray, np.ndarray]:
    """``(kappa, sig(s_q))`` each ``(n, Q)`` for embedded queries ``Zq`` ``(n, Q, D)``: the query's decay factor
    ``sig(-s_q)`` and its write factor (ones and zeros for the constant gate)."""
    if not gated:
        return np.ones(Zq.shape[:2]), np.zeros(Zq.shape[:2])
    sq = Zq @ w + b + gate_offset(N)
    return sigmoid(-sq), sigmoid(sq)


# ------------------------------------------------------------------------------------------------------------
# Numba kernels
# ------------------------------------------------------------------------------------------------------------

@njit(cache=True)
def embed_row(x, hermite, out):  # pragma: no cover - compiled
    """Write the features of one input ``x`` ``(d,)`` into ``out[:D-1]`` (the order of :func:`data.embed`)."""
    d = x.shape[0]
    if not hermite:
        for k in range(d):
            out[k] = x[k]
        return
    r2 = math.sqrt(2.0)
    out[0] = 1.0
    for k in range(d):
        out[1 + k] = x[k]
        out[1 + d + k] = (x[k] * x[k] - 1.0) / r2
    c = 1 + 2 * d
    for k in range(d):
        for q in range(k + 1, d):
            out[c] = x[k] * x[q]
            c += 1


@njit(cache=True)
def _embed_rows(X, hermite, out):  # pragma: no cover - compiled
    """:func:`embed_row` of every row of ``X`` ``(k, d)`` into ``out`` ``(k, D)`` (the label slot left alone)."""
    for i in range(X.shape[0]):
        embed_row(X[i], hermite, out[i])


@njit(cache=True)
def _prompt_gates(Z, w, b_eff, gated, s, logG, keep, sig_pos, sig_neg):  # pragma: no cover - compiled
    """Embedded prompt ``Z`` ``(N, D)`` -> gate pre-activations ``s = Z w + b_eff`` (BLAS) and ``logG`` ``(N,)``
    (reverse sum of the log factors); with ``keep`` also ``sig(s)`` and ``sig(-s)`` for the adjoint."""
    N = Z.shape[0]
    if not gated:
        for i in range(N):
            logG[i] = -math.log(N)
        return
    s[:] = np.dot(Z, w) + b_eff
    acc = 0.0
    for i in range(N - 1, -1, -1):
        sp_neg = softplus_scalar(-s[i])  # -log sig(s_i)
        sp_pos = softplus_scalar(s[i])  # -log sig(-s_i)
        logG[i] = -sp_neg + acc
        acc -= sp_pos
        if keep:
            sig_pos[i] = math.exp(-sp_neg)
            sig_neg[i] = math.exp(-sp_pos)


@njit(cache=True)
def _embed_prompt(X, Y, p, hermite, Z):  # pragma: no cover - compiled
    N, D = Z.shape
    for i in range(N):
        embed_row(X[p, i], hermite, Z[i])
        Z[i, D - 1] = Y[p, i]


@njit(cache=True)
def _forward_kernel(X, Y, w, b_eff, gated, hermite, A, logG_all, keep, G_all, sp_all, sn_all):  # pragma: no cover
    """Per prompt: embed the tokens into one ``(N, D)`` buffer, the gates, then ``A = (G y)^T Z`` (BLAS).  With
    ``keep`` the gates ``G``, ``sig(s)``, ``sig(-s)`` ``(n, N)`` are kept for the adjoint."""
    n, N, _ = X.shape
    D = A.shape[1]
    Z = np.empty((N, D))
    s = np.empty(N)
    wts = np.empty(N)
    for p in range(n):
        logG = logG_all[p]
        _embed_prompt(X, Y, p, hermite, Z)
        _prompt_gates(Z, w, b_eff, gated, s, logG, keep, sp_all[p], sn_all[p])
        for i in range(N):
            g = math.exp(logG[i])
            wts[i] = g * Y[p, i]
            if keep:
                G_all[p, i] = g
        A[p] = np.dot(wts, Z)


@njit(cache=True)
def _gate_slope_row(G, Y, zu, sp, sn, ds):  # pragma: no cover - compiled
    """One prompt's ``ds[j] = dL/ds_j = e_j sig(-s_j) - sig(s_j) sum_{i<j} e_i``, ``e_i = G_i y_i zu_i`` ``(N,)``
    (``zu_i = z_i . U_p``)."""
    prefix = 0.0
    for j in range(G.shape[0]):
        e = G[j] * Y[j] * zu[j]
        ds[j] = e * sn[j] - sp[j] * prefix
        prefix += e


@njit(cache=True)
def _adjoint_kernel(X, Y, hermite, G_all, sp_all, sn_all, U, gw):  # pragma: no cover - compiled
    """``gw[:D]`` += sum over prompts of ``sum_j dL/ds_j z_j`` and ``gw[D]`` += ``sum_j dL/ds_j``, with
    ``dL/ds_j = e_j sig(-s_j) - sig(s_j) sum_{i<j} e_i``, ``e_i = G_i y_i z_i^T U_p`` (``Z U_p`` by BLAS); the
    gates ``G``, ``sig(s)``, ``sig(-s)`` ``(n, N)`` are the forward pass's."""
    n, N, _ = X.shape
    D = U.shape[1]
    Z = np.empty((N, D))
    ds = np.empty(N)
    acc = np.zeros(D)
    total = 0.0
    for p in range(n):
        _embed_prompt(X, Y, p, hermite, Z)
        zu = np.dot(Z, U[p])
        _gate_slope_row(G_all[p], Y[p], zu, sp_all[p], sn_all[p], ds)
        for j in range(N):
            total += ds[j]
        acc += np.dot(ds, Z)
    gw[:D] += acc
    gw[D] += total


# ------------------------------------------------------------------------------------------------------------
# Hermite tokens without the embedding: every map of a token z = (phi(x), y) that is linear in z is a quadratic
# form of the augmented input x~ = (x, 1), so the d~ features are never built (docs/single_index.md, "The
# quadratic form of the Hermite features")
# ------------------------------------------------------------------------------------------------------------

@njit(cache=True, error_model="numpy")
def _weights_and_gates(s, Y, gated, logG, G, sp, sn, wts):  # pragma: no cover - compiled
    """Per prompt the log gates ``log G_i = log sig(s_i) + sum_{j>i} log sig(-s_j)`` ``(n, N)`` from ``s`` (or
    ``log 1/N`` without a gate), the gates ``G``, the weights ``wts = G y`` and ``sig(s)``, ``sig(-s)`` into
    ``sp``, ``sn``: per token one ``exp``, one ``log1p`` and one division for both sigmoids and both log sigmoids
    (:func:`~mamba_dynamics.core.gating.sigmoid_log_pair_poly`), then one ``exp`` for ``G`` (``log G <= 0``); the
    element-wise passes vectorise, only the reverse sum of the log factors runs token by token."""
    n, N = Y.shape
    log_neg = np.empty(N)
    for p in range(n):
        lg = logG[p]
        if gated:
            for i in range(N):
                sp[p, i], sn[p, i], lg[i], log_neg[i] = sigmoid_log_pair_poly(s[p, i])
            acc = 0.0
            for i in range(N - 1, -1, -1):
                lg[i] = acc + lg[i]
                acc += log_neg[i]
        else:
            for i in range(N):
                lg[i] = -math.log(N)
        for i in range(N):
            g = exp_nonpos(lg[i])
            G[p, i] = g
            wts[p, i] = g * Y[p, i]


@njit(cache=True)
def _gate_slopes(G, Y, zu, sp, sn, ds):  # pragma: no cover - compiled
    """:func:`_gate_slope_row` of every prompt ``(n, N)``."""
    for p in range(G.shape[0]):
        _gate_slope_row(G[p], Y[p], zu[p], sp[p], sn[p], ds[p])


@njit(cache=True, error_model="numpy")
def _hermite_forward_kernel(Xc, Yc, w, b_eff, gated, XT):  # pragma: no cover - compiled
    """The Numba part of :func:`_hermite_forward` in one call: the columns ``X~`` into ``XT`` ``(n, d+1, N)``, the
    gate pre-activations, the gates and weights (:func:`_weights_and_gates`), the moments and ``A``'s feature part.
    Returns ``(A (n, D), logG, G, sig(s), sig(-s), wts)`` (``A``'s last entry left for the caller)."""
    n, N, d = Xc.shape
    e = d + 1
    D = w.shape[0]
    quadforms.columns(Xc, XT)
    s = np.empty((n, N))
    if gated:
        T = np.empty((1, 1, e, e))
        quadforms.quad_form(w, T[0, 0])
        uy = np.empty((1, 1))
        uy[0, 0] = w[D - 1]
        quadforms.quad_values(T, XT, Yc, uy, b_eff, s.reshape(n, 1, N))
    logG, G, sp, sn, wts = np.empty((n, N)), np.empty((n, N)), np.empty((n, N)), np.empty((n, N)), np.empty((n, N))
    _weights_and_gates(s, Yc, gated, logG, G, sp, sn, wts)
    Mt = np.empty((n, 1, e, e))
    quadforms.moments(Xc, XT, wts.reshape(n, 1, N), Mt)
    A = np.empty((n, D))
    quadforms.features_of_rows(Mt.reshape(n, e, e), A)
    return A, logG, G, sp, sn, wts


def _hermite_forward(Xc, Yc, w, b_eff, gated, work: Workspace | None):
    """:func:`context_statistic` on Hermite tokens as quadratic forms (:mod:`~mamba_dynamics.single_index.quadforms`):
    the gate pre-activations ``s = x~^T T_w x~ + w_y y + b`` at every token, and ``A``'s feature part from the
    moments ``sum_i G_i y_i x~_i x~_i^T`` of each prompt, in one Numba call (:func:`_hermite_forward_kernel`).
    Returns ``(A (n, D), logG, (G, sig(s), sig(-s), X~))`` with ``X~`` the columns ``(n, d+1, N)``; O(N d^2) per
    prompt instead of O(N d~) scalar embedding.  ``X~`` is ``work``'s array (fresh ones cost a page fault per
    page), so the adjoint that reads it must run before the next forward on the same workspace
    (:func:`~mamba_dynamics.single_index.network_gradients.network_grads` calls the two back to back)."""
    n, N, d = Xc.shape
    XT = getter(work)("XT", (n, d + 1, N))  # kept in ``gates`` for the adjoint of the same step
    A, logG, G, sp, sn, wts = _hermite_forward_kernel(Xc, Yc, w, b_eff, gated, XT)
    A[:, A.shape[1] - 1] = np.einsum("ni,ni->n", wts, Yc)
    return A, logG, (G, sp, sn, XT)


@njit(cache=True, error_model="numpy")
def _hermite_adjoint_kernel(Xc, Yc, U, G, sp, sn, XT):  # pragma: no cover - compiled
    """The Numba part of :func:`_hermite_adjoint` in one call: ``z_i . U_p``, the slopes ``ds`` ``(n, N)`` and the
    feature part of ``gw`` ``(D + 1,)`` (its last two entries left for the caller).  Returns ``(gw, ds)``."""
    n, e, N = XT.shape
    D = U.shape[1]
    T = np.empty((n, 1, e, e))
    quadforms.quad_forms(U, T.reshape(n, e, e))
    uy = np.empty((n, 1))
    for p in range(n):
        uy[p, 0] = U[p, D - 1]
    zu = np.empty((n, 1, N))
    quadforms.quad_values(T, XT, Yc, uy, 0.0, zu)
    ds = np.empty((n, N))
    _gate_slopes(G, Yc, zu.reshape(n, N), sp, sn, ds)
    Mt = np.empty((1, 1, e, e))
    quadforms.moments(Xc, XT, ds.reshape(n, 1, N), Mt)
    gw = np.empty(D + 1)
    quadforms.features_of(Mt[0, 0], gw)
    return gw, ds


def _hermite_adjoint(Xc, Yc, U, gates) -> np.ndarray:
    """:func:`gate_adjoint` on Hermite tokens from :func:`_hermite_forward`'s gates and columns ``X~``: ``z_i .
    U_p = x~_i^T T_{U_p} x~_i + U_p,y y_i`` (:func:`~mamba_dynamics.single_index.quadforms.quad_values`), and
    ``sum_j ds_j z_j``'s feature part from the moment ``sum_j ds_j x~_j x~_j^T`` over every token of every
    prompt, in one Numba call (:func:`_hermite_adjoint_kernel`).  Returns ``gw`` ``(D + 1,)`` (the last entry
    ``dL/db``)."""
    G, sp, sn, XT = gates
    D = U.shape[1]
    gw, ds = _hermite_adjoint_kernel(Xc, Yc, _f64(U), G, sp, sn, XT)
    gw[D - 1] = float(np.einsum("ni,ni->", ds, Yc))
    gw[D] = float(np.add.reduce(ds, axis=None))  # ds.sum() without its Python layer (the same bits)
    return gw


def _f64(a):
    return np.ascontiguousarray(a, dtype=np.float64)


def context_statistic(Xc, Yc, w, b, gated: bool, tokens: str, log_gates: bool = False, gates_out: list = None,
                      work: Workspace | None = None):
    """Numba ``A = sum_i G_i y_i z_i`` ``(n, D)`` for contexts ``Xc`` ``(n, N, d)``, ``Yc`` ``(n, N)``: O(N D)
    per prompt, one embedded prompt held at a time.  Gates in log space: no overflow for any weights or N.
    With ``log_gates`` returns ``(A, logG)``, ``logG`` ``(n, N)``.  A list ``gates_out`` receives what
    :func:`gate_adjoint` reuses (the gated model's ``G``, ``sig(s)``, ``sig(-s)`` ``(n, N)``; for Hermite
    tokens also ``X~``, in ``work``'s arrays when given)."""
    n, N, d = Xc.shape
    if tokens == "hermite":
        A, logG, kept = _hermite_forward(_f64(Xc), _f64(Yc), _f64(w), float(np.ravel(b)[0]) + gate_offset(N),
                                         bool(gated), work)
        if gates_out is not None:
            gates_out[:] = list(kept) if gated else []
        return (A, logG) if log_gates else A
    A = np.empty((n, token_width(d, tokens)))
    logG = np.empty((n, N))
    keep = gates_out is not None and gated
    kept = [np.empty((n, N) if keep else (n, 0)) for _ in range(3)]  # G, sig(s), sig(-s)
    _forward_kernel(_f64(Xc), _f64(Yc), _f64(w), float(np.ravel(b)[0]) + gate_offset(N), bool(gated),
                    tokens == "hermite", A, logG, keep, *kept)
    if gates_out is not None:
        gates_out[:] = kept if keep else []
    return (A, logG) if log_gates else A


def gate_adjoint(Xc, Yc, w, b, tokens: str, U: np.ndarray, gates: list = None,
                 work: Workspace | None = None) -> tuple[np.ndarray, float]:
    """Numba ``(dL/dw, dL/db)`` ``((D,), float)`` of the context gates, given ``U`` ``(n, D)`` = ``dL/dA`` of each
    prompt (the gated model only).  ``gates`` = what the forward pass kept (:func:`context_statistic`'s
    ``gates_out``, on the same ``work``); without it they are computed again (the same numbers)."""
    n, N, d = Xc.shape
    D = token_width(d, tokens)
    if not gates:
        gates = []
        context_statistic(Xc, Yc, w, b, True, tokens, gates_out=gates, work=work)
    if tokens == "hermite":
        gw = _hermite_adjoint(_f64(Xc), _f64(Yc), _f64(U), gates)
        return gw[:D], float(gw[D])
    gw = np.zeros(D + 1)
    _adjoint_kernel(_f64(Xc), _f64(Yc), tokens == "hermite", *gates, _f64(U), gw)
    return gw[:D], float(gw[D])


def gate_adjoint_reference(Xc, Yc, w, b, tokens: str, U: np.ndarray, gates=None,
                           work=None) -> tuple[np.ndarray, float]:
    """NumPy reference of :func:`gate_adjoint` through the full Jacobian ``d log G_i / d s_j`` ``(n, N, N)``:
    ``sig(-s_i)`` on the diagonal, ``-sig(s_j)`` for ``j > i``, 0 below (``gates`` is ignored: it recomputes)."""
    Zc = embed_tokens(Xc, Yc, tokens)
    s, logG = context_gates_reference(Zc, w, float(np.ravel(b)[0]), True)
    N = s.shape[1]
    later = np.triu(np.ones((N, N)), k=1)
    J = later[None] * -sigmoid(s)[:, None, :] + np.eye(N)[None] * sigmoid(-s)[:, None, :]
    e = np.exp(logG) * Yc * np.einsum("nik,nk->ni", Zc, U)
    ds = np.einsum("ni,nij->nj", e, J)
    return np.einsum("nj,njk->k", ds, Zc), float(ds.sum())


def scan_outputs(params: NetworkParams, A: np.ndarray, Zq: np.ndarray, N: int, gated: bool):
    """``(M, kappa, sig_q, Bc)``: scan outputs ``M`` ``(n, Q)`` of queries ``Zq`` ``(n, Q, D)`` on prompts with
    context statistics ``A`` ``(n, D)``, plus what the backward pass reuses: ``Bc = A W_B^T`` ``(n, m_s)``.  The
    bilinear form ``(W_C z_q) . Bc_p = z_q . (W_C^T Bc_p)`` is contracted on the prompt's side first: one product
    ``Bc W_C`` ``(n, D)`` for all queries, not ``W_C z_q`` per query (``n Q`` small products)."""
    kappa, sig_q = query_decay(Zq, params.w, float(params.b[0]), N, gated)
    Bc = A @ params.W_B.T
    M = kappa * np.einsum("nqk,nk->nq", Zq, Bc @ params.W_C)
    return M, kappa, sig_q, Bc


def mlp_forward(M: np.ndarray, params: NetworkParams) -> tuple[np.ndarray, np.ndarray]:
    """``(f, H)``: head outputs ``f`` (shape of ``M``) and pre-activations ``H = v M + c`` (``M.shape + (m,)``)."""
    H = M[..., None] * params.v + params.c
    return np.maximum(H, 0.0) @ params.a, H


def mlp_head_reference(M: np.ndarray, y: np.ndarray, params: NetworkParams) -> tuple[np.ndarray, np.ndarray, dict]:
    """The head and its backward under the loss ``(1/2K) sum (f - y)^2`` (``K = n Q``), in NumPy: ``(f, g, grads)``
    with ``f`` and ``g = dL/dM`` the shape of ``M`` ``(n, Q)`` and ``grads`` ``{"a", "v", "c"}`` ``(m,)``:
    ``R = (f - y)/K``, ``S = 1[H > 0]``, ``dL/da_j = sum R ReLU(H_j)``, ``dL/dv_j = a_j sum R S_j M``, ``dL/dc_j =
    a_j sum R S_j``, ``g = sum_j R S_j a_j v_j``."""
    f, H = mlp_forward(M, params)
    R = (f - y) / f.size
    RS = R[..., None] * (H > 0.0)  # (n, Q, m)
    grads = {"a": np.einsum("nq,nqj->j", R, np.maximum(H, 0.0)),
             "v": params.a * np.einsum("nqj,nq->j", RS, M),
             "c": params.a * RS.sum(axis=(0, 1))}
    return f, RS @ (params.a * params.v), grads


@njit(cache=True)
def _mlp_head_kernel(M, y, v, c, a, f, g, grads):  # pragma: no cover - compiled
    """:func:`mlp_head_reference` in one pass per query (two loops over the ``m`` units: ``f``, then its
    gradients); ``f``, ``g`` ``(n, Q)``, ``grads`` ``(3, m)`` = the rows ``a``, ``v``, ``c``."""
    n, Q = M.shape
    m = v.shape[0]
    K = n * Q
    grads[:, :] = 0.0
    for p in range(n):
        for q in range(Q):
            x = M[p, q]
            acc = 0.0
            for j in range(m):
                h = x * v[j] + c[j]
                if h > 0.0:
                    acc += a[j] * h
            f[p, q] = acc
            R = (acc - y[p, q]) / K
            gq = 0.0
            for j in range(m):
                h = x * v[j] + c[j]
                if h > 0.0:
                    grads[0, j] += R * h
                    grads[1, j] += R * x
                    grads[2, j] += R
                    gq += R * (a[j] * v[j])
            g[p, q] = gq
    for j in range(m):
        grads[1, j] *= a[j]
        grads[2, j] *= a[j]


def mlp_head(M: np.ndarray, y: np.ndarray, params: NetworkParams) -> tuple[np.ndarray, np.ndarray, dict]:
    """Numba :func:`mlp_head_reference` (the same quantities; sums in another order): one call instead of a dozen
    NumPy passes over ``(n, Q, m)`` arrays."""
    f, g, grads = np.empty(M.shape), np.empty(M.shape), np.empty((3, params.v.shape[0]))
    _mlp_head_kernel(_f64(M), _f64(y), _f64(params.v), _f64(params.c), _f64(params.a), f, g, grads)
    return f, g, {"a": grads[0], "v": grads[1], "c": grads[2]}


def predict(params: NetworkParams, Xc, Yc, Xq, gated: bool, tokens: str, reference: bool = False,
            work: Workspace | None = None) -> np.ndarray:
    """Predictions ``f`` ``(n, Q)`` of the query labels; ``reference`` uses the NumPy context statistic."""
    stat = context_statistic_reference if reference else context_statistic
    A = stat(Xc, Yc, params.w, params.b, gated, tokens, work=work)
    M = scan_outputs(params, A, embed_tokens(Xq, None, tokens, fast=not reference), Xc.shape[1], gated)[0]
    return mlp_forward(M, params)[0]




# ------------------------------------------------------------------------------------------------------------
# the softmax-attention readout (st-single-index-e2e): a query attends to its context and to itself
# ------------------------------------------------------------------------------------------------------------

@njit(cache=True, error_model="numpy")
def _softmax_rows(S, s_self, Yc, inv_tau, M, A, Aq):  # pragma: no cover - compiled
    """Per prompt ``p`` and query ``q``: the weights ``A[p, q, i]`` ``(n, Q, N)`` on the context and ``Aq[p, q]``
    on the query itself, a softmax of the scores ``S[p, q, i] / tau`` and ``s_self[p, q] / tau`` shifted by their
    maximum (no overflow for any score; the exponentials by :func:`~mamba_dynamics.core.simd.exp_nonpos`, in a
    loop that vectorises), and the readout ``M[p, q] = sum_i A[p, q, i] y_i`` (the query's label slot is 0)."""
    n, Q, N = S.shape
    for p in range(n):
        for q in range(Q):
            top = s_self[p, q] * inv_tau
            for i in range(N):
                v = S[p, q, i] * inv_tau
                A[p, q, i] = v
                if v > top:
                    top = v
            for i in range(N):
                A[p, q, i] = exp_nonpos(A[p, q, i] - top)
            e_self = exp_nonpos(s_self[p, q] * inv_tau - top)
            z = e_self
            acc = 0.0
            for i in range(N):
                z += A[p, q, i]
                acc += A[p, q, i] * Yc[p, i]
            inv = 1.0 / z
            for i in range(N):
                A[p, q, i] *= inv
            Aq[p, q] = e_self * inv
            M[p, q] = acc * inv


@njit(cache=True)
def _softmax_rows_adjoint(g, A, Aq, Yc, M, inv_tau, E, Eq):  # pragma: no cover - compiled
    """``E[p, q, i] = dL/ds_i = g A_i (y_i - M) / tau`` on the context and ``Eq[p, q] = -g A_q M / tau`` on the
    query's own score, from ``g = dL/dM`` ``(n, Q)`` (the softmax's Jacobian applied to the values)."""
    n, Q, N = A.shape
    for p in range(n):
        for q in range(Q):
            gq = g[p, q] * inv_tau
            Mq = M[p, q]
            for i in range(N):
                E[p, q, i] = gq * A[p, q, i] * (Yc[p, i] - Mq)
            Eq[p, q] = -gq * Aq[p, q] * Mq


def _context_scores(Xc: np.ndarray, Yc: np.ndarray, u: np.ndarray, tokens: str) -> tuple:
    """``S[p, q, i] = z_i . u_q`` ``(n, Q, N)`` and what :func:`_context_moments` reads: on Hermite tokens as
    quadratic forms of ``x~ = (x, 1)`` (``z_i . u = x~_i^T T_u x~_i + u_y y_i``,
    :func:`~mamba_dynamics.single_index.quadforms.quad_values`; the context is never embedded, ``O(N Q d^2)`` per
    prompt; ``ctx = (X, X~)``, the rows and the columns), on raw tokens by the embedded tokens (``D = d + 1``)."""
    n, Q, D = u.shape
    if tokens != "hermite":
        Zc = embed_tokens(Xc, Yc, tokens, fast=True)
        return np.matmul(u, Zc.transpose(0, 2, 1)), Zc
    N, d = Xc.shape[1:]
    e = d + 1
    Xc = _f64(Xc)
    XT = np.empty((n, e, N))
    quadforms.columns(Xc, XT)
    T = np.empty((n, Q, e, e))
    quadforms.quad_forms(np.ascontiguousarray(u.reshape(n * Q, D)), T.reshape(n * Q, e, e))
    S = np.empty((n, Q, N))
    quadforms.quad_values(T, XT, _f64(Yc), np.ascontiguousarray(u[:, :, D - 1]), 0.0, S)
    return S, (Xc, XT)


def _context_moments(E: np.ndarray, Yc: np.ndarray, ctx, tokens: str, D: int) -> np.ndarray:
    """``U[p, q] = sum_i E[p, q, i] z_i`` ``(n, Q, D)`` from :func:`_context_scores`'s ``ctx``: on Hermite tokens
    the moments ``sum_i E_qi x~_i x~_i^T`` (:func:`~mamba_dynamics.single_index.quadforms.moments`) mapped to
    features and the label slot ``sum_i E_i y_i``; on raw tokens the product with the embedded tokens."""
    if tokens != "hermite":
        return np.matmul(E, ctx)
    n, Q, N = E.shape
    Xc, XT = ctx
    e = XT.shape[1]
    Mt = np.empty((n, Q, e, e))
    quadforms.moments(Xc, XT, _f64(E), Mt)
    U = np.empty((n * Q, D))
    quadforms.features_of_rows(Mt.reshape(n * Q, e, e), U)
    U[:, D - 1] = np.einsum("nqi,ni->nq", E, Yc).reshape(-1)
    return U.reshape(n, Q, D)


def softmax_readout(params: NetworkParams, Xc: np.ndarray, Yc: np.ndarray, Xq: np.ndarray, temperature: float,
                    tokens: str):
    """``(M (n, Q), cache)``: the softmax readout of queries ``Xq`` ``(n, Q, d)`` over contexts ``Xc`` ``(n, N,
    d)`` with labels ``Yc`` ``(n, N)``: ``M_q = sum_{i <= N} A_i y_i`` with ``A = softmax_i((W_B z_i) . (W_C z_q)
    / tau)`` over the context and the query itself (whose label slot is 0), as eq. 3 of arXiv 2510.00399 with its
    weights softmax-normalised; ``z`` the tokens (``tokens``).  The scores are ``z_i . u_q`` with ``u_q = W_B^T
    W_C z_q``: the context is never projected on ``W_B``, and Hermite tokens are read as quadratic forms
    (:func:`_context_scores`).  ``cache = (Zq, Cq, u, A, Aq, ctx)``: the embedded queries ``(n, Q, D)``, ``c_q =
    W_C z_q`` ``(n, Q, m_s)``, ``u`` ``(n, Q, D)``, the weights, and the context's form for the adjoint."""
    Zq = embed_tokens(Xq, None, tokens, fast=True)
    Cq = Zq @ params.W_C.T  # (n, Q, m_s)
    u = Cq @ params.W_B  # (n, Q, D): W_B^T c_q
    S, ctx = _context_scores(Xc, Yc, u, tokens)
    s_self = np.einsum("nqd,nqd->nq", u, Zq)
    n, Q, N = S.shape
    M, A, Aq = np.empty((n, Q)), np.empty((n, Q, N)), np.empty((n, Q))
    _softmax_rows(S, s_self, _f64(Yc), 1.0 / temperature, M, A, Aq)
    return M, (Zq, Cq, u, A, Aq, ctx)


def softmax_readout_reference(params: NetworkParams, Zc, Yc, Zq, temperature: float) -> np.ndarray:
    """NumPy reference of :func:`softmax_readout`'s ``M`` ``(n, Q)``: per prompt and query, the context's and the
    query's scores, a log-sum-exp, the weighted labels (a loop, explicit)."""
    n, Q = Zq.shape[:2]
    M = np.empty((n, Q))
    for p in range(n):
        for q in range(Q):
            c = params.W_C @ Zq[p, q]
            s = np.append(Zc[p] @ params.W_B.T @ c, (params.W_B @ Zq[p, q]) @ c) / temperature
            a = np.exp(s - np.logaddexp.reduce(s))
            M[p, q] = a[:-1] @ Yc[p]
    return M


__all__ = ("TOKENS", "NetworkParams", "token_width", "embed_tokens", "gate_offset", "context_statistic",
           "context_statistic_reference", "context_gates_reference", "gate_adjoint", "gate_adjoint_reference",
           "query_decay", "scan_outputs", "mlp_forward", "mlp_head", "mlp_head_reference", "predict", "embed_row",
           "softmax_readout", "softmax_readout_reference")
