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
  (1/2)^{Delta L^-}``; ``N >= Omega(L^2 d / (eta^2 delta^2))``.  The iteration bound is not in the spec; by the
  same pattern as Thm 1 (N ~ d T^2 eta^0 / ...) we take ``T = Theta(L^2 / (eta delta^2))`` (documented as our
  reading).  Lemma 4.2's rate, ``<w, o_j> <= -(eta T c / (16 L)) 4 delta``, says the irrelevant alignment grows
  linearly in ``eta T delta / L``.

Glossary: ``gap`` = alpha_r - alpha_c; ``delta`` = (1/2)^{gap_near} - (1/2)^{gap_far}; ``C`` = unknown constant.
"""

from __future__ import annotations

from .config import FeaturesConfig

L_POWER_MAJORITY = 0.0
L_POWER_LOCALITY = 2.0
SIGNAL_POWER = -2.0

#: predicted log-log slopes of iterations-to-target: (regime, varied quantity) -> exponent
PREDICTED_SLOPES = {("majority", "gap"): SIGNAL_POWER, ("majority", "L"): L_POWER_MAJORITY,
                    ("locality", "delta"): SIGNAL_POWER, ("locality", "L"): L_POWER_LOCALITY}


def locality_delta(gap_near: int, gap_far: int) -> float:
    """``(1/2)^{Delta L^+} - (1/2)^{Delta L^-}``."""
    return 0.5**gap_near - 0.5**gap_far


def iterations(regime: str, eta: float, signal: float, L: int, C: float = 1.0, L_power: float | None = None) -> float:
    """Predicted iterations ``C L^p / (eta signal^2)`` (``signal`` = gap or delta)."""
    if L_power is None:
        L_power = L_POWER_MAJORITY if regime == "majority" else L_POWER_LOCALITY
    return C * L**L_power / (eta * signal**2)


def sample_complexity(regime: str, eta: float, signal: float, L: int, d: int, C: float = 1.0,
                      L_power: float | None = None) -> float:
    """Predicted ``N_min = C L^p d / (eta^2 signal^2)``."""
    if L_power is None:
        L_power = L_POWER_MAJORITY if regime == "majority" else L_POWER_LOCALITY
    return C * L**L_power * d / (eta**2 * signal**2)


def predicted(cfg: FeaturesConfig, C: float = 1.0) -> dict:
    """The scalings for one config: ``signal``, ``iterations``, ``sample_complexity`` (with constant ``C``) and
    whether ``n_train`` reaches the bound (meaningful only once ``C`` is fitted)."""
    s = cfg.signal
    it = iterations(cfg.regime, cfg.eta, s, cfg.L, C)
    n = sample_complexity(cfg.regime, cfg.eta, s, cfg.L, cfg.d, C)
    return {"signal": s, "iterations": it, "sample_complexity": n}
