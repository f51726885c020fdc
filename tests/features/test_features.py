"""Feature-filtering simulator (arXiv 2602.12499): data, model identities, numerics, training claims, CLI."""

import json
import subprocess
import sys

import numpy as np
import pytest

from mamba_dynamics.core.config import ConfigError
from mamba_dynamics.features import data, model, theory
from mamba_dynamics.features.config import FeaturesConfig
from mamba_dynamics.features.gradients import loss_and_grad, loss_and_grad_reference, outputs
from mamba_dynamics.features.train import train


def _set(regime="majority", **kw):
    cfg = FeaturesConfig(regime=regime, **kw)
    rng = np.random.default_rng(0)
    O = data.make_basis(cfg.d, rng)
    return cfg, O, data.sample(cfg, O, 300, rng)


def test_majority_counts_and_labels():
    cfg, O, s = _set(L=20, alpha_r=0.4, alpha_c=0.15)
    assert np.allclose(O @ O.T, np.eye(cfg.d))
    own = np.where(s.y > 0, 0, 1)[:, None]
    assert np.all((s.k == own).sum(1) == 8) and np.all((s.k == 1 - own).sum(1) == 3)
    assert set(np.unique(s.k[s.k >= 2])) <= set(range(2, cfg.d))
    assert 0.35 < np.mean(s.y > 0) < 0.65
    noise = s.X - O[s.k]
    assert abs(np.mean(np.sum(noise**2, axis=-1)) - cfg.tau**2) < 0.1 * cfg.tau**2


def test_locality_pairs_sit_at_their_gaps():
    cfg, O, s = _set("locality", L=14, gap_near=2, gap_far=7)
    gp, gm = data.pair_gaps(s.k)
    assert np.all(np.where(s.y > 0, gp, gm) == 2) and np.all(np.where(s.y > 0, gm, gp) == 7)
    assert np.all((s.k < 2).sum(1) == 4)


@pytest.mark.parametrize("kw, needle", [
    (dict(d=-1), "d must be a positive integer"), (dict(alpha_r=1.5), "alpha_r must be a fraction"),
    (dict(alpha_r=0.1, alpha_c=0.1), "more relevant than confusing"), (dict(model="gpt"), "unknown model"),
    (dict(regime="locality", gap_near=3, gap_far=2), "gap_near < gap_far"),
    (dict(regime="locality", L=6, gap_near=1, gap_far=4), "do not fit in L"), (dict(d=2), "d must be >= 3"),
])
def test_bad_config(kw, needle):
    with pytest.raises(ConfigError, match=needle):
        FeaturesConfig(**kw)


def test_recurrence_equals_closed_form_and_kernel():
    cfg, O, s = _set(L=20)
    w = 3 * np.random.default_rng(1).standard_normal(cfg.d)
    a, b = model.scan_recurrence(s.X, w), model.mix_closed_form(s.X, w)
    c = outputs(model.Params(w, np.eye(cfg.d), np.zeros((2, cfg.d)), np.ones(2)), s.X, True)
    assert np.abs(a - b).max() < 1e-13 and np.abs(a - c).max() < 1e-13
    W = np.random.default_rng(2).standard_normal((cfg.d, cfg.d))
    p = model.Params(w, W, np.zeros((2, cfg.d)), np.ones(2))
    assert np.abs(outputs(p, s.X, False) - model.mix_attention(s.X, W)).max() < 1e-12


def test_initial_gates_halve_with_distance():
    """w = 0: beta_s^(l) = 2^-(l-s+1), the (1/2)^{Delta L} factors of Thm 2."""
    lb = model.log_beta(np.zeros((1, 6)))[0]
    for l in range(6):
        for s_ in range(l + 1):
            assert lb[l, s_] == pytest.approx(-(l - s_ + 1) * np.log(2))


def test_long_prompts_and_huge_weights_stay_finite():
    cfg = FeaturesConfig(L=10000, d=5, alpha_r=0.3, alpha_c=0.1, m=4)
    rng = np.random.default_rng(0)
    s = data.sample(cfg, data.make_basis(5, rng), 2, rng)
    for scale in (1.0, 1e3, 1e6):
        p = model.Params(scale * rng.standard_normal(5), np.eye(5), rng.standard_normal((4, 5)), model.output_layer(4))
        loss, g, F = loss_and_grad(p, s.X, s.y, True)
        assert np.isfinite(loss) and all(np.all(np.isfinite(v)) for v in g.values()) and np.all(np.isfinite(F))
    short = s.X[:, :300]  # the O(L^2) reference agrees on a long-ish prompt with saturated gates
    lk, gk, _ = loss_and_grad(p, short, s.y, True)
    lr, gr, _ = loss_and_grad_reference(p, short, s.y, True)
    assert lk == pytest.approx(lr, abs=1e-12)
    for k in gk:
        assert np.allclose(gk[k], gr[k], rtol=1e-9, atol=1e-12 * max(1.0, np.abs(gr[k]).max()))


def test_inputs_not_modified_and_deterministic():
    cfg, O, s = _set()
    p = model.init_params(cfg, np.random.default_rng(0))
    X0 = s.X.copy()
    r1 = loss_and_grad(p, s.X, s.y, True)
    assert np.array_equal(s.X, X0)
    a, b = train(cfg.replace(steps=10)), train(cfg.replace(steps=10))
    assert np.array_equal(a.history["test_err"], b.history["test_err"]) and np.array_equal(a.params.w, b.params.w)
    assert np.isfinite(r1[0])


def test_majority_voting_claim_reduced():
    """Fig. 2 (reduced): cos(w, o_+), cos(w, o_-) grow, the irrelevant alignment stays small; zero test error."""
    r = train(FeaturesConfig(regime="majority", steps=100, n_train=400, n_test=400))
    h = r.history
    assert h["test_err"][-1] <= 0.01 and r.final["iters_to_target"] <= 50
    assert h["cos_pos"][-1] > 0.5 and h["cos_neg"][-1] > 0.4
    assert abs(h["cos_irr"][-1]) < 0.25 and abs(h["cos_irr"][-1]) < 0.5 * min(h["cos_pos"][-1], h["cos_neg"][-1])
    assert h["w_pos"][-1] > 2 * abs(h["w_irr"][-1]) and h["mlp_pos"][-1] > 0.5 and h["rel_share"][-1] > 0.6


def test_locality_claim_reduced_and_lt_fails():
    """Fig. 4 (reduced): irrelevant directions are pushed strongly negative (their gates close) and the SSM
    learns; the linear-attention model stays at chance (no guarantee for local concentration)."""
    base = FeaturesConfig(regime="locality", steps=250, n_train=600, n_test=400, log_every=10)
    h = train(base).history
    assert h["w_irr"][-1] < -2 and h["w_irr"][-1] < -0.5 * h["w_irr_abs"][-1] and h["gate_irr"][-1] < 0.1
    assert h["test_err"][-1] < 0.2
    lt = train(base.replace(model="lt-mlp")).history
    assert lt["test_err"][-1] > 0.4


def test_divergence_is_reported():
    r = train(FeaturesConfig(steps=50, eta=1e9, diverge_norm=1e3))
    assert r.status == "diverged" and "step" in r.message and "||" in r.message
    assert len(r.history["step"]) >= 1


def test_theory_scalings():
    assert theory.locality_delta(1, 4) == pytest.approx(0.4375)
    t1 = theory.iterations("majority", 1.0, 0.2, 20)
    assert theory.iterations("majority", 1.0, 0.1, 20) == pytest.approx(4 * t1)
    assert theory.iterations("majority", 1.0, 0.2, 40) == pytest.approx(t1)  # L-free (Lemma 4.1)
    assert theory.iterations("majority", 1.0, 0.2, 40, L_power=2) == pytest.approx(
        4 * theory.iterations("majority", 1.0, 0.2, 20, L_power=2))
    assert theory.iterations("locality", 1.0, 0.2, 40) == pytest.approx(4 * theory.iterations("locality", 1.0, 0.2, 20))
    assert theory.predicted(FeaturesConfig())["signal"] == pytest.approx(0.25)


def run(root, *args, script="simulate.py", timeout=300):
    return subprocess.run([sys.executable, str(root / "scripts" / script), *args], capture_output=True, text=True,
                          timeout=timeout, cwd=root)


@pytest.mark.parametrize("args, needle", [
    (["--model", "ssm", "--alpha-r", "2"], "alpha_r must be a fraction"),
    (["--model", "ssm", "--regime", "sideways"], "unknown regime"),
    (["--model", "ssm", "--L", "-4"], "L must be a positive integer"),
    (["--model", "ssm", "--regime", "locality", "--L", "5"], "do not fit in L"),
    (["--model", "gpt"], "unknown model 'gpt'"),
])
def test_cli_bad_input(args, needle, cli_error):
    from simulate import main

    assert needle in cli_error(main, args)


def test_cli_run_writes_results(root, tmp_path):
    res = run(root, "--model", "ssm", "--regime", "majority", "--steps", "30", "--n-train", "200", "--quiet",
              "--out", str(tmp_path / "r"))
    assert res.returncode == 0, res.stderr
    assert "iterations to test error" in res.stdout
    side = json.loads((tmp_path / "r" / "results.json").read_text())
    assert side["config"]["model"] == "ssm" and side["metadata"]["versions"]["numpy"]
    with np.load(tmp_path / "r" / "results.npz") as z:
        assert z["hist_w_pos"].shape == z["hist_step"].shape
    assert (tmp_path / "r" / "tracked.png").stat().st_size > 10000


def test_scaling_script_quick(tmp_path, cli_error):
    """The scaling script runs end to end in-process on the majority-voting gap sweep; the gap exponent is near
    the predicted -2; a rerun resumes from its cells; an unknown sweep name is one line, exit 2."""
    from features_scaling import main

    args = ["--quick", "--seeds", "1", "--jobs", "1", "--only", "majority_gap", "--quiet", "--out", str(tmp_path)]
    assert main(args) == 0
    fits = json.loads((tmp_path / "scaling.json").read_text())["fits"]
    assert -3.0 < fits["majority_gap"]["fitted_slope"] < -1.5
    assert (tmp_path / "scaling.png").exists()
    cells = sorted((tmp_path / "cells").glob("*.npz"))
    stamps = [c.stat().st_mtime_ns for c in cells]
    assert len(cells) == 3 and main(args) == 0 and [c.stat().st_mtime_ns for c in cells] == stamps
    assert "unknown sweep majority_gapp" in cli_error(main, ["--only", "majority_gapp", "--out", str(tmp_path)])
