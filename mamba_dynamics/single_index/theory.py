"""Rates of the single-index ICL theorem (arXiv 2510.12026, spec section 4; the template of Nishikawa et al.).

The theorem states orders (``Omega~``, ``O~``, constants and logs hidden); the functions return the expression
with constant 1, for reference lines and boundaries, not sharp numbers.  The paper's own exponent for Mamba is
"r^Theta(ge)" and was not found (spec 4.4); we use the softmax-Transformer template it calls comparable,
``N_test = r^(3 ge / 2)``, and say so wherever it is drawn.

Glossary: ``r`` = intrinsic dimension; ``d`` = ambient dimension; ``ie`` / ``ge`` = information / generative
exponent of the link (:mod:`mamba_dynamics.single_index.hermite`); ``N`` = test context length.
"""

from __future__ import annotations


def test_sample_complexity(r: float, ge: int) -> float:
    """Test-time context length the theorem needs: ``N_test = r^(3 ge / 2)`` (no dependence on ``d``)."""
    return float(r) ** (1.5 * ge)


def pretraining_prompts(r: float, d: float, ie: int) -> float:
    """Stage-I prompts and pretraining context: ``T1, N_pt = r^2 d^(ie + 2)``."""
    return float(r) ** 2 * float(d) ** (ie + 2)


def mlp_width(r: float, ge: int) -> float:
    """MLP width: ``m = r^(2 ge)``."""
    return float(r) ** (2 * ge)


def r_max(N: float, ge: int) -> float:
    """Largest intrinsic dimension a context of ``N`` examples covers: ``N^(2 / (3 ge))``."""
    return float(N) ** (2.0 / (3.0 * ge))


def r_margin(N: float, r: float, ge: int) -> float:
    """``r_max(N, ge) - r``: positive where the theorem's context length is met, zero on the boundary."""
    return r_max(N, ge) - r
