"""Training loop: determinism under a seed, divergence guard, LT keeps w fixed, theory helpers."""

import numpy as np
import pytest

from mamba_dynamics.outliers import theory
from mamba_dynamics.outliers.config import OutlierConfig
from mamba_dynamics.outliers.train import train

SMALL = OutlierConfig(steps=120, log_every=40, n_test=300)


def test_same_seed_same_numbers():
    a, b = train(SMALL), train(SMALL)
    for k in a.history:
        np.testing.assert_array_equal(a.history[k], b.history[k])
    np.testing.assert_array_equal(a.params.W_B, b.params.W_B)
    np.testing.assert_array_equal(a.params.w, b.params.w)
    c = train(SMALL.replace(seed=1))
    assert not np.array_equal(a.params.W_B, c.params.W_B)


def test_logged_steps_and_arrays():
    r = train(SMALL)
    np.testing.assert_array_equal(r.history["step"], [0, 40, 80, 120])
    assert r.status == "completed" and r.steps_done == 120 and len(r.loss_per_step) == 120
    arrays = r.arrays()
    for key in ("hist_test_err", "hist_attn_same", "hist_gate_outlier", "final_W_B", "final_gate_by_rank"):
        assert key in arrays
    assert arrays["hist_gate_by_rank"].shape == (4, SMALL.l_ts)  # Cor. 2 decay at every logged step


def test_lt_keeps_gate_fixed():
    r = train(SMALL.replace(model="lt"))
    np.testing.assert_array_equal(r.params.w, r.params_init.w)
    assert r.history["gate_clean"][-1] == 1.0


def test_divergence_stops_with_step_and_quantity():
    r = train(OutlierConfig(eta=1e8, steps=200, log_every=10, n_test=100))
    assert r.status == "diverged"
    assert "diverged at step" in r.message and ("||" in r.message or "not finite" in r.message)
    assert r.steps_done < 200
    assert len(r.history["step"]) >= 1  # what was logged before is kept


def test_theory_thresholds():
    assert theory.alpha_max_mamba(0.6, 20, 20) == pytest.approx(0.6)
    assert theory.alpha_max_mamba(0.6, 40, 20) == 1.0
    assert theory.alpha_max("lt", 0.6, 20, 20) == 0.5
    assert theory.iterations_mamba(0.1, 0.6, 3, 6) == pytest.approx(20 * theory.iterations_lt(0.1, 0.6, 3, 6, 20))
    assert theory.min_test_length_lt(0.5, 6) == np.inf
    assert theory.covered("mamba", 0.4, 0.6, 20, 20, 6) and not theory.covered("lt", 0.6, 0.6, 20, 20, 6)
    assert theory.same_pattern_floor(0.8, 20) == pytest.approx(0.5 / 16)
    # per-example counts: E[2^-n] over n ~ Binomial(l, 1 - alpha) is ((1 + alpha) / 2)^l
    assert theory.same_pattern_floor(0.5, 2, "per-example") == pytest.approx(0.5 * (0.25 * 0.25 + 2 * 0.25 * 0.5 + 0.25))


def test_theory_conditions_name_what_fails():
    """Hand-computed cases (every Theta constant 1) at the paper setting, alpha = 0.4.  Mamba (Thms 1-2): B_M =
    max(1e4, 15, 3^2/(3^4 2^2 0.4^2)) log 100 = 4.61e4 > 64 fails; kappa_a = 2 lies in [V beta^-4, V beta (1-p_a) /
    (p_a eps)] = [0.037, 600]; l_tr = 20 >= log 6 / 0.4 = 4.48; the test coefficients' smallest sum L = 0.3 > 0;
    kappa'_a = 2 lies in [2, 3 * 3 * 0.4 / (0.6 * 2 * 0.3 * 0.01)] = [2, 1000]; alpha 0.4 < 0.6; l_ts = 20 >= log 6
    / 0.6 = 2.99; the two poly(M1^kappa_a) upper bounds cannot be checked.  alpha = 0.7 fails Thm 2(c).  The LT
    (Thms 3-4): B_T = 4.61e4 fails, kappa'_a's bound carries l_tr (2e4), and l_ts >= 0.4 / 0.01 log 6 = 71.7
    fails at l_ts = 20."""
    from mamba_dynamics.outliers.config import OutlierConfig

    cfg = OutlierConfig(alpha=0.4)
    rows = {n: (h, d) for n, h, d in theory.conditions(cfg)}
    assert len(rows) == 11 and sum(h is None for h, _ in rows.values()) == 2
    assert theory.failing(cfg) == ["Thm 1(i): B >= B_M (eps = 0.01)"]
    assert "B_M = 4.61e+04" in rows["Thm 1(i): B >= B_M (eps = 0.01)"][1]
    assert "bound 0.037" in rows["Thm 1(ii): kappa_a >= V beta^-4"][1]
    assert "bound 600" in rows["Thm 1(ii): kappa_a <= V beta (1-p_a) / (p_a eps)"][1]
    assert "minimum 4.48" in rows["Thm 1(iii): eq. 8: l_tr >= log(M1) / (1 - p_a)"][1]
    assert "bound 1e+03" in rows["Thm 2(b): kappa'_a <= V beta (1-p_a) / (p_a kappa_a L eps)"][1]
    assert "L = 0.3" in rows["Thm 2(a): eq. 11: test outliers in V' (coefficient sums > 0)"][1]
    assert rows["Thm 2(d): eq. 12: l_ts <~ poly(M1^kappa_a) / alpha"] == (None, "the degree of poly(M1^kappa_a) is "
                                                                           "not given")
    assert "Thm 2(c): alpha < min(1, p_a l_tr / l_ts)" in theory.failing(cfg.replace(alpha=0.7))
    assert "Thm 1(ii): kappa_a <= V beta (1-p_a) / (p_a eps)" in theory.failing(cfg.replace(kappa_a=700.0))
    lt = {n: (h, d) for n, h, d in theory.conditions(cfg.replace(model="lt"))}
    eq15 = "Thm 4(d): eq. 15: l_ts >= max((1-alpha)^-1, alpha (1/2-alpha)^-2) log M1"
    assert lt[eq15][0] is False and "minimum 71.7" in lt[eq15][1]
    assert "bound 2e+04" in lt["Thm 4(b): kappa'_a <= V beta (1-p_a) l_tr / (p_a kappa_a L eps)"][1]
    assert theory.failing(cfg.replace(model="lt", l_ts=80)) == ["Thm 3(i): B >= B_T (eps = 0.01)"]


def test_trained_checks_hand_cases():
    """Cor. 1-2 on hand-made measurements: p_a = 0.6 gives the Cor. 1 bound eps/(1-p_a) = 0.025; M1 = 6 gives
    the Cor. 2(i) bound 1/6; a gate profile halving per rank meets Cor. 2(ii) exactly, one falling by 3 per rank
    does not (ratio (2/3)^(k-1), smallest at the last rank seen in >= 20 prompts)."""
    from mamba_dynamics.outliers.config import OutlierConfig

    cfg = OutlierConfig(alpha=0.4)
    half = 0.4 * 0.5 ** np.arange(5)
    good = {"attn_same": 1.5, "attn_other": 0.02, "gate_outlier": 0.1, "gate_by_rank": half,
            "gate_rank_count": np.array([100, 100, 100, 100, 3])}
    rows = {n: (h, d) for n, h, d in theory.trained_checks(cfg, good)}
    assert all(h for h, _ in rows.values()) and len(rows) == 4
    assert "bound 0.025" in rows["Cor 1: other-example attention sum <= eps / (1 - p_a) (eps = 0.01)"][1]
    assert "ranks 2..4" in rows["Cor 2(ii): clean gate G_k / G_1 >= 2^-(k-1)"][1]
    bad = dict(good, attn_same=0.5, attn_other=0.03, gate_outlier=0.2, gate_by_rank=0.4 * 3.0 ** -np.arange(5))
    rows = {n: (h, d) for n, h, d in theory.trained_checks(cfg, bad)}
    assert not any(h for h, _ in rows.values())
    assert "0.296 at k = 4" in rows["Cor 2(ii): clean gate G_k / G_1 >= 2^-(k-1)"][1]  # (2/3)^3
    assert [n for n, _, _ in theory.trained_checks(cfg.replace(model="lt"), good)] == [
        "Cor 1: same-pattern attention sum >= 1", "Cor 1: other-example attention sum <= eps / (1 - p_a) (eps = 0.01)"]
