"""Deep outlier stacks (outliers.stack, Table 1 of arXiv 2510.00399): depth 1 is the one-layer model, training
is deterministic, the reduced Table 1 keeps the paper's qualitative claim, and the CLI takes --layers / --norm."""

import json

import numpy as np
import pytest

from mamba_dynamics.outliers import model, models, stack
from mamba_dynamics.outliers.config import ConfigError, OutlierConfig
from mamba_dynamics.outliers.data import make_patterns, sample_train, seed_streams
from mamba_dynamics.outliers.experiments import evaluate, train_many
from mamba_dynamics.outliers.train import train


@pytest.mark.parametrize("gated", [True, False])
def test_depth_one_is_the_one_layer_model(gated):
    """Outputs, loss and every gradient of a 1-block stack equal eq. 3's kernel (to rounding: other summation
    order), at a trained-like point; block 1's initialisation is the one-layer draw."""
    cfg = OutlierConfig(layers=1)
    streams = seed_streams(0)
    batch = sample_train(cfg, make_patterns(cfg, streams["patterns"]), streams["train"])
    one = model.init_params(cfg, seed_streams(0)["init"])
    deep = stack.init_stack_params(cfg.replace(layers=3), seed_streams(0)["init"])
    np.testing.assert_array_equal(deep.w[0], one.w)
    np.testing.assert_array_equal(deep.W_B[0], one.W_B)
    rng = np.random.default_rng(1)
    W_B = one.W_B + 0.1 * rng.standard_normal(one.W_B.shape)
    W_C = one.W_C + 0.1 * rng.standard_normal(one.W_C.shape)
    w = 3 * one.w
    cfg = cfg.replace(model="mamba" if gated else "lt")
    a = models.OneLayer(cfg).loss_and_grad(model.Params(W_B, W_C, w), batch)
    deep = models.Stack(cfg)  # the stacked form at depth 1 (the registry builds it for layers > 1 only)
    for reference in (False, True):
        b = deep.loss_and_grad(stack.StackParams(W_B[None], W_C[None], w[None]), batch, reference=reference)
        assert abs(a.loss - b.loss) < 1e-13
        np.testing.assert_allclose(b.F, a.F, rtol=1e-12, atol=1e-13)
        for k in ("W_B", "W_C") + (("w",) if gated else ()):
            np.testing.assert_allclose(b.grads[k][0], a.grads[k], rtol=1e-11, atol=1e-13 * np.abs(a.grads[k]).max())


def test_stack_training_is_deterministic_and_tracks_every_block():
    cfg = OutlierConfig(layers=2, steps=30, log_every=10, n_test=100, d=12, M1=3, M2=4, V=2, l_tr=8, l_ts=8)
    a, b = train(cfg), train(cfg)
    assert a.status == "completed"
    for k in ("train_loss", "test_err", "attn_same_blocks", "gate_outlier_blocks", "stream_norm_blocks"):
        np.testing.assert_array_equal(a.history[k], b.history[k])
    assert a.history["attn_same_blocks"].shape == (4, 2)
    np.testing.assert_array_equal(a.params.W_B, b.params.W_B)
    assert a.history["stream_norm_blocks"][0, 0] == 1.0


def test_diverging_stack_stops_with_step_and_quantity():
    """The 3-block linear Transformer at Table 1's step 0.1 diverges (measured); the run says where and why."""
    r = train(OutlierConfig(model="lt", layers=3, p_a=0.4, alpha=0.5, steps=200, log_every=50, n_test=100))
    assert r.status == "diverged"
    assert "diverged at step" in r.message and "||W_" in r.message
    assert len(r.history["step"]) >= 1


def test_reduced_table1_mamba_suffers_outliers_close_to_the_query():
    """Table 1's qualitative claim on a reduced setting (d = 16, l = 12, 600 steps): the 3-block Mamba is accurate
    when the outliers are far from the query (FQ) and loses most when they sit next to it (CQ)."""
    base = OutlierConfig(layers=3, p_a=0.4, alpha=0.5, preset="tuned", d=16, M1=4, M2=6, V=3, l_tr=12, l_ts=12,
                         steps=600, log_every=600, n_test=200)
    for run in train_many([base.replace(seed=s) for s in (0, 1)]):
        acc = 1 - evaluate(run, (0.5,), ("flip",), ("R", "FQ", "CQ"), 500)[0, :, 0]
        assert acc[1] > 0.9 and acc[2] < min(acc[0], acc[1]) - 0.02, acc


def test_config_rejects_bad_stacks():
    with pytest.raises(ConfigError, match="layers must be a positive integer"):
        OutlierConfig(layers=0)
    with pytest.raises(ConfigError, match="unknown block normalisation 'layer'"):
        OutlierConfig(norm="layer")


def test_simulate_a_stack_writes_results(tmp_path, cli_error):
    import simulate

    assert simulate.main(["--model", "mamba", "--layers", "2", "--placement", "CQ", "--steps", "20",
                          "--log-every", "10", "--n-test", "100", "--out", str(tmp_path), "--quiet"]) == 0
    side = json.loads((tmp_path / "results.json").read_text())
    assert side["config"]["layers"] == 2 and (tmp_path / "tracked.png").exists()
    with np.load(tmp_path / "results.npz") as f:
        assert f["hist_gate_clean_blocks"].shape[1] == 2
    assert "layers must be a positive integer" in cli_error(simulate.main, ["--model", "mamba", "--layers", "-1"])
    assert "unknown block normalisation" in cli_error(simulate.main, ["--model", "lt", "--layers", "2",
                                                                       "--norm", "x"])
