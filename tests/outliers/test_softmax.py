"""The softmax Transformer of the outlier family (``st``, App. B.1 of arXiv 2510.00399): the one-layer kernel is the
stack at depth 1 and the NumPy forward, prompts of 10^4 examples and huge weights stay finite, and the reduced
runs keep the qualitative claims (outliers get little softmax weight; the 3-layer model stays accurate at every
placement, App. B.1 Tables 3-4)."""

import json

import numpy as np
import pytest

from mamba_dynamics.outliers import gradients, model, models, stack
from mamba_dynamics.outliers.config import OutlierConfig
from mamba_dynamics.outliers.data import PromptBatch, make_patterns, sample_train, seed_streams
from mamba_dynamics.outliers.experiments import evaluate, train_many
from mamba_dynamics.outliers.train import train


def _trained_like(cfg, seed=1):
    streams = seed_streams(0)
    batch = sample_train(cfg, make_patterns(cfg, streams["patterns"]), streams["train"])
    p = model.init_params(cfg, streams["init"])
    rng = np.random.default_rng(seed)
    return model.Params(p.W_B + 0.2 * rng.standard_normal(p.W_B.shape),
                        p.W_C + 0.2 * rng.standard_normal(p.W_C.shape), p.w), batch


@pytest.mark.parametrize("kw", [dict(), dict(m=30, heads=3, temperature=0.4, window=6)])
def test_the_one_layer_model_is_the_stack_at_depth_one(kw):
    cfg = OutlierConfig(model="st", **kw)
    mdl = models.REGISTRY.build(cfg)
    assert type(mdl) is models.SoftmaxOneLayer and not mdl.gated and mdl.trained == ("W_B", "W_C")
    p, batch = _trained_like(cfg)
    a = mdl.loss_and_grad(p, batch)
    deep = models.Stack(cfg).loss_and_grad(stack.StackParams(p.W_B[None], p.W_C[None], p.w[None]), batch)
    assert a.loss == pytest.approx(deep.loss, abs=1e-13)
    np.testing.assert_allclose(a.F, deep.F, rtol=1e-12, atol=1e-13)
    for k in ("W_B", "W_C"):
        np.testing.assert_allclose(a.grads[k], deep.grads[k][0], rtol=1e-10, atol=1e-13 * np.abs(a.grads[k]).max())
    assert not a.grads["w"].any()
    np.testing.assert_allclose(mdl.predict(p, batch.P), mdl.predict(p, batch.P, reference=True), rtol=1e-12,
                               atol=1e-14)
    assert np.all(np.abs(a.F) <= 1.0)  # a convex combination of labels in [-1, 1]: the hinge is never met


def test_long_prompts_and_huge_weights_stay_finite():
    """l = 10^4 examples, weights up to 10^3 (scores of order 10^7): finite, and the kernel's output equals the
    NumPy forward."""
    cfg = OutlierConfig(model="st", m=32, heads=2)
    rng = np.random.default_rng(0)
    l, D = 10_000, cfg.d + 1
    P = rng.standard_normal((2, l + 1, D))
    P[:, :-1, -1] = np.sign(P[:, :-1, -1])
    P[:, -1, -1] = 0.0
    z = np.array([1.0, -1.0])
    mdl = models.REGISTRY.build(cfg)
    for scale in (1.0, 1e3):
        p = model.Params(scale * rng.standard_normal((cfg.m, D)), scale * rng.standard_normal((cfg.m, D)),
                         np.zeros(D))
        lg = mdl.loss_and_grad(p, PromptBatch(P, z))
        assert np.isfinite(lg.loss) and all(np.all(np.isfinite(g)) for g in lg.grads.values())
        np.testing.assert_allclose(lg.F, model.forward(p, P, False, cfg.attention), rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(gradients.softmax_outputs(p.W_B, p.W_C, P, cfg.attention), lg.F, rtol=0,
                                   atol=0)


def test_reduced_one_layer_softmax_suppresses_outliers():
    """One layer, d = 16, l = 12, 600 steps (0.3 s): the softmax weight on outlier examples falls well below the
    clean examples', the mass on clean same-pattern examples grows (its attention concentration) and the test
    error at alpha = 0.4 is small."""
    r = train(OutlierConfig(model="st", d=16, M1=4, M2=6, V=3, l_tr=12, l_ts=12, steps=600, log_every=100,
                            n_test=400, alpha=0.4))
    h = r.history
    assert r.status == "completed"
    assert h["gate_outlier"][-1] < 0.2 * h["gate_clean"][-1]  # measured 0.008 vs 0.10
    assert h["weight_same"][-1] > 1.5 * h["weight_same"][0]  # measured 0.31 -> 0.71
    gap = h["attn_same"] - h["attn_other"]  # Cor. 1's same-pattern vs other scores: measured 2.2 -> 37
    assert gap[-1] > 5 * gap[0] and h["test_err"][-1] < 0.1
    assert r.final["gate_by_rank"].shape == (12,)


def test_reduced_table3_softmax_stays_accurate_at_every_placement():
    """App. B.1 Tables 3-4's qualitative claim on Table 1's reduced setting (the Mamba test in test_stack.py): the
    3-block softmax Transformer is accurate with the outliers anywhere, next to the query (CQ) included, at
    alpha = 0.5 (measured 0.978-0.990) and 0.7 (0.926-0.940 at this size; docs/outliers.md has the full size)."""
    base = OutlierConfig(model="st", layers=3, p_a=0.4, alpha=0.5, preset="tuned", d=16, M1=4, M2=6, V=3, l_tr=12,
                         l_ts=12, steps=600, log_every=600, n_test=200)
    for run in train_many([base.replace(seed=s) for s in (0, 1)]):
        acc = 1 - evaluate(run, (0.5, 0.7), ("flip",), ("R", "FQ", "CQ"), 500)[0]  # (placement, alpha)
        assert np.all(acc[:, 0] > 0.95) and np.all(acc[:, 1] > 0.9), acc


def test_simulate_softmax_writes_results_and_refuses_bad_flags(tmp_path, cli_error):
    import simulate

    assert simulate.main(["--model", "st", "--m", "32", "--heads", "2", "--window", "8", "--temperature", "0.5",
                          "--steps", "20", "--log-every", "10", "--n-test", "100", "--out", str(tmp_path),
                          "--quiet"]) == 0
    side = json.loads((tmp_path / "results.json").read_text())
    assert side["config"]["heads"] == 2 and side["config"]["window"] == 8
    with np.load(tmp_path / "results.npz") as f:
        assert np.all(np.isfinite(f["hist_weight_same"])) and f["hist_gate_clean"].shape == (3,)
    assert (tmp_path / "tracked.png").exists()
    assert "must divide m" in cli_error(simulate.main, ["--model", "st", "--heads", "7"])
    assert "temperature must be" in cli_error(simulate.main, ["--model", "st", "--temperature", "0"])
    assert "window must be" in cli_error(simulate.main, ["--model", "st", "--window", "-2"])
    assert "apply to the softmax Transformer" in cli_error(simulate.main, ["--model", "mamba", "--heads", "2"])


def test_one_softmax_layer_does_not_see_the_order_of_the_examples():
    """docs/stacks.md: the query's softmax over the examples depends on their content only, so a permutation of
    the examples leaves F unchanged (placement cannot matter to one softmax layer); Mamba's gate sees the order."""
    cfg = OutlierConfig(model="st", temperature=0.5)
    p, batch = _trained_like(cfg)
    perm = np.r_[np.random.default_rng(3).permutation(cfg.l_tr), cfg.l_tr]  # the query stays last
    P2 = batch.P[:, perm]
    st = models.REGISTRY.build(cfg)
    np.testing.assert_allclose(st.predict(p, P2), st.predict(p, batch.P), rtol=1e-12, atol=1e-14)
    mamba = models.REGISTRY.build(cfg.replace(model="mamba", temperature=1.0))
    assert np.abs(mamba.predict(p, P2) - mamba.predict(p, batch.P)).max() > 1e-3
