"""The paper's qualitative claims on reduced settings (fast), and the full-size reproductions (slow)."""

import numpy as np
import pytest

from mamba_dynamics.outliers.config import OutlierConfig
from mamba_dynamics.outliers.data import sample_test
from mamba_dynamics.outliers.experiments import error_vs_alpha, evaluate, placement_study
from mamba_dynamics.outliers.metrics import gate_profile
from mamba_dynamics.outliers.train import train

#: The paper's claims on a reduced setting, with the tuned preset (matching split, kappa'_a = kappa_a / L, exact
#: outlier counts, K' = K): the choices under which Fig. 2 comes out as reported.  What the plain reading changes is
#: measured by scripts/outlier_sensitivity.py (docs/outliers.md) and tested below.
FAST = OutlierConfig(preset="tuned", steps=800, n_test=400, log_every=200)


@pytest.fixture(scope="module")
def fig2_fast():
    return error_vs_alpha(FAST, [0.0, 0.4, 0.7], ["flip", "random"], seeds=[0], n_eval=1000)


def test_fig2_reduced_mamba_robust_lt_breaks_past_half(fig2_fast):
    e = fig2_fast["errors"]
    assert e["mamba"]["flip"][0, 0] < 0.02 and e["lt"]["flip"][0, 0] < 0.05  # both learn in context
    assert e["mamba"]["flip"][0, 1] < 0.05  # alpha = 0.4
    assert e["mamba"]["flip"][0, 2] < 0.05 and e["mamba"]["random"][0, 2] < 0.05  # alpha = 0.7
    assert e["lt"]["flip"][0, 2] > 0.5  # LT fails past alpha = 1/2 with flipped labels
    assert e["lt"]["random"][0, 2] > 2 * e["mamba"]["random"][0, 2]


def test_fig3_reduced_attention_concentrates_on_same_pattern(fig2_fast):
    run = fig2_fast["runs"][0]
    h = run.history
    assert h["attn_same"][-1] > 5 * h["attn_same"][0]
    assert abs(h["attn_other_unseen"][-1]) < 0.05 * h["attn_same"][-1]  # Cor. 1 on unseen tasks


def test_fig4_reduced_gates_suppress_outliers_and_decay(fig2_fast):
    run = fig2_fast["runs"][0]
    cfg = run.config.replace(alpha=0.3)
    b = sample_test(cfg, run.extras["patterns"], np.random.default_rng(0), n=500)
    prof = gate_profile(run.params, b)
    assert prof["gate_outlier"] < 0.1 * prof["gate_clean"]
    rank = prof["gate_by_rank"][:8]
    assert np.all(np.diff(rank) < 0)  # the closer clean example gets the larger gate


def test_placement_reduced_far_outliers_hurt_mamba_least():
    res = placement_study(FAST.replace(p_a=0.4), [0.7], seeds=[0], n_eval=1500, models=("mamba",))
    fq, cq = res["errors"]["mamba"][0, 1, 0], res["errors"]["mamba"][0, 2, 0]
    assert fq <= cq


def test_ring_split_hurts_unseen_tasks():
    """The documented pitfall: a ring-shaped T_tr couples unseen pairs through two-hop paths."""
    ring = train(FAST.replace(train_tasks="ring"))
    match = train(FAST)
    e_ring = evaluate(ring, [0.0], n_eval=1500)[0, 0, 0]
    e_match = evaluate(match, [0.0], n_eval=1500)[0, 0, 0]
    assert e_ring > 0.02 and e_match < 0.01


@pytest.mark.slow
def test_fig2_full_paper_setting():
    res = error_vs_alpha(OutlierConfig(preset="tuned"), [0.0, 0.4, 0.7, 0.8], ["flip", "targeted", "random"], seeds=range(5),
                         n_eval=4000, jobs=0)
    e = res["errors"]
    for rule in ("flip", "targeted", "random"):
        assert e["mamba"][rule][:, :3].mean(0).max() < 0.05
        assert e["mamba"][rule][:, 3].mean() < 0.06
    assert e["lt"]["flip"][:, 2].mean() > 0.5


def test_lt_copes_below_half_given_more_context(fig2_fast):
    """Thm 4: below alpha = 1/2 the LT needs l_ts >~ alpha (1/2 - alpha)^-2 log M1; longer prompts help it."""
    lt = [r for r in fig2_fast["runs"] if r.config.model == "lt"][0]
    short = evaluate(lt, [0.4], n_eval=1500, l_ts=20)[0, 0, 0]
    long = evaluate(lt, [0.4], n_eval=1500, l_ts=200)[0, 0, 0]
    assert long < 0.5 * short and long < 0.05


def test_sensitivity_reduced_magnitude_matters_for_mamba_not_for_lt(tmp_path):
    """The sensitivity study on a reduced setting: Mamba's error at alpha = 0.5 depends on kappa'_a (larger test
    outliers are easier to gate out), the LT's stays at chance whatever kappa'_a; the script resumes its runs."""
    import json

    from outlier_sensitivity import main

    args = ["--seeds", "1", "--steps", "800", "--n-eval", "600", "--alphas", "0,0.5", "--splits", "matching",
            "--ratios", "1,3.3333", "--jobs", "1", "--quiet", "--out", str(tmp_path)]
    assert main(args) == 0
    means = json.loads((tmp_path / "sensitivity.json").read_text())["mean_error"]
    for count in ("exact", "per-example"):
        weak, strong = means[f"matching/mamba/{count}/1"][1], means[f"matching/mamba/{count}/3.33"][1]
        assert weak > 2 * strong + 0.02
        assert all(abs(means[f"matching/lt/{count}/{r}"][1] - 0.5) < 0.07 for r in ("1", "3.33"))
    assert len(list((tmp_path / "cells").glob("*.pkl"))) == 2 and (tmp_path / "sensitivity.png").exists()
