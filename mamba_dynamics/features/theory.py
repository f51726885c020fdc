"""Bounds of the feature-filtering paper (arXiv 2602.12499, Theorems 1-2, Lemmas 4.1-4.2; docs/features.md).

Only scalings are given by the paper (constants hidden in Theta / Omega), so every function takes a constant
``C`` (default 1) and the scaling scripts fit it to the measurements; the exponents are what is tested.

* Majority voting (Thm 1, Lemma 4.1): ``T = Theta(L^p / (eta (alpha_r - alpha_c)^2))`` and
  ``N >= Omega(L^p d / (eta^2 (alpha_r - alpha_c)^2))``.  The arXiv v1 summary carries ``p = 2``, the ICLR
  version ``p = 0``.  Lemma 4.1 bounds the alignment by ``(eta T / (8 L^2)) Theta((alpha_r L - alpha_c L)^2) =
  eta T Theta((alpha_r - alpha_c)^2) / 8``: the L^2 cancels, so the time to reach a fixed alignment does not
  depend on L.  We take ``p = 0`` as the paper's own equations give it (:data:`L_POWER_MAJORITY`); ``p = 2`` is
  available for comparison.
* Local concentration (Thm 2, Lemma 4.2): the gap is replaced by ``delta = (1/2)^{Delta L^+} -
  (1/2)^{Delta L^-}``; ``N >= Omega(L^2 d / (eta^2 delta^2))`` and **``T = Theta(L^2 / (eta delta))``: delta to
  the first power** (Eq. 20 as the v1 reader and the PDF note give it; ../shared/specs/features_2602.12499_settings.md
  §3; an earlier reading of ours had delta^2).  Lemma 4.2's rate, ``<w, o_j> <= -(eta T c / (16 L)) 4 delta``, says
  the irrelevant alignment is pushed negative linearly in ``eta T delta / L``.
* **The sign law** (derived here from Eq. 5, not in the paper; :func:`irrelevant_push`): at ``w = 0`` with
  noise-free orthonormal tokens and ``W_B = W_C`` a multiple of ``I``, the output at the later token ``q`` of a pair
  ``(p, q)`` of one pattern at distance ``g`` carries ``sigma_q + P`` of that pattern, ``P = sigma_p (1 - sigma_q)
  prod_{p<j<q} (1 - sigma_j)``; the self terms cancel between the classes (two ``o_+`` and two ``o_-`` in every
  sequence), so the label's signal is ``P_close - P_spread`` (at ``w = 0`` equal to ``delta / 2``: Thm 2's
  bracket).  Each of the ``g - 1`` tokens inside a pair enters through ``d(1 - sigma_j)/du_j = -1/4`` at ``u_j =
  0``, so the first-order push of the label signal on the irrelevant directions is ``-[(g_c - 1) 2^-g_c - (g_s - 1)
  2^-g_s] / 4`` (close pair ``g_c = Delta L^+``, spread ``g_s = Delta L^-``).  At ``Delta L^+ = 1`` the close pair
  has nothing inside and the push is **positive**: the gate opens on irrelevant tokens; Lemma 4.2's negative sign
  needs ``(g_c - 1) 2^-g_c > (g_s - 1) 2^-g_s``.  The uniform irrelevant gate ``sigma`` that maximises the signal
  ``(1/2)(1 - sigma)^(g_c - 1) ... `` is :func:`sigma_star`.

Glossary: ``gap`` = alpha_r - alpha_c; ``delta`` = (1/2)^{gap_near} - (1/2)^{gap_far}; ``C`` = unknown constant.
"""

from __future__ import annotations

import numpy as np

from .config import FeaturesConfig

L_POWER_MAJORITY = 0.0
L_POWER_LOCALITY = 2.0
#: exponent of the signal in the iteration count: gap^-2 (Thm 1), delta^-1 (Thm 2, Eq. 20)
SIGNAL_POWER = {"majority": -2.0, "locality": -1.0}
#: exponent of the signal in the sample complexity: squared in both theorems (Eqs. 13, 19)
SAMPLE_SIGNAL_POWER = -2.0

#: predicted log-log slopes of iterations-to-target: (regime, varied quantity) -> exponent
PREDICTED_SLOPES = {("majority", "gap"): SIGNAL_POWER["majority"], ("majority", "L"): L_POWER_MAJORITY,
                    ("locality", "delta"): SIGNAL_POWER["locality"], ("locality", "L"): L_POWER_LOCALITY}


def locality_delta(gap_near: int, gap_far: int) -> float:
    """``(1/2)^{Delta L^+} - (1/2)^{Delta L^-}``."""
    return 0.5**gap_near - 0.5**gap_far


def iterations(regime: str, eta: float, signal: float, L: int, C: float = 1.0, L_power: float | None = None) -> float:
    """Predicted iterations ``C L^p signal^s / eta``: ``gap^-2`` (majority voting, Thm 1), ``delta^-1`` (local
    concentration, Thm 2's Eq. 20; :data:`SIGNAL_POWER`)."""
    if L_power is None:
        L_power = L_POWER_MAJORITY if regime == "majority" else L_POWER_LOCALITY
    return C * L**L_power * signal ** SIGNAL_POWER[regime] / eta


def push_from_counts(n_close, n_spread, gap_near, gap_far):
    """The first-order push of the label signal on the irrelevant directions at ``w = 0`` when ``n_close`` /
    ``n_spread`` irrelevant tokens sit inside the close / spread pair: ``-(n_c 2^-g_c - n_s 2^-g_s) / 4``."""
    return -(n_close * 0.5**gap_near - n_spread * 0.5**gap_far) / 4.0


def irrelevant_push(gap_near, gap_far):
    """:func:`push_from_counts` with every token inside a pair irrelevant (see the module docstring): ``-[(g_c - 1)
    2^-g_c - (g_s - 1) 2^-g_s] / 4``, positive = the gate opens on irrelevant tokens.  Array-friendly."""
    gc, gs = np.asarray(gap_near, float), np.asarray(gap_far, float)
    return push_from_counts(gc - 1, gs - 1, gc, gs)


def expected_irrelevant_push(gap_near: int, gap_far: int, L: int) -> float:
    """:func:`push_from_counts` with the in-between counts of the data: averaged over every placement the sampler
    draws (:func:`mamba_dynamics.features.data.pair_positions`: uniform over the starts whose four positions are
    distinct), each pair counting only the irrelevant tokens inside it (a token of the other pair inside a gap is
    not irrelevant): ``-E[n_c 2^-g_c - n_s 2^-g_s] / 4``."""
    total, count = 0.0, 0
    for p in range(L - gap_near):
        for q in range(L - gap_far):
            pos = {p, p + gap_near, q, q + gap_far}
            if len(pos) < 4:
                continue
            n_c = sum(1 for j in range(p + 1, p + gap_near) if j not in pos)
            n_s = sum(1 for j in range(q + 1, q + gap_far) if j not in pos)
            total += push_from_counts(n_c, n_s, gap_near, gap_far)
            count += 1
    return total / count if count else float("nan")


def lemma42_bracket(gap_near, gap_far):
    """Lemma 4.2's bracket ``(1/2)^{Delta L^+ - 2} - (1/2)^{Delta L^- - 2}`` (its push is ``-`` a positive multiple
    of it: negative wherever ``gap_near < gap_far``)."""
    return 0.5 ** (np.asarray(gap_near, float) - 2) - 0.5 ** (np.asarray(gap_far, float) - 2)


def pair_signal(sigma, gap_near: int, gap_far: int) -> float:
    """``P_close - P_spread`` with every gate ``1/2`` on the pattern tokens and ``sigma`` on the irrelevant ones
    inside the pairs: ``(1/4) [(1 - sigma)^(g_c - 1) - (1 - sigma)^(g_s - 1)]``."""
    return 0.25 * ((1 - sigma) ** (gap_near - 1) - (1 - sigma) ** (gap_far - 1))


def uniform_gate_signal(sigma, gap_near: int, gap_far: int):
    """``P_close - P_spread`` when every gate is fixed at ``sigma`` (gating removed at that value): ``sigma [(1 -
    sigma)^g_c - (1 - sigma)^g_s]`` (at ``sigma = 1/2``: ``delta / 2``).  Array-friendly in ``sigma``."""
    sigma = np.asarray(sigma, float)
    return sigma * ((1 - sigma) ** gap_near - (1 - sigma) ** gap_far)


def best_uniform_gate(gap_near: int, gap_far: int) -> float:
    """The fixed gate value maximising :func:`uniform_gate_signal` (on a grid of step 1e-4)."""
    grid = np.linspace(1e-4, 1 - 1e-4, 9999)
    return float(grid[np.argmax(uniform_gate_signal(grid, gap_near, gap_far))])


def sigma_star(gap_near: int, gap_far: int) -> float:
    """The uniform irrelevant gate maximising :func:`pair_signal`: ``1 - ((g_c - 1) / (g_s - 1))^(1 / (g_s -
    g_c))`` (1, fully open, at ``g_c = 1``)."""
    if gap_near == 1:
        return 1.0
    return 1.0 - ((gap_near - 1) / (gap_far - 1)) ** (1.0 / (gap_far - gap_near))


def sample_complexity(regime: str, eta: float, signal: float, L: int, d: int, C: float = 1.0,
                      L_power: float | None = None) -> float:
    """Predicted ``N_min = C L^p d / (eta^2 signal^2)`` (the signal squared in both theorems)."""
    if L_power is None:
        L_power = L_POWER_MAJORITY if regime == "majority" else L_POWER_LOCALITY
    return C * L**L_power * d * signal**SAMPLE_SIGNAL_POWER / eta**2


def predicted(cfg: FeaturesConfig, C: float = 1.0) -> dict:
    """The scalings for one config: ``signal``, ``iterations``, ``sample_complexity`` (with constant ``C``) and
    whether ``n_train`` reaches the bound (meaningful only once ``C`` is fitted)."""
    s = cfg.signal
    it = iterations(cfg.regime, cfg.eta, s, cfg.L, C)
    n = sample_complexity(cfg.regime, cfg.eta, s, cfg.L, cfg.d, C)
    return {"signal": s, "iterations": it, "sample_complexity": n}
