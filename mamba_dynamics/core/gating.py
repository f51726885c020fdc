"""The selective gate of one-layer Mamba, computed in log space (shared by every gated model).

Paper: arXiv 2510.00399, eq. (3).  With ``A = -I`` and ``Delta_j = softplus(w^T p_j)`` the scan multiplies the
state by ``exp(-Delta_j) = 1 - sigmoid(w^T p_j)`` and writes ``1 - exp(-Delta_j) = sigmoid(w^T p_j)`` of the new
token, so example ``i`` reaches the query with weight

    G_i(w) = sigmoid(t_i) * prod_{j=i+1}^{l+1} (1 - sigmoid(t_j)),     t_j = w^T p_j,

where index ``l+1`` is the query.  In log space

    log G_i = -softplus(-t_i) - sum_{j=i+1}^{l+1} softplus(t_j),

a reverse cumulative sum: O(l) per prompt, no underflow or overflow for any ``t`` or ``l`` (``G`` may underflow
to exactly 0, never to NaN).

Glossary: ``t`` = ``w^T p_j`` (gate pre-activation), ``logG`` = ``log G_i``, ``sig`` = ``sigmoid(t_j)``.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .simd import exp_nonpos, log1p_unit


def softplus(t: np.ndarray) -> np.ndarray:
    """``log(1 + exp(t))`` without overflow; any shape."""
    return np.logaddexp(0.0, t)


def sigmoid(t: np.ndarray) -> np.ndarray:
    """``1 / (1 + exp(-t))`` without overflow; any shape."""
    return np.exp(-softplus(-t))


def log_gates(t: np.ndarray) -> np.ndarray:
    """Fast O(l) log-gates.  ``t``: ``(..., l+1)`` pre-activations (query last) -> ``(..., l)`` values log G_i."""
    c = -softplus(t)  # log(1 - sigmoid(t_j))
    suffix = np.cumsum(c[..., ::-1], axis=-1)[..., ::-1]  # suffix[i] = sum_{j >= i} c_j
    return -softplus(-t[..., :-1]) + suffix[..., 1:]


def log_gates_naive(t: np.ndarray) -> np.ndarray:
    """Reference O(l^2) log-gates, a literal transcription of the product in eq. (3).  Same shapes as
    :func:`log_gates`."""
    lp1 = t.shape[-1]
    later = np.triu(np.ones((lp1 - 1, lp1)), k=1)  # later[i, j] = 1 iff j > i
    return -softplus(-t[..., :-1]) + (-softplus(t)) @ later.T


@njit(cache=True)
def softplus_scalar(x: float) -> float:
    """Scalar ``log(1 + exp(x))``, overflow-free (Numba)."""
    if x > 0.0:
        return x + np.log1p(np.exp(-x))
    return np.log1p(np.exp(x))


@njit(cache=True)
def log_gates_row(t: np.ndarray, out: np.ndarray) -> None:
    """Numba O(l) log-gates of one prompt: ``t`` ``(l+1,)`` -> ``out`` ``(l,)``."""
    l = t.shape[0] - 1
    acc = -softplus_scalar(t[l])  # log(1 - sigmoid(t_query))
    for i in range(l - 1, -1, -1):
        out[i] = -softplus_scalar(-t[i]) + acc
        acc -= softplus_scalar(t[i])


@njit(cache=True, inline="always")
def _sigmoids_from_exp(t: float, e: float) -> tuple:
    """``(sigmoid(t), 1 - sigmoid(t))`` from ``e = exp(-|t|)`` and one division, both without cancellation; the
    sign test is a select, not a branch (the shared tail of the one-exp forms below)."""
    inv = 1.0 / (1.0 + e)
    ei = e * inv
    pos = t >= 0.0
    return (inv if pos else ei), (ei if pos else inv)


@njit(cache=True, inline="always")
def sigmoid_log_pair(t: float) -> tuple:
    """``(sigmoid(t), sigmoid(-t), log sigmoid(t), log sigmoid(-t))`` from one ``exp(-|t|)``, one ``log1p`` and
    one division, all without cancellation for any ``t`` (``log sigmoid(+-t) = -max(-+t, 0) - log1p(exp(-|t|))``;
    Numba, libm's ``exp`` and ``log1p``): the reference that :func:`sigmoid_log_pair_poly`, which the single-index
    gate pass runs, is tested against."""
    e = np.exp(-abs(t))
    lg = np.log1p(e)
    sp, sn = _sigmoids_from_exp(t, e)
    pos = t >= 0.0
    return sp, sn, -(lg if pos else lg - t), -((lg + t) if pos else lg)


@njit(cache=True, inline="always")
def sigmoid_log_pair_poly(t: float) -> tuple:
    """:func:`sigmoid_log_pair` with ``exp`` and ``log1p`` by :func:`~mamba_dynamics.core.simd.exp_nonpos` and
    :func:`~mamba_dynamics.core.simd.log1p_unit` (within 1 and 3 ulp of libm): no call, so a loop of it
    vectorises when compiled with ``error_model="numpy"`` (inlined into the single-index gate pass)."""
    e = exp_nonpos(-abs(t))
    lg = log1p_unit(e)
    sp, sn = _sigmoids_from_exp(t, e)
    pos = t >= 0.0
    return sp, sn, -(lg if pos else lg - t), -((lg + t) if pos else lg)


@njit(cache=True, inline="always")
def sigmoid_pair(t: float) -> tuple:
    """``(sigmoid(t), 1 - sigmoid(t))`` from one ``exp(-|t|)`` and one division, both without cancellation for
    any ``t``; the sign test is a select, not a branch (Numba, inlined into the gate loops of every kernel)."""
    return _sigmoids_from_exp(t, np.exp(-abs(t)))


@njit(cache=True, inline="always")
def sigmoid_pair_poly(t: float) -> tuple:
    """:func:`sigmoid_pair` with ``exp`` by :func:`~mamba_dynamics.core.simd.exp_nonpos` (within 1 ulp of libm):
    no call, so a loop of it vectorises when compiled with ``error_model="numpy"`` (Numba's default error model
    puts a zero-division check around the division, which keeps the loop scalar; ``1 + e >= 1`` is never zero).
    Inlined into the outlier kernel's gate pass."""
    return _sigmoids_from_exp(t, exp_nonpos(-abs(t)))
