"""Core pieces on their own: the log-space gate (fast vs naive reference vs Numba), the config base, the cell
store, the training loop."""

import json

import numpy as np
import pytest

from mamba_dynamics.core.cells import CellStore, cell_key
from mamba_dynamics.core.config import ConfigError
from mamba_dynamics.core.gating import (log_gates, log_gates_naive, log_gates_row, sigmoid_log_pair,
                                        sigmoid_log_pair_poly, sigmoid_pair, sigmoid_pair_poly, softplus)
from mamba_dynamics.core.train import run_loop
from mamba_dynamics.outliers.config import OutlierConfig


def test_fast_gates_match_naive_and_numba():
    rng = np.random.default_rng(1)
    t = rng.standard_normal((7, 31)) * 4
    np.testing.assert_allclose(log_gates(t), log_gates_naive(t), rtol=1e-12, atol=1e-12)
    out = np.empty(30)
    log_gates_row(t[0], out)
    np.testing.assert_allclose(out, log_gates(t[0]), rtol=1e-12, atol=1e-12)
    # gates are a sub-probability vector: sum_i G_i = 1 - prod_j (1 - sigmoid(t_j)) - sigmoid(t_q)-term <= 1
    G = np.exp(log_gates(t))
    assert np.all(G.sum(-1) <= 1 + 1e-12)


def test_config_base_replace_rederives_and_round_trips():
    cfg = OutlierConfig(preset="tuned")
    assert cfg.replace(d=40).m == 41 and cfg.replace(d=40, m=50).m == 50
    assert cfg.replace(K=0.25).K_test == 0.25 and cfg.replace(kappa_a=3.0).kappa_a_test == pytest.approx(10.0)
    plain = cfg.replace(preset="plain")  # a new preset re-derives every choice it owns
    assert (plain.kappa_a_test, plain.K_test, plain.train_tasks, plain.outlier_count) == (2.0, 1.5, "random",
                                                                                            "per-example")
    assert cfg.replace(preset="plain", train_tasks="ring").train_tasks == "ring"  # explicit values win
    assert OutlierConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
    assert cfg.to_dict()["L"] == pytest.approx(0.3)
    with pytest.raises(ConfigError, match="seed must be a non-negative integer"):
        cfg.replace(seed=-1)


def test_cell_store_resumes_and_ignores_broken_files(tmp_path):
    calls = []

    def work(x):
        calls.append(x)
        return {"value": x * 2}

    store = CellStore(tmp_path, "json")
    items = [(cell_key({"x": x}), x) for x in range(4)]
    first = store.run(items, work, jobs=1)
    assert sorted(calls) == [0, 1, 2, 3] and first[items[2][0]]["value"] == 4
    store.path(items[1][0]).write_text("{broken")  # a torn file is recomputed, not trusted
    calls.clear()
    again = store.run(items, work, jobs=1)
    assert calls == [1] and {k: v["value"] for k, v in again.items()} == {k: v["value"] for k, v in first.items()}
    assert cell_key({"x": 1}) != cell_key({"x": 2})


def test_training_loop_logs_stops_and_guards():
    logged = []

    def log(k, window):
        logged.append((k, len(window)))
        return {"loss": 0.0}

    out = run_loop(10, lambda k: (1.0, {"g": np.ones(2)}, {"p": np.ones(2)}), log, 4, 1e6)
    assert out.status == "completed" and out.steps_done == 10 and logged == [(0, 0), (4, 4), (8, 4), (10, 2)]
    out = run_loop(10, lambda k: (float("nan") if k == 3 else 1.0, {}, {}), log, 4, 1e6)
    assert out.status == "diverged" and "step 3: training loss is nan" in out.message and out.steps_done == 2
    out = run_loop(10, lambda k: (1.0, {}, {"w": np.full(2, 10.0 * k)}), log, 4, 25.0)
    assert out.status == "diverged" and "||w||" in out.message
    out = run_loop(10, lambda k: (1.0, {}, {}), log, 2, 1e6, stop=lambda k: k >= 4)
    assert out.status == "completed" and out.steps_done == 4

    def interrupted(k):
        if k == 5:
            raise KeyboardInterrupt
        return 1.0, {}, {}

    out = run_loop(10, interrupted, log, 2, 1e6)
    assert out.status == "interrupted" and out.steps_done == 4 and len(out.losses) == 4
    logged.clear()  # log_now: an extra log where a cheap check asks for one
    out = run_loop(10, lambda k: (1.0, {}, {}), log, 4, 1e6, stop=lambda k: k == 6, log_now=lambda k: k == 6)
    assert out.steps_done == 6 and logged == [(0, 0), (4, 4), (6, 2)]


def test_divergence_check_fast_path_keeps_its_answers():
    """The per-step check sums each gradient (the element-wise test only if the sum is not finite): gradients
    whose sum overflows but whose entries are finite are not divergence; a NaN or an infinity is, with its name."""
    from mamba_dynamics.core.train import divergence_problem

    ok = {"p": np.ones(3)}
    assert divergence_problem(1, 0.5, {"g": np.array([1e308, 1e308])}, ok, 10.0) is None
    for bad in (np.array([1.0, np.nan]), np.array([np.inf, -np.inf]), np.array([0.0, np.inf])):
        assert divergence_problem(2, 0.5, {"g": bad}, ok, 10.0) == "diverged at step 2: gradient of g is not finite"
    assert divergence_problem(3, 0.5, {}, {"p": np.full((3, 3), 5.0)}, 10.0) == \
        "diverged at step 3: ||p|| = 15 exceeds 10"
    assert "||p|| = nan" in divergence_problem(4, 0.5, {}, {"p": np.array([np.nan])}, 10.0)


def test_sigmoid_pairs_are_exact_without_cancellation():
    """``sigmoid_pair`` and ``sigmoid_log_pair`` (the Numba gate loops' one-exp forms) against the NumPy softplus
    (``sigmoid_pair_poly`` and ``sigmoid_log_pair_poly`` against the libm forms), from 0 to saturated
    pre-activations: the sigmoids and log sigmoids to 1e-15 relative, and the log sigmoids finite where the sigmoid
    itself underflows."""
    for t in (0.0, 1e-12, -1e-12, 0.3, -0.3, 5.0, -5.0, 40.0, -40.0, 800.0, -800.0):
        sp, sn, lp, ln = sigmoid_log_pair(t)
        assert (sp, sn) == sigmoid_pair(t)
        pp, pn = sigmoid_pair_poly(t)  # the polynomial exp: within 2 ulp of the libm form
        assert abs(pp - sp) <= 2 * np.spacing(sp) and abs(pn - sn) <= 2 * np.spacing(sn)
        qp, qn, qlp, qln = sigmoid_log_pair_poly(t)  # and log1p by the series: within 4 ulp
        assert (qp, qn) == (pp, pn)
        assert abs(qlp - lp) <= 4 * np.spacing(abs(lp)) and abs(qln - ln) <= 4 * np.spacing(abs(ln))
        for got, want in ((lp, -softplus(np.array(-t))), (ln, -softplus(np.array(t)))):
            assert np.isfinite(got) and abs(got - want) <= 1e-15 * max(1.0, abs(want))
        for got, want in ((sp, np.exp(-softplus(np.array(-t)))), (sn, np.exp(-softplus(np.array(t))))):
            assert abs(got - want) <= 1e-15 * max(want, 1e-300)


def test_the_one_loop_trains_any_model_with_sgd_or_adam_and_stops_a_diverging_run():
    """``core.train.fit`` on a toy model (``loss = |theta - target|^2 / 2`` on the trained block only): SGD and Adam
    both converge; the fixed block never moves; the tracker logs at 0, every ``log_every`` steps and the end; a
    step whose loss is not finite updates nothing and ends the run with the step and the quantity."""
    from dataclasses import dataclass

    from mamba_dynamics.core.losses import LossGrad
    from mamba_dynamics.core.model import Model
    from mamba_dynamics.core.optim import Optimizer
    from mamba_dynamics.core.train import ParamBlocks, fit

    @dataclass
    class Toy(ParamBlocks):
        theta: np.ndarray
        fixed: np.ndarray

    class ToyModel(Model):
        Params = Toy

        @property
        def trained(self):
            return ("theta",)

        def loss_and_grad(self, params, batch, *, reference=False):
            r = params.theta - batch
            return LossGrad(float("nan") if self.cfg == "nan" and batch[0] > 2.5 else 0.5 * float(r @ r),
                            {"theta": r.copy()}, r)

    target = np.array([1.0, -2.0])
    for opt in (Optimizer("sgd", 0.5), Optimizer("adam", 0.1)):
        params = Toy(np.zeros(2), np.ones(3))
        run = fit(ToyModel(None), params, lambda k: target, opt,
                  lambda k, window: {"dist": float(np.abs(params.theta - target).max())},
                  steps=200, log_every=50, diverge_norm=1e6)
        assert run.outcome.status == "completed" and run.outcome.steps_done == 200
        assert list(run.history["step"]) == [0, 50, 100, 150, 200] and run.last["dist"] < 1e-3
        assert np.array_equal(params.fixed, np.ones(3))
    params = Toy(np.zeros(2), np.ones(3))
    seen = []

    def batches(k):
        seen.append(params.theta.copy())
        return np.full(2, float(k))  # the loss is NaN from step 3 on

    run = fit(ToyModel("nan"), params, batches, Optimizer("sgd", 0.5), lambda k, w: {"x": 0.0}, steps=10,
              log_every=5, diverge_norm=1e6)
    assert run.outcome.status == "diverged" and "step 3" in run.outcome.message and "loss" in run.outcome.message
    assert run.outcome.steps_done == 2 and np.array_equal(params.theta, seen[-1])  # step 3 changed nothing
    result = run.result("cfg", None, params, {"note": np.zeros(1)}, extra=1.0)
    assert result.status == "diverged" and result.final == {"x": 0.0, "extra": 1.0} and "note" in result.extras
