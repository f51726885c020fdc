"""Hermite tokens without the embedding: every map of a token ``z = (phi(x), y)`` that is linear in ``z`` is a
quadratic form of the augmented input ``x~ = (x, 1)`` (docs/single_index.md, "The quadratic form of the Hermite
features").  This module holds the maps between feature weights and forms, and the two kernels the end-to-end
networks (:mod:`mamba_dynamics.single_index.network`) spend their context passes in:

* values ``x~_i^T T x~_i`` of one upper-triangular form ``T`` ``(e, e)`` at every token of a prompt
  (:func:`quad_values`; the gate pre-activations, the adjoint's ``z_i . U_p``, the softmax scores);
* moments ``sum_i c_i x~_i x~_i^T`` of weighted tokens, upper triangle only (:func:`moments`; the statistic
  ``A``, the gate gradient's ``sum_j ds_j z_j``, the softmax adjoint's ``U_q``).

Layout.  A prompt's inputs are held twice: as given, rows ``(N, d)``, and as columns ``x~`` ``(e, N)`` with the
constant coordinate last (:func:`columns`; ``e = d + 1``).  With the tokens in the vector lanes, a form's value
is ``x~^T T x~ = T_dd + sum_{k<d} x_k V_k`` with ``V = T[:d] X~`` computed by :func:`~mamba_dynamics.core.simd.gemm`
in bands of four rows of ``T`` that start at the band's diagonal (``T`` is upper-triangular: 176 of the 289
products per token at ``d = 16``), and the sum over ``k`` an element-wise pass.  A moment is ``X~ diag(c) X_r``
with ``X_r`` the weighted rows ``(c_i x_i, c_i)``, again in bands of four rows that start at the diagonal.  Each
element is summed in a fixed order (``gemm``'s: over the inner index in order; then the pass over ``k``), so the
values are the same bits on every machine, vector width and :mod:`~mamba_dynamics.core.simd` implementation.
At the papers' short-context size (64 prompts, ``N = 87``, ``d = 16``) each kernel takes about 45 µs where the
BLAS products on skinny shapes took 130 µs (docs/performance.md).

Glossary: ``X`` ``(n, N, d)`` inputs; ``XT`` ``(n, e, N)`` their columns with the constant row; ``T`` ``(e, e)``
or ``(n, Q, e, e)`` forms (:func:`quad_form`); ``u`` ``(D,)`` weights over the Hermite features and the label
(order of :func:`mamba_dynamics.single_index.data.embed`, label last); ``Mt`` ``(e, e)`` moments (upper triangle
meaningful).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from ..core.simd import gemm

#: rows of ``T`` (and of a moment) per :func:`~mamba_dynamics.core.simd.gemm` band
BAND = 4


@njit(cache=True)
def quad_form(u, T):  # pragma: no cover - compiled
    """The upper-triangular ``T`` ``(d+1, d+1)`` with ``x~^T T x~ = phi(x) . u[:d~]`` for every ``x``, from
    weights ``u`` over the Hermite features (order of :func:`data.embed`: const, linear, square, cross):
    ``T[k, q] = u_kq`` (cross, ``k < q < d``), ``T[k, k] = u_sq,k / sqrt 2``, ``T[k, d] = u_lin,k``, ``T[d, d] =
    u_const - sum_k u_sq,k / sqrt 2`` (the squares' ``-1``), zero below the diagonal."""
    d = T.shape[0] - 1
    r2 = math.sqrt(2.0)
    T[:, :] = 0.0
    const = u[0]
    c = 1 + 2 * d
    for k in range(d):
        T[k, d] = u[1 + k]
        sq = u[1 + d + k] / r2
        T[k, k] = sq
        const -= sq
        for q in range(k + 1, d):
            T[k, q] = u[c]
            c += 1
    T[d, d] = const


@njit(cache=True)
def quad_forms(U, T):  # pragma: no cover - compiled
    """:func:`quad_form` of every row of ``U`` ``(K, D)`` into ``T`` ``(K, d+1, d+1)``."""
    for p in range(U.shape[0]):
        quad_form(U[p], T[p])


@njit(cache=True)
def features_of(Mt, out):  # pragma: no cover - compiled
    """The reverse map: ``out[:d~] = sum_i c_i phi(x_i)`` from the moment ``Mt = sum_i c_i x~_i x~_i^T`` ``(d+1,
    d+1)``, of which only the upper triangle is read (const ``Mt[d, d]``, linear ``Mt[k, d]``, square ``(Mt[k, k]
    - Mt[d, d]) / sqrt 2``, cross ``Mt[k, q]``, ``k < q``); the label slot ``out[d~]`` is left alone."""
    d = Mt.shape[0] - 1
    r2 = math.sqrt(2.0)
    tot = Mt[d, d]
    out[0] = tot
    c = 1 + 2 * d
    for k in range(d):
        out[1 + k] = Mt[k, d]
        out[1 + d + k] = (Mt[k, k] - tot) / r2
        for q in range(k + 1, d):
            out[c] = Mt[k, q]
            c += 1


@njit(cache=True)
def features_of_rows(Mt, out):  # pragma: no cover - compiled
    """:func:`features_of` of every moment ``Mt`` ``(K, d+1, d+1)`` into the rows of ``out`` ``(K, D)``."""
    for p in range(Mt.shape[0]):
        features_of(Mt[p], out[p])


@njit(cache=True)
def columns(X, XT):  # pragma: no cover - compiled
    """``XT[p] = [x_1 ... x_N; 1 ... 1]`` ``(n, d+1, N)``: each prompt's inputs ``X`` ``(n, N, d)`` as columns
    with the constant row last."""
    n, N, d = X.shape
    for p in range(n):
        for k in range(d):
            for i in range(N):
                XT[p, k, i] = X[p, i, k]
        for i in range(N):
            XT[p, d, i] = 1.0


@njit(cache=True)
def _form_values(T, Xp, V, out):  # pragma: no cover - compiled
    """``out[i] = x~_i^T T x~_i`` ``(N,)`` for one prompt's columns ``Xp`` ``(e, N)`` and an upper-triangular
    ``T`` ``(e, e)``: ``V[k] = sum_{q >= k} T[k, q] x~_q`` (``gemm`` bands from the diagonal; ``V`` ``(e-1, N)``
    scratch), then ``out = ((T_dd + x_0 V_0) + x_1 V_1) + ...``."""
    e, N = Xp.shape
    d = e - 1
    for k0 in range(0, d, BAND):
        gemm(T, k0 * e + k0, e, 1, Xp, k0 * N, N, V, k0 * N, N, min(BAND, d - k0), e - k0, N, False)
    c = T[d, d]
    for i in range(N):
        out[i] = c
    for k in range(d):
        for i in range(N):
            out[i] += Xp[k, i] * V[k, i]


@njit(cache=True)
def quad_values(T, XT, Y, uy, shift, out):  # pragma: no cover - compiled
    """``out[p, q, i] = x~_i^T T_pq x~_i + uy[p, q] y_pi + shift`` ``(n, Q, N)``: the value at every token ``i``
    of prompt ``p`` (columns ``XT`` ``(n, e, N)``, labels ``Y`` ``(n, N)``) of the forms ``T`` ``(n, Q, e, e)``
    (or ``(1, Q, e, e)``: the same forms for every prompt) with label weights ``uy`` ``(n or 1, Q)``: ``z_i . u``
    for ``T = T_u`` (:func:`quad_form`), ``uy = u_y``."""
    n, e, N = XT.shape
    Q = out.shape[1]
    V = np.empty((e - 1, N))
    for p in range(n):
        pt = p if T.shape[0] > 1 else 0
        pu = p if uy.shape[0] > 1 else 0
        for q in range(Q):
            row = out[p, q]
            _form_values(T[pt, q], XT[p], V, row)
            u = uy[pu, q]
            for i in range(N):
                row[i] = row[i] + u * Y[p, i] + shift


@njit(cache=True)
def _moment(Xp, Xr, c, R, Mt, accumulate):  # pragma: no cover - compiled
    """``Mt (+)= sum_i c_i x~_i x~_i^T`` ``(e, e)``, upper triangle, for one prompt's columns ``Xp`` ``(e, N)`` and
    rows ``Xr`` ``(N, e-1)``: the weighted rows ``R = (c_i x_i, c_i)`` ``(N, e)`` (scratch), ``gemm`` bands of
    ``X~ R`` from the diagonal, and ``Mt[d, d] = sum_i c_i`` in order."""
    e, N = Xp.shape
    d = e - 1
    for i in range(N):
        ci = c[i]
        for k in range(d):
            R[i, k] = ci * Xr[i, k]
        R[i, d] = ci
    for k0 in range(0, d, BAND):
        gemm(Xp, k0 * N, N, 1, R, k0, e, Mt, k0 * e + k0, e, min(BAND, d - k0), N, e - k0, accumulate)
    acc = Mt[d, d] if accumulate else 0.0
    for i in range(N):
        acc += c[i]
    Mt[d, d] = acc


@njit(cache=True)
def moments(X, XT, C, Mt):  # pragma: no cover - compiled
    """``Mt[p, q] = sum_i C[p, q, i] x~_i x~_i^T`` ``(n, Q, e, e)`` (upper triangles) over the tokens of prompt
    ``p`` (rows ``X`` ``(n, N, d)``, columns ``XT`` ``(n, e, N)``), weights ``C`` ``(n, Q, N)``.  With ``Mt``
    ``(1, Q, e, e)`` the moments are summed over the prompts (in order of ``p``, each over ``i`` in order)."""
    n, e, N = XT.shape
    Q = C.shape[1]
    R = np.empty((N, e))
    total = Mt.shape[0] == 1
    for p in range(n):
        for q in range(Q):
            _moment(XT[p], X[p], C[p, q], R, Mt[0 if total else p, q], total and p > 0)


# ---------------------------------------------------------------------------------- the NumPy references


def augment_reference(X: np.ndarray) -> np.ndarray:
    """``x~ = (x, 1)`` ``(..., d+1)`` for inputs ``X`` ``(..., d)``."""
    return np.concatenate([X, np.ones(X.shape[:-1] + (1,))], axis=-1)


def quad_values_reference(T, X, Y, uy, shift) -> np.ndarray:
    """NumPy reference of :func:`quad_values` from the rows ``X`` ``(n, N, d)``: ``(n, Q, N)``."""
    Xt = augment_reference(X)
    T = np.broadcast_to(T, (X.shape[0],) + T.shape[1:])
    uy = np.broadcast_to(uy, (X.shape[0], T.shape[1]))
    return np.einsum("nik,nqkl,nil->nqi", Xt, T, Xt) + uy[:, :, None] * Y[:, None, :] + shift


def moments_reference(X, C, total: bool = False) -> np.ndarray:
    """NumPy reference of :func:`moments` (full symmetric moments ``(n, Q, e, e)``, or ``(1, Q, e, e)`` summed
    over the prompts with ``total``)."""
    Xt = augment_reference(X)
    M = np.einsum("nqi,nik,nil->nqkl", C, Xt, Xt)
    return M.sum(axis=0, keepdims=True) if total else M


__all__ = ("BAND", "quad_form", "quad_forms", "features_of", "features_of_rows", "columns", "quad_values",
           "moments", "augment_reference", "quad_values_reference", "moments_reference")
