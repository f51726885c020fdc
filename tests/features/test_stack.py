"""Deep feature-filtering stacks (features.stack, Table 3 of arXiv 2602.12499): depth 1 is the paper's one-layer
model, and the reduced Table 3 keeps its qualitative claim."""

import numpy as np
import pytest

from mamba_dynamics.features import data, model, models, stack
from mamba_dynamics.features.config import ConfigError, FeaturesConfig
from mamba_dynamics.features.train import seed_streams, train


def test_depth_one_is_the_paper_model():
    cfg = FeaturesConfig(layers=1)
    rng = seed_streams(0)
    X = data.sample(cfg, data.make_basis(cfg.d, rng["basis"]), 60, rng["train"])
    one = model.init_params(cfg, seed_streams(0)["init"])
    deep = stack.init_stack_params(cfg, seed_streams(0)["init"])
    np.testing.assert_array_equal(deep.V, one.V)
    w = np.random.default_rng(2).standard_normal(cfg.d)
    one.w, deep.w[0] = w, w
    trained = cfg.replace(wbc="trained")  # every gradient returned
    a = models.SSM(trained).loss_and_grad(one, X)
    deep_model = models.SSMStack(trained)  # the stacked form at depth 1 (the registry builds it for layers > 1)
    for reference in (False, True):
        b = deep_model.loss_and_grad(deep, X, reference=reference)
        assert abs(a.loss - b.loss) < 1e-13
        np.testing.assert_allclose(b.F, a.F, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(b.grads["w"][0], a.grads["w"], rtol=1e-11, atol=1e-14)
        np.testing.assert_allclose(b.grads["V"], a.grads["V"], rtol=1e-11, atol=1e-14)
        for k in ("W_B", "W_C"):  # the stack holds W_B^T (b = W_B x)
            np.testing.assert_allclose(b.grads[k][0].T, a.grads[k], rtol=1e-11, atol=1e-14)


def test_frozen_projections_skip_their_gradients():
    """``wbc = frozen`` (Table 3's default): only ``w`` and ``V`` come back, ``V`` bit for bit and ``w`` to the last
    bits (a matrix-vector product instead of a row of the full one), chunked or not."""
    cfg = FeaturesConfig(layers=3)
    rng = seed_streams(1)
    X = data.sample(cfg, data.make_basis(cfg.d, rng["basis"]), 120, rng["train"])
    p = stack.init_stack_params(cfg, seed_streams(1)["init"])
    p.w += 0.3 * np.random.default_rng(4).standard_normal(p.w.shape)
    full = models.SSMStack(cfg.replace(wbc="trained")).loss_and_grad(p, X)
    frozen_model = models.REGISTRY.build(cfg)
    frozen = frozen_model.loss_and_grad(p, X)
    assert frozen_model.trained == ("w", "V")
    assert set(frozen.grads) == {"w", "V"} and frozen.loss == full.loss
    np.testing.assert_array_equal(frozen.grads["V"], full.grads["V"])
    np.testing.assert_allclose(frozen.grads["w"], full.grads["w"], rtol=1e-12, atol=1e-16)
    ref = frozen_model.loss_and_grad(p, X, reference=True)
    np.testing.assert_allclose(frozen.grads["w"], ref.grads["w"], rtol=1e-10, atol=1e-14)


def test_reduced_table3_gates_and_head_align_with_the_relevant_features():
    """Table 3's claim on a reduced setting (3 blocks, d = 10, 150 GD steps, 400 sequences): the stack fits, the
    rows of W_O and every block's gating vector lean towards span(o_+, o_-) (measured 0.56-0.97), and their mean
    cosine with the irrelevant o_j stays small (measured |.| <= 0.22)."""
    for seed in (0, 1):
        r = train(FeaturesConfig(layers=3, steps=150, log_every=150, n_train=400, n_test=400, seed=seed))
        f = r.final
        assert r.status == "completed" and f["test_err"] < 0.02
        assert f["mlp_rel"] > 0.6
        assert f["cos_rel_blocks"].min() > 0.5
        assert np.abs(f["cos_irr_blocks"]).max() < 0.3, f["cos_irr_blocks"]


def test_config_rejects_stacks_the_package_does_not_have():
    with pytest.raises(ConfigError, match="needs model ssm"):
        FeaturesConfig(layers=2, model="lt-mlp")
    with pytest.raises(ConfigError, match="needs model ssm"):
        FeaturesConfig(layers=2, reading="gate-only")
