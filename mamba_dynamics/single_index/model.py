"""Gated Mamba readout with ``W_B^T W_C = diag(gamma, 0)``, its linear-attention ablation, and the MLP head
(arXiv 2510.12026; spec sections 2.2-2.4 and 7).

With tokens ``z_i = (phi(x_i), y_i)``, ``z_q = (phi(x), 0)`` and gate weights ``w = (b, 0, ..., 0, 1/rho)`` (``b`` on
the constant feature), the one-layer Mamba of eq. (3) of arXiv 2510.00399 reads

    Mamba(Z; gamma) = sum_i G_i y_i <gamma, phi(x_i) * phi(x)> = <gamma, psi>,
    psi = phi(x) * sum_i G_i y_i phi(x_i),        G_i = sig(s_i) prod_{j>i} (1 - sig(s_j)),

with ``s_i = b + y_i / rho`` on context tokens and ``s_q = b`` on the query (``*`` is the entrywise product).
The linear-attention ablation uses ``G_i = 1/N``.  The MLP head is ``f = sum_j a_j ReLU(v_j M + b_j)``.

The naive reference :func:`psi_reference` embeds every token explicitly; the Numba :func:`context_statistic`
never materialises the embedding.  Both are tested equal to the raw selective scan of
:mod:`mamba_dynamics.core.scan`.

Glossary: ``psi`` ``(n, d~)`` = the gated context-feature vector (``M = psi @ gamma``); ``G`` ``(n, N)``;
``v``, ``bj``, ``a`` ``(m,)`` = MLP first-layer signs, biases, output weights.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from ..core.gating import log_gates, log_gates_row
from .data import embed


def gate_preactivations(Y: np.ndarray, rho: float, b: float) -> np.ndarray:
    """``s`` ``(n, N+1)``: ``b + y_i / rho`` on the context, ``b`` on the query (its label slot is 0)."""
    s = b + Y / rho
    s[:, -1] = b
    return s


def gates(Y: np.ndarray, rho: float, b: float, gated: bool = True) -> np.ndarray:
    """``G`` ``(n, N)``: the Mamba gate (log space, shared :mod:`mamba_dynamics.core.gating`) or ``1/N``."""
    n, lp1 = Y.shape
    if not gated:
        return np.full((n, lp1 - 1), 1.0 / (lp1 - 1))
    return np.exp(log_gates(gate_preactivations(Y, rho, b)))


def psi_reference(X: np.ndarray, Y: np.ndarray, rho: float, b: float, gated: bool = True) -> np.ndarray:
    """NumPy reference of ``psi`` ``(n, d~)`` through the explicit embedding of every token."""
    G = gates(Y, rho, b, gated)
    Phi = embed(X)  # (n, N+1, d~)
    ctx = np.einsum("bi,bik->bk", G * Y[:, :-1], Phi[:, :-1])
    return Phi[:, -1] * ctx


@njit(cache=True)
def _context_kernel(X, Y, rho, b, gated, out):  # pragma: no cover - compiled
    n, lp1, d = X.shape
    N = lp1 - 1
    s = np.empty(lp1)
    logG = np.empty(N)
    wts = np.empty(N)
    lin = np.empty(d)
    sq = np.empty(d)
    cross = np.empty((d, d))
    r2 = math.sqrt(2.0)
    for p in range(n):
        if gated:
            for j in range(N):
                s[j] = b + Y[p, j] / rho
            s[N] = b
            log_gates_row(s, logG)
            for i in range(N):
                wts[i] = math.exp(logG[i]) * Y[p, i]
        else:
            for i in range(N):
                wts[i] = Y[p, i] / N
        m0 = 0.0
        lin[:] = 0.0
        sq[:] = 0.0
        cross[:, :] = 0.0
        for i in range(N):
            wi = wts[i]
            m0 += wi
            for k in range(d):
                xk = X[p, i, k]
                wx = wi * xk
                lin[k] += wx
                sq[k] += wi * (xk * xk - 1.0) / r2
                for q in range(k + 1, d):
                    cross[k, q] += wx * X[p, i, q]
        out[p, 0] = m0
        c = 1 + 2 * d
        for k in range(d):
            out[p, 1 + k] = lin[k]
            out[p, 1 + d + k] = sq[k]
            for q in range(k + 1, d):
                out[p, c] = cross[k, q]
                c += 1


def context_statistic(X: np.ndarray, Y: np.ndarray, rho: float, b: float, gated: bool = True) -> np.ndarray:
    """Numba ``A = sum_i G_i y_i phi(x_i)`` ``(n, d~)`` over the ``N`` context examples of each prompt (the query
    row ``X[:, -1]`` only enters through its gate factor ``1 - sig(b)``); O(N d^2) per prompt without
    materialising the embedding.  ``psi = phi(x) * A`` for any query ``x`` of that prompt."""
    n, _, d = X.shape
    out = np.empty((n, (d + 1) * (d + 2) // 2))
    _context_kernel(np.ascontiguousarray(X, dtype=np.float64), np.ascontiguousarray(Y, dtype=np.float64),
                    float(rho), float(b), bool(gated), out)
    return out


def psi(X: np.ndarray, Y: np.ndarray, rho: float, b: float, gated: bool = True) -> np.ndarray:
    """Fast ``psi`` ``(n, d~)`` = ``phi(x_query) * A`` with the Numba context statistic."""
    return embed(X[:, -1]) * context_statistic(X, Y, rho, b, gated)


def mlp(M: np.ndarray, v: np.ndarray, bj: np.ndarray, a: np.ndarray) -> np.ndarray:
    """``f = sum_j a_j ReLU(v_j M + b_j)`` for ``M`` ``(n,)``."""
    return np.maximum(np.outer(M, v) + bj, 0.0) @ a


def mlp_slope(M: np.ndarray, v: np.ndarray, bj: np.ndarray, a: np.ndarray) -> np.ndarray:
    """``df/dM = sum_j a_j v_j 1[v_j M + b_j > 0]`` ``(n,)``."""
    return ((np.outer(M, v) + bj) > 0.0) @ (a * v)
