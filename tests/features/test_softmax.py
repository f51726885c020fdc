"""st-mlp, the Eq. 6 head over causal softmax attention (Fig. 6's Transformer, arXiv 2602.12499): its settings are
validated, long prompts and huge weights stay finite, its attention statistics are what they say, and the reduced
Fig. 6 run keeps the qualitative claim (global attention fails on local concentration, a window learns it)."""

import numpy as np
import pytest

from mamba_dynamics.core.attention import softmax_weights_reference
from mamba_dynamics.core.config import ConfigError
from mamba_dynamics.features import data, metrics, model, models
from mamba_dynamics.features.config import FeaturesConfig
from mamba_dynamics.features.data import Sequences
from mamba_dynamics.features.train import train


@pytest.mark.parametrize("kw, needle", [
    (dict(model="ssm", heads=2), "temperature and heads apply to st-mlp only"),
    (dict(model="lt-mlp", temperature=2.0), "temperature and heads apply to st-mlp only"),
    (dict(model="st-mlp", temperature=0.0), "temperature must be"),
    (dict(model="st-mlp", heads=3), "heads = 3 must divide d = 10"),
    (dict(model="st-mlp", window=13), "window 13 exceeds L"),
])
def test_bad_config(kw, needle):
    with pytest.raises(ConfigError, match=needle):
        FeaturesConfig(**kw)


def _point(cfg, N, rng, scale=1.0):
    s = data.sample(cfg, data.make_basis(cfg.d, rng), N, rng)
    p = model.init_params(cfg, rng)
    p.W = p.W + scale * rng.standard_normal(p.W.shape)
    return p, s


@pytest.mark.parametrize("window, L", [(8, 10_000), (0, 2_000)])
def test_long_prompts_and_huge_weights_stay_finite(window, L):
    """Scores up to 10^3 times the trained scale, on prompts of 10^4 tokens through a window of 8 (O(L w)) and of
    2000 tokens globally (O(L^2)); the kernel equals the NumPy reference on a prefix."""
    cfg = FeaturesConfig(model="st-mlp", L=L, d=6, alpha_r=0.3, alpha_c=0.1, m=4, heads=2, window=window)
    mdl = models.REGISTRY.build(cfg)
    rng = np.random.default_rng(0)
    for scale in (1.0, 1e3):
        p, s = _point(cfg, 2, rng, scale)
        lg = mdl.loss_and_grad(p, Sequences(s.X, s.y))
        assert np.isfinite(lg.loss) and np.all(np.isfinite(lg.F))
        assert all(np.all(np.isfinite(g)) for g in lg.grads.values())
    short = models.REGISTRY.build(cfg.replace(L=40))
    a = short.loss_and_grad(p, Sequences(s.X[:, :40], s.y))
    b = short.loss_and_grad(p, Sequences(s.X[:, :40], s.y), reference=True)
    assert a.loss == pytest.approx(b.loss, abs=1e-12)
    for k in a.grads:
        np.testing.assert_allclose(a.grads[k], b.grads[k], rtol=1e-9, atol=1e-12 * max(1.0, np.abs(b.grads[k]).max()))


def test_attention_statistics_are_the_weights_sums():
    """attn_rel is the mean mass on o_+ / o_- tokens, attn_near the mean mass within gap_near of the reader; NaN
    for the models without softmax weights."""
    cfg = FeaturesConfig(model="st-mlp", regime="locality", heads=2, temperature=0.5)
    rng = np.random.default_rng(1)
    p, s = _point(cfg, 30, rng)
    st = metrics.attention_stats(p, s, cfg.attention, cfg.gap_near)
    A = softmax_weights_reference(s.X, s.X @ p.W.T, cfg.attention).mean(axis=1)  # (N, L, L)
    rel = sum(A[n, t, s_] for n in range(30) for t in range(cfg.L) for s_ in range(t + 1) if s.k[n, s_] < 2)
    near = sum(A[n, t, s_] for n in range(30) for t in range(cfg.L) for s_ in range(max(0, t - cfg.gap_near), t + 1))
    assert st["attn_rel"] == pytest.approx(rel / (30 * cfg.L), rel=1e-12)
    assert st["attn_near"] == pytest.approx(near / (30 * cfg.L), rel=1e-12)
    assert np.isnan(metrics.attention_stats(p, s, None, cfg.gap_near)["attn_rel"])


def test_reduced_fig6_softmax_global_fails_and_a_window_learns():
    """Fig. 6's Transformer rows, reduced (500 steps, about 1 s each): with a window of 3 softmax attention learns
    local concentration; global softmax attention does not, though it gathers the relevant tokens (its mass on
    o_+ / o_- grows, measured 0.33 -> 0.64) and loses the near ones (0.54 -> 0.43)."""
    base = FeaturesConfig(regime="locality", model="st-mlp", steps=500, n_train=400, n_test=400, log_every=50)
    local = train(base.replace(window=3)).history
    glob = train(base).history
    assert local["test_err"][-1] < 0.08 < 0.3 < glob["test_err"][-1]  # measured 0.025 and 0.395
    assert glob["attn_rel"][-1] > glob["attn_rel"][0] + 0.2 and glob["attn_near"][-1] < glob["attn_near"][0]


def test_cli_bad_input(cli_error):
    from simulate import main

    assert "temperature and heads apply to st-mlp only" in cli_error(main, ["--model", "ssm", "--heads", "2"])
    assert "must divide d" in cli_error(main, ["--model", "st-mlp", "--heads", "4"])
    assert "temperature must be" in cli_error(main, ["--model", "st-mlp", "--temperature", "-1"])
