"""The iteration laws of Thms 1 and 3 (training to eq. 10's loss, fitted exponents) on reduced settings, and Figs.
3-4 at depth (every block's gates and attention sums)."""

import json
import math

import numpy as np
import pytest

from mamba_dynamics.core.fits import fit_per_seed_grid, fit_slope_ci, verdict
from mamba_dynamics.outliers import theory
from mamba_dynamics.outliers.config import OutlierConfig
from mamba_dynamics.outliers.data import make_patterns, sample_train, seed_streams, task_sets
from mamba_dynamics.outliers.experiments import LAW_BASE, iteration_laws, law_configs
from mamba_dynamics.outliers.metrics import block_gate_profiles, block_gates, gate_profile
from mamba_dynamics.outliers.model import gates
from mamba_dynamics.outliers.stack import StackParams
from mamba_dynamics.outliers.train import log_densely, train

#: a reduced law setting: larger steps than the study's (the exponents do not depend on eta, Thm 1 eq. 9)
FAST = OutlierConfig(**{**LAW_BASE, "eta": 0.1, "delta": 0.05, "steps": 5000, "n_test": 100})


def test_eq10_prompts_cover_every_task():
    cfg = OutlierConfig(train_tasks="random")
    streams = seed_streams(0)
    pat = make_patterns(cfg, streams["patterns"])
    b = sample_train(cfg, pat, streams["train"], 2000, tasks="all")
    all_tasks, train_tasks = task_sets(cfg.M1, cfg.train_tasks)
    assert len(np.unique(b.task)) == len(all_tasks) > len(train_tasks)
    assert 0 < b.seen.mean() < 1  # the bookkeeping marks the unseen tasks
    assert abs(b.outlier.mean() - cfg.p_a) < 0.02  # training outliers at rate p_a
    with pytest.raises(ValueError, match="tasks must be"):
        sample_train(cfg, pat, streams["train"], 4, tasks="some")


def test_dense_logs_resolve_the_hitting_time_to_one_percent():
    logged = [k for k in range(1, 5001) if log_densely(k)]
    assert logged[:100] == list(range(1, 101))
    gaps = np.diff(logged)
    assert np.all(gaps <= np.maximum(np.array(logged[1:]) / 100, 1))


def test_training_until_a_target_stops_at_the_first_step_below_it():
    cfg = FAST.replace(model="mamba")
    run = train(cfg, until=0.1)
    h = run.history
    assert run.status == "completed" and run.final["reached"]
    assert h["loss_all_tasks"][-1] <= 0.1 < h["loss_all_tasks"][-2]
    assert run.steps_done == h["step"][-1] < cfg.steps
    full = train(cfg.replace(steps=run.steps_done, log_every=run.steps_done))  # same run, not stopped early
    np.testing.assert_array_equal(full.params.W_B, run.params.W_B)  # the extra logs change no number
    never = train(cfg.replace(steps=30), until=1e-9)
    assert never.steps_done == 30 and not never.final["reached"]


def test_iteration_exponents_are_the_closed_forms():
    base = dict(eta=0.01, p_a=0.4, beta=3.0, M1=6, l_tr=20)
    for model, exps in theory.ITERATION_EXPONENTS.items():
        T = (lambda k: theory.iterations_mamba(k["eta"], k["p_a"], k["beta"], k["M1"])) if model == "mamba" else \
            (lambda k: theory.iterations_lt(**k))
        for field, e in exps.items():
            moved = dict(base, **{field: 1 - 2 * (1 - base["p_a"]) if field == "p_a" else 2 * base[field]})
            ratio = T(moved) / T(base)
            assert math.isclose(math.log2(ratio), e, abs_tol=1e-12)
            assert theory.law_variable(field, moved[field]) == pytest.approx(2 * theory.law_variable(field,
                                                                                                     base[field]))


def test_fits_and_verdicts():
    x = np.array([1.0, 2.0, 4.0, 8.0])
    T = 50 * np.tile(x, (3, 1)) ** -2 * np.exp([[0.05], [0.0], [-0.05]]) * (1 + 0.01 * np.arange(4))
    fit = fit_per_seed_grid(x, T)
    assert fit["lo"] < fit["slope"] < fit["hi"] and abs(fit["slope"] + 2) < 0.02 and fit["not_reached"] == 0
    assert verdict(fit, -2.0) == "within" and verdict(fit, -1.0) == "outside"
    assert verdict(fit_slope_ci([1, 2], [3, 4]), -1.0) == "no fit"  # two points: no interval
    T[0, 1] = np.nan
    assert fit_per_seed_grid(x, T)["not_reached"] == 1


def test_reduced_laws_lt_faster_with_longer_prompts_mamba_not():
    """Remark 4's contrast on a reduced setting: the LT's time falls with l_tr, Mamba's does not; at T_M Mamba's
    gate on outlier examples is below its gate on clean ones (Cor. 2(i)).  (Thm 1's beta^-2 and M1 laws are the
    claims ledger's reduced check O8, tests/test_claims.py.)"""
    res = iteration_laws(FAST.replace(eta=0.05, delta=0.02), {"l_tr": (20, 40)}, 0.1, seeds=(0,))
    T = res["T"]["l_tr"]
    assert np.isfinite(T["mamba"]).all() and np.isfinite(T["lt"]).all()
    assert abs(T["mamba"][0, 1] / T["mamba"][0, 0] - 1) < 0.25 and T["lt"][0, 1] / T["lt"][0, 0] < 0.67
    assert res["status"]["l_tr"]["mamba"] == [["completed"]] * 2
    g = res["gate_outlier"]["l_tr"]["mamba"]
    assert np.all((0 < g) & (g < res["gate_clean"]["l_tr"]["mamba"]))


def test_law_configs_follow_l_tr_with_l_ts():
    cfgs = law_configs(FAST, "l_tr", (10, 40), ("lt",), (0, 1))
    assert [(c.l_tr, c.l_ts, c.seed) for c in cfgs] == [(10, 10, 0), (10, 10, 1), (40, 40, 0), (40, 40, 1)]


def test_scaling_script_writes_fits_and_resumes(tmp_path, capsys):
    from outliers_scaling import main

    argv = ["--quick", "--seeds", "2", "--laws", "l_tr", "--eta", "0.05", "--delta", "0.02", "--quiet",
            "--jobs", "1", "--out", str(tmp_path)]
    assert main(argv) == 0
    side = json.loads((tmp_path / "scaling.json").read_text())
    fits = side["fits"]
    assert set(fits) == {"mamba: T vs l_tr", "lt: T vs l_tr", "Remark 4: T_M / T_T vs l_tr"}
    assert fits["mamba: T vs l_tr"]["predicted"] == 0 and fits["lt: T vs l_tr"]["predicted"] == -1
    assert fits["Remark 4: T_M / T_T vs l_tr"]["fitted"] > 0
    assert side["base"]["train_tasks"] == "all" and side["base"]["eta"] == 0.05
    cells = sorted(p.name for p in (tmp_path / "cells").iterdir())
    assert len(cells) == 2 * 2 * 2  # l_tr 20, 40; 2 models; 2 seeds
    first = (tmp_path / "scaling.npz").read_bytes()
    stamps = {p: p.stat().st_mtime_ns for p in (tmp_path / "cells").iterdir()}
    assert main(argv) == 0  # a rerun trains nothing
    assert {p: p.stat().st_mtime_ns for p in (tmp_path / "cells").iterdir()} == stamps
    with np.load(tmp_path / "scaling.npz") as z:
        assert z["l_tr_T_mamba"].shape == (2, 2)
    assert len(first) > 0 and (tmp_path / "scaling.png").stat().st_size > 20_000
    assert "predicted -1" in capsys.readouterr().out


def test_scaling_script_rejects_bad_input(cli_error):
    from outliers_scaling import main

    assert "unknown law field" in cli_error(main, ["--laws", "gamma"])
    assert "--eps must lie in (0, 1)" in cli_error(main, ["--eps", "1.5"])
    assert "patterns do not fit in d" in cli_error(main, ["--laws", "M1", "--d", "20"])


def test_block_gates_at_depth_one_are_the_one_layer_gates():
    cfg = OutlierConfig(n_test=200)
    streams = seed_streams(0)
    pat = make_patterns(cfg, streams["patterns"])
    b = sample_train(cfg, pat, streams["train"], 300)
    rng = np.random.default_rng(3)
    W_B, W_C = (np.eye(cfg.m, cfg.d + 1) * 0.2 + 0.05 * rng.standard_normal((cfg.m, cfg.d + 1)) for _ in range(2))
    w = rng.standard_normal(cfg.d + 1)
    params = StackParams(W_B[None], W_C[None], w[None])
    np.testing.assert_allclose(block_gates(params, b.P, cfg.gate)[0], gates(w, b.P), rtol=1e-12)
    one = gate_profile(type("P", (), {"W_B": W_B, "W_C": W_C, "w": w})(), b)
    deep = block_gate_profiles(params, b, cfg.gate)[0]
    assert deep["gate_outlier"] == pytest.approx(one["gate_outlier"], rel=1e-12)
    np.testing.assert_allclose(deep["gate_by_rank"], one["gate_by_rank"], rtol=1e-12)


SMALL = ["--d", "12", "--M1", "3", "--M2", "4", "--V", "2", "--l-tr", "8", "--l-ts", "8", "--steps", "40",
         "--n-test", "100", "--log-every", "20", "--quiet"]


def test_fig4_at_depth_draws_every_block_and_says_where_the_gate_learned(tmp_path, capsys):
    from fig4_gates import main

    assert main([*SMALL, "--layers", "2", "--n-eval", "200", "--out", str(tmp_path)]) == 0
    with np.load(tmp_path / "fig4.npz") as z:
        assert z["example_gates"].shape == (2, 8) and z["gate_by_rank"].shape == (2, 8)
        assert z["w_moved"].shape == (2,) and np.all(z["grad_w_init"] > 0)
    out = capsys.readouterr().out
    assert "layer 2: clean / outlier" in out and "||grad of w_k|| at the start" in out
    assert main([*SMALL, "--n-eval", "200", "--out", str(tmp_path / "one")]) == 0  # one layer keeps its shapes
    with np.load(tmp_path / "one" / "fig4.npz") as z:
        assert z["example_gates"].shape == (8,) and "w_moved" not in z


def test_fig3_at_depth_tracks_every_block(tmp_path, capsys):
    from fig3_attention import main

    assert main([*SMALL, "--layers", "2", "--seeds", "2", "--jobs", "1", "--out", str(tmp_path)]) == 0
    with np.load(tmp_path / "fig3.npz") as z:
        assert z["attn_same_mamba"].shape == (2, 3, 2) and "attn_other_unseen_mamba" not in z
    assert "mamba, layer 2: same / other" in capsys.readouterr().out
    assert (tmp_path / "fig3.png").stat().st_size > 20_000
