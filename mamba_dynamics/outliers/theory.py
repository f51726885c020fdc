"""Predictions of the outlier-ICL theorems (arXiv 2510.00399, Theorems 1-4, Corollaries 1-2).

The theorems state orders of growth (``Theta``, ``>~``); the functions return the expression inside with
constant 1, so they are meant for reference lines and scalings, not as sharp numbers.

Glossary: ``eta`` = eta (SGD step), ``p_a`` = training outlier fraction, ``beta`` = pattern norm,
``M1`` = number of relevant patterns, ``l_tr``/``l_ts`` = training/testing prompt length, ``alpha`` = test
outlier fraction, ``eps`` = target error, ``V`` = number of outlier patterns, ``kappa_a`` = outlier magnitude.
"""

from __future__ import annotations

import math


def iterations_mamba(eta: float, p_a: float, beta: float, M1: int) -> float:
    """Thm 1: ``T_M = Theta(eta^-1 (1-p_a)^-1 beta^-2 M1)``."""
    return M1 / (eta * (1.0 - p_a) * beta**2)


def iterations_lt(eta: float, p_a: float, beta: float, M1: int, l_tr: int) -> float:
    """Thm 3: ``T_T = Theta(eta^-1 (1-p_a)^-1 beta^-2 l_tr^-1 M1)``, i.e. ``T_M = Theta(l_tr) T_T``."""
    return iterations_mamba(eta, p_a, beta, M1) / l_tr


def min_train_length_mamba(p_a: float, M1: int) -> float:
    """Thm 1: ``l_tr >~ (1-p_a)^-1 log M1``."""
    return math.log(M1) / (1.0 - p_a)


def min_batch_mamba(p_a: float, M1: int, V: int, beta: float, kappa_a: float, eps: float) -> float:
    """Thm 1: ``B >= max(B_T, beta^-4 V^2 kappa_a^-2 (1-p_a)^-2 log 1/eps)``,
    ``B_T = max(eps^-2, M1 (1-p_a)^-1) log 1/eps``."""
    log_e = math.log(1.0 / eps)
    b_t = max(eps**-2, M1 / (1.0 - p_a)) * log_e
    return max(b_t, V**2 / (beta**4 * kappa_a**2 * (1.0 - p_a) ** 2) * log_e)


def alpha_max_mamba(p_a: float, l_tr: int, l_ts: int) -> float:
    """Thm 2: Mamba's test error is ``<= eps`` for ``alpha < min(1, p_a l_tr / l_ts)``."""
    return min(1.0, p_a * l_tr / l_ts)


ALPHA_MAX_LT = 0.5
"""Thm 4: the linear Transformer needs ``alpha < 1/2``."""


def alpha_max(model: str, p_a: float, l_tr: int, l_ts: int) -> float:
    """Largest test outlier fraction the theory covers for ``model`` in {"mamba", "lt"}."""
    return alpha_max_mamba(p_a, l_tr, l_ts) if model == "mamba" else ALPHA_MAX_LT


def min_test_length_mamba(alpha: float, M1: int) -> float:
    """Thm 2: ``l_ts >= (1-alpha)^-1 log M1`` (infinite at ``alpha = 1``)."""
    return math.inf if alpha >= 1 else math.log(M1) / (1.0 - alpha)


def min_test_length_lt(alpha: float, M1: int) -> float:
    """Thm 4: ``l_ts >~ max((1-alpha)^-1, (1/2-alpha)^-2 alpha) log M1`` (infinite for ``alpha >= 1/2``)."""
    if alpha >= 0.5:
        return math.inf
    return max(1.0 / (1.0 - alpha), alpha / (0.5 - alpha) ** 2) * math.log(M1)


def covered(model: str, alpha: float, p_a: float, l_tr: int, l_ts: int, M1: int) -> bool:
    """Whether the theorems (2 for Mamba, 4 for LT) guarantee small test error at this setting."""
    if model == "mamba":
        return alpha < alpha_max_mamba(p_a, l_tr, l_ts) and l_ts >= min_test_length_mamba(alpha, M1)
    return alpha < ALPHA_MAX_LT and l_ts >= min_test_length_lt(alpha, M1)


def clean_gate_profile(k: int) -> float:
    """Cor. 2: the k-th closest clean example (``k >= 1``) keeps a gate ``>= Theta(2^-(k-1))``."""
    return 2.0 ** (-(k - 1))


def same_pattern_floor(alpha: float, l_ts: int) -> float:
    """Not from the paper: error of a reader that votes only with clean examples sharing the query's pattern
    and guesses when there is none.  A test prompt has ``n = l_ts - round(alpha l_ts)`` clean examples, each
    with the query's pattern with probability 1/2, so the floor is ``(1/2) 2^-n``.  It explains why any
    same-pattern mechanism (Cor. 1) must fail as ``alpha -> 1`` at fixed ``l_ts``."""
    n_clean = l_ts - int(math.floor(alpha * l_ts + 0.5))
    return 0.5 * 2.0 ** (-n_clean)


def alpha_margin(model: str, alpha: float, p_a: float, l_tr: float, l_ts: float) -> float:
    """``alpha_max(model, ...) - alpha``: positive inside the region Thm 2 (Mamba) / Thm 4 (LT) covers, zero on
    the boundary drawn on phase diagrams (``alpha = min(1, p_a l_tr / l_ts)`` or ``alpha = 1/2``)."""
    return alpha_max(model, p_a, l_tr, l_ts) - alpha
