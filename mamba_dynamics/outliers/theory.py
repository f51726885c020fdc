"""Predictions of the outlier-ICL theorems (arXiv 2510.00399, Theorems 1-4, Corollaries 1-2).

The theorems state orders of growth (``Theta``, ``>~``); the functions return the expression inside with
constant 1, so they are meant for reference lines and scalings, not as sharp numbers.

Glossary: ``eta`` = eta (SGD step), ``p_a`` = training outlier fraction, ``beta`` = pattern norm,
``M1`` = number of relevant patterns, ``l_tr``/``l_ts`` = training/testing prompt length, ``alpha`` = test
outlier fraction, ``eps`` = target error, ``V`` = number of outlier patterns, ``kappa_a`` = outlier magnitude.
"""

from __future__ import annotations

import math

import numpy as np


def iterations_mamba(eta: float, p_a: float, beta: float, M1: int) -> float:
    """Thm 1: ``T_M = Theta(eta^-1 (1-p_a)^-1 beta^-2 M1)``."""
    return M1 / (eta * (1.0 - p_a) * beta**2)


def iterations_lt(eta: float, p_a: float, beta: float, M1: int, l_tr: int) -> float:
    """Thm 3: ``T_T = Theta(eta^-1 (1-p_a)^-1 beta^-2 l_tr^-1 M1)``, i.e. ``T_M = Theta(l_tr) T_T``."""
    return iterations_mamba(eta, p_a, beta, M1) / l_tr


#: Exponent of the iteration count in each quantity it depends on (Thm 1's eq. 9, Thm 3's eq. 14), by model;
#: ``p_a`` enters as ``1 - p_a``.  Remark 4 (``T_M = Theta(l_tr) T_T``) is the difference of the ``l_tr`` rows.
ITERATION_EXPONENTS = {
    "mamba": {"eta": -1.0, "p_a": -1.0, "beta": -2.0, "M1": 1.0, "l_tr": 0.0},
    "lt": {"eta": -1.0, "p_a": -1.0, "beta": -2.0, "M1": 1.0, "l_tr": -1.0},
}


def law_variable(field: str, value: float) -> float:
    """The quantity the iteration laws are a power of, for a swept config field: ``1 - p_a`` for ``p_a``, the
    value itself for ``eta``, ``beta``, ``M1``, ``l_tr``."""
    return 1.0 - value if field == "p_a" else float(value)


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
    """Whether the theorems (2 for Mamba, 4 for LT) guarantee small test error at this setting (their alpha and
    l_ts conditions; :func:`conditions` lists every condition encoded, one by one)."""
    if model == "mamba":
        return alpha < alpha_max_mamba(p_a, l_tr, l_ts) and l_ts >= min_test_length_mamba(alpha, M1)
    return alpha < ALPHA_MAX_LT and l_ts >= min_test_length_lt(alpha, M1)


def min_batch_lt(p_a: float, M1: int, eps: float) -> float:
    """Thms 1 and 3's preamble: ``B_T = max(eps^-2, M1 (1-p_a)^-1) log 1/eps``."""
    return max(eps**-2, M1 / (1.0 - p_a)) * math.log(1.0 / eps)


def max_outlier_scale(V: int, beta: float, p_a: float, eps: float) -> float:
    """Thm 1(ii) and Thm 3(ii): ``kappa_a <~ V beta (1-p_a) p_a^-1 eps^-1`` (infinite at ``p_a = 0``)."""
    return math.inf if p_a == 0 else V * beta * (1.0 - p_a) / (p_a * eps)


def test_coefficient_floor(test_coefs) -> float:
    """``L`` of eq. 11: the lower bound on the sum of a test outlier's coefficients on the training outliers (the
    smallest row sum of ``test_coefs``; ``V'`` needs it positive)."""
    return min(float(sum(row)) for row in test_coefs)


#: status of a condition row: it holds, it fails, or it cannot be checked from the config (a bound whose order
#: the paper leaves unstated, e.g. the degree of ``poly(M1^kappa_a)``)
HOLDS, FAILS, UNCHECKED = True, False, None


def _row(source: str, what: str, holds, detail: str) -> tuple:
    return (f"{source}: {what}", holds, detail)


def conditions(cfg, eps: float = 0.01) -> list[tuple[str, bool | None, str]]:
    """Every condition of the theorems that cover ``cfg``'s model (Thms 1-2 for Mamba, Thms 3-4 for the linear
    Transformer and every other mixer, which the paper does not bound), evaluated for an
    :class:`~mamba_dynamics.outliers.config.OutlierConfig` with the unknown ``Theta`` constant of every order set to
    1 (``>~`` read as ``>=``): ``(name, holds, detail)`` rows, ``holds`` True, False, or None where the condition
    cannot be checked (the degree of ``poly(M1^kappa_a)`` is not given).  Sources: the theorem and its item, and
    the equation where the paper numbers it (../shared/specs/outliers_2510.00399_theorems.md, Sec. 4); ``L`` of
    eq. 11 is :func:`test_coefficient_floor` of the test coefficients."""
    p_a, M1, V, beta, ka, kt = cfg.p_a, cfg.M1, cfg.V, cfg.beta, cfg.kappa_a, cfg.kappa_a_test
    L = test_coefficient_floor(cfg.test_coefs)
    ka_max = max_outlier_scale(V, beta, p_a, eps)
    ltr_min = min_train_length_mamba(p_a, M1)
    test_a = _row("Thm 2(a)" if cfg.model == "mamba" else "Thm 4(a)", "eq. 11: test outliers in V' (coefficient sums "
                  "> 0)", L > 0, f"smallest coefficient sum L = {L:.3g}" +
                  (f"; plus an orthogonal part of {cfg.test_orth:g}, outside the span" if cfg.test_orth else ""))
    unstated = "the degree of poly(M1^kappa_a) is not given"
    if cfg.model == "mamba":
        b_min = min_batch_mamba(p_a, M1, V, beta, ka, eps)
        kt_max = math.inf if p_a == 0 else V * beta * (1.0 - p_a) / (p_a * ka * L * eps)
        amax = alpha_max_mamba(p_a, cfg.l_tr, cfg.l_ts)
        lts_min = min_test_length_mamba(cfg.alpha, M1)
        return [
            _row("Thm 1(i)", f"B >= B_M (eps = {eps:g})", cfg.batch >= b_min, f"B = {cfg.batch}, B_M = {b_min:.3g}"),
            _row("Thm 1(ii)", "kappa_a >= V beta^-4", ka >= V / beta**4, f"kappa_a = {ka:g}, bound {V / beta**4:.3g}"),
            _row("Thm 1(ii)", "kappa_a <= V beta (1-p_a) / (p_a eps)", ka <= ka_max, f"kappa_a = {ka:g}, bound "
                 f"{ka_max:.3g}"),
            _row("Thm 1(iii)", "eq. 8: l_tr >= log(M1) / (1 - p_a)", cfg.l_tr >= ltr_min, f"l_tr = {cfg.l_tr}, "
                 f"minimum {ltr_min:.3g}"),
            _row("Thm 1(iii)", "eq. 8: l_tr <~ poly(M1^kappa_a) / p_a", UNCHECKED, unstated),
            test_a,
            _row("Thm 2(b)", "kappa'_a >= kappa_a", kt >= ka, f"kappa'_a = {kt:.3g}, kappa_a = {ka:g}"),
            _row("Thm 2(b)", "kappa'_a <= V beta (1-p_a) / (p_a kappa_a L eps)", kt <= kt_max,
                 f"kappa'_a = {kt:.3g}, bound {kt_max:.3g}"),
            _row("Thm 2(c)", "alpha < min(1, p_a l_tr / l_ts)", cfg.alpha < amax, f"alpha = {cfg.alpha:g}, bound "
                 f"{amax:.3g}"),
            _row("Thm 2(d)", "eq. 12: l_ts >= log(M1) / (1 - alpha)", cfg.l_ts >= lts_min, f"l_ts = {cfg.l_ts}, "
                 f"minimum {lts_min:.3g}"),
            _row("Thm 2(d)", "eq. 12: l_ts <~ poly(M1^kappa_a) / alpha", UNCHECKED, unstated),
        ]
    b_t = min_batch_lt(p_a, M1, eps)
    kt_max = math.inf if p_a == 0 else V * beta * (1.0 - p_a) * cfg.l_tr / (p_a * ka * L * eps)
    lts_min = min_test_length_lt(cfg.alpha, M1)
    return [
        _row("Thm 3(i)", f"B >= B_T (eps = {eps:g})", cfg.batch >= b_t, f"B = {cfg.batch}, B_T = {b_t:.3g}"),
        _row("Thm 3(ii)", "kappa_a <= V beta (1-p_a) / (p_a eps)", ka <= ka_max, f"kappa_a = {ka:g}, bound "
             f"{ka_max:.3g}"),
        _row("Thm 3(iii)", "l_tr >= log(M1) / (1 - p_a)", cfg.l_tr >= ltr_min, f"l_tr = {cfg.l_tr}, minimum "
             f"{ltr_min:.3g}"),
        test_a,
        _row("Thm 4(b)", "kappa'_a <= V beta (1-p_a) l_tr / (p_a kappa_a L eps)", kt <= kt_max,
             f"kappa'_a = {kt:.3g}, bound {kt_max:.3g}"),
        _row("Thm 4(c)", "alpha < 1/2", cfg.alpha < ALPHA_MAX_LT, f"alpha = {cfg.alpha:g}"),
        _row("Thm 4(d)", "eq. 15: l_ts >= max((1-alpha)^-1, alpha (1/2-alpha)^-2) log M1", cfg.l_ts >= lts_min,
             f"l_ts = {cfg.l_ts}, minimum {lts_min:.3g}"),
        _row("Section 3.2", "kappa'_a >= kappa_a", kt >= ka, f"kappa'_a = {kt:.3g}, kappa_a = {ka:g}"),
    ]


MIN_RANK_PROMPTS = 20
"""Cor. 2's gate-by-rank check uses only ranks seen in at least this many test prompts (the last ranks of a
profile rest on a handful of prompts and are noise)."""


def trained_checks(cfg, final: dict, eps: float = 0.01) -> list[tuple[str, bool, str]]:
    """The corollaries' statements about a *trained* model, checked on its measured quantities (constant 1 in
    every order): ``(name, holds, detail)`` rows.

    ``final`` holds the last logged scalars ``attn_same``, ``attn_other``, ``gate_outlier`` and the gate profile
    ``gate_by_rank`` / ``gate_rank_count`` (shapes ``(l_ts,)``) of :func:`mamba_dynamics.outliers.metrics.gate_profile`.

    - Cor. 1: ``attn_same >= 1`` (``Theta(1)``) and ``attn_other <= eps / (1 - p_a)`` (signed sums, as stated).
    - Cor. 2(i), Mamba only: the mean gate of outlier examples is ``<= 1 / M1`` (``O(1/poly(M1))``, exponent 1).
    - Cor. 2(ii), Mamba only: the ``k``-th closest clean example keeps ``G_k / G_1 >= 2^-(k-1)`` for every rank
      seen in at least :data:`MIN_RANK_PROMPTS` prompts (the ratio to the closest removes the order's constant).
    """
    other_max = eps / (1.0 - cfg.p_a)
    rows = [
        ("Cor 1: same-pattern attention sum >= 1", final["attn_same"] >= 1.0, f"sum = {final['attn_same']:.4g}"),
        (f"Cor 1: other-example attention sum <= eps / (1 - p_a) (eps = {eps:g})", final["attn_other"] <= other_max,
         f"sum = {final['attn_other']:.4g}, bound {other_max:.3g}"),
    ]
    if cfg.gated:
        rows.append(("Cor 2(i): mean outlier gate <= 1 / M1", final["gate_outlier"] <= 1.0 / cfg.M1,
                     f"gate = {final['gate_outlier']:.3e}, bound {1.0 / cfg.M1:.3g}"))
        by_rank = np.asarray(final["gate_by_rank"], dtype=np.float64)
        seen = np.flatnonzero(np.asarray(final["gate_rank_count"]) >= MIN_RANK_PROMPTS)
        seen = seen[seen > 0]  # k = 1 is the reference
        if seen.size and by_rank[0] > 0:
            ratio = by_rank[seen] / by_rank[0] * 2.0 ** seen
            worst = int(seen[np.argmin(ratio)])
            rows.append(("Cor 2(ii): clean gate G_k / G_1 >= 2^-(k-1)", bool(ratio.min() >= 1.0),
                         f"ranks 2..{seen[-1] + 1}; smallest G_k 2^(k-1) / G_1 = {ratio.min():.3g} at k = {worst + 1}"))
    return rows


def failing(cfg, eps: float = 0.01) -> list[str]:
    """Names of the encoded conditions that ``cfg`` violates (empty: every encoded condition holds)."""
    return [name for name, holds, _ in conditions(cfg, eps) if holds is FAILS]


def clean_gate_profile(k: int) -> float:
    """Cor. 2: the k-th closest clean example (``k >= 1``) keeps a gate ``>= Theta(2^-(k-1))``."""
    return 2.0 ** (-(k - 1))


def same_pattern_floor(alpha: float, l_ts: int, outlier_count: str = "exact") -> float:
    """Not from the paper: error of a reader that votes only with clean examples sharing the query's pattern
    and guesses when there is none.  Each clean example has the query's pattern with probability 1/2, so with
    ``n`` clean examples the floor is ``(1/2) 2^-n``.  With ``exact`` counts ``n = l_ts - round(alpha l_ts)``; with
    ``per-example`` counts ``n ~ Binomial(l_ts, 1 - alpha)`` and the mean floor is ``(1/2) ((1 + alpha)/2)^l_ts``.
    It explains why any same-pattern mechanism (Cor. 1) must fail as ``alpha -> 1`` at fixed ``l_ts``."""
    if outlier_count == "per-example":
        return 0.5 * ((1.0 + alpha) / 2.0) ** l_ts
    n_clean = l_ts - int(math.floor(alpha * l_ts + 0.5))
    return 0.5 * 2.0 ** (-n_clean)


def alpha_margin(model: str, alpha: float, p_a: float, l_tr: float, l_ts: float) -> float:
    """``alpha_max(model, ...) - alpha``: positive inside the region Thm 2 (Mamba) / Thm 4 (LT) covers, zero on
    the boundary drawn on phase diagrams (``alpha = min(1, p_a l_tr / l_ts)`` or ``alpha = 1/2``)."""
    return alpha_max(model, p_a, l_tr, l_ts) - alpha
