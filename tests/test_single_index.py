"""Groundwork for the single-index paper (arXiv 2510.12026, issue 6, in progress): links and exponents, data,
embedding, the gated readout against the raw selective scan, effective context size, pretraining, KRR."""

import numpy as np
import pytest

from mamba_dynamics.config import ConfigError
from mamba_dynamics.recurrence import selective_scan
from mamba_dynamics.single_index import hermite
from mamba_dynamics.single_index.baselines import krr_predict
from mamba_dynamics.single_index.config import SingleIndexConfig
from mamba_dynamics.single_index.data import embed, index_set, relevant_mask, sample_prompts
from mamba_dynamics.single_index.model import effective_context, gates, psi, psi_reference, stage1_loss_grad
from mamba_dynamics.single_index.pretrain import pretrain


@pytest.mark.parametrize("link, ie, ge", [("h2", 2, 2), ("h3", 3, 1), ("h4", 4, 2), ("h2+h3", 2, 1),
                                          ("poly:0,0,0,1", 1, 1), ("poly:0,0,0,0,1", 2, 2)])
def test_exponents(link, ie, ge):
    c = hermite.parse_link(link)
    assert hermite.information_exponent(c) == ie and hermite.generative_exponent(c) == ge


def test_link_normalisation_and_generative_exponent_by_monte_carlo():
    z = np.random.default_rng(0).standard_normal(2_000_000)
    for link in ("h3", "h4", "poly:1,2,0,3"):
        g = hermite.link_value(hermite.parse_link(link), z)
        assert abs(g.mean()) < 0.02 and abs(g.var() - 1) < 0.05
    # ge(h3) = 1: a label transform with a degree-1 component exists (a threshold on g); ge(h4) = 2: none does
    g3 = hermite.link_value(hermite.parse_link("h3"), z)
    g4 = hermite.link_value(hermite.parse_link("h4"), z)
    assert abs(np.mean((g3 > 2.0) * z)) > 0.01
    assert abs(np.mean((g4 > 2.0) * z)) < 0.003
    with pytest.raises(ValueError, match="unknown link"):
        hermite.parse_link("sin")
    with pytest.raises(ConfigError, match="r = 9 > d = 8"):
        SingleIndexConfig(d=8, r=9)


def test_prompts_and_embedding():
    rng = np.random.default_rng(1)
    I = index_set(12, 4, rng)
    X, Y, beta = sample_prompts(3000, 6, 12, I, hermite.parse_link("h2"), 0.1, rng)
    np.testing.assert_allclose(np.linalg.norm(beta, axis=1), 1.0)
    assert np.all(beta[:, np.setdiff1d(np.arange(12), I)] == 0)
    Phi = embed(X.reshape(-1, 12))
    assert Phi.shape[1] == 13 * 14 // 2
    gram = Phi.T @ Phi / len(Phi)  # orthonormal features under N(0, I)
    assert np.max(np.abs(gram - np.eye(len(gram)))) < 0.1
    assert relevant_mask(12, I).sum() == 1 + 2 * 4 + 6
    assert abs(np.var(Y) - 1.01) < 0.05


@pytest.mark.parametrize("gated", [True, False])
def test_readout_kernel_reference_and_recurrence_agree(gated):
    rng = np.random.default_rng(2)
    d, N, rho, b = 5, 7, 3.0, -1.5
    I = index_set(d, 2, rng)
    X, Y, _ = sample_prompts(6, N, d, I, hermite.parse_link("h3"), 0.1, rng)
    Y[:, -1] = 0.0
    np.testing.assert_allclose(psi(X, Y, rho, b, gated), psi_reference(X, Y, rho, b, gated), atol=1e-12)
    if gated:  # eq. 3 with W_B = diag(gamma, 0), W_C = I, w = (b, 0, ..., 0, 1/rho) is the raw selective scan
        gamma = rng.standard_normal((d + 1) * (d + 2) // 2)
        Z = np.concatenate([embed(X), Y[..., None]], axis=-1)
        D = Z.shape[-1]
        w = np.zeros(D)
        w[0], w[-1] = b, 1 / rho
        F = selective_scan(np.diag(np.r_[gamma, 0.0]), np.eye(D), w, Z)
        np.testing.assert_allclose(F, psi(X, Y, rho, b, True) @ gamma, rtol=1e-10, atol=1e-12)


def test_stage1_gradient_kernel_matches_reference_and_finite_differences():
    rng = np.random.default_rng(3)
    d, N, m = 4, 6, 5
    X, Y, _ = sample_prompts(8, N, d, index_set(d, 2, rng), hermite.parse_link("h4"), 0.1, rng)
    gamma = rng.standard_normal((d + 1) * (d + 2) // 2)
    v, bj, a = np.sign(rng.standard_normal(m)), rng.uniform(-1, 1, m), rng.standard_normal(m)
    args = (X, Y, 4.0, -2.0, True, v, bj, a)
    loss, grad = stage1_loss_grad(gamma, *args)
    loss_r, grad_r = stage1_loss_grad(gamma, *args, psi_fn=psi_reference)
    assert loss == pytest.approx(loss_r, rel=1e-12)
    np.testing.assert_allclose(grad, grad_r, rtol=1e-10, atol=1e-13)
    eps = 1e-6
    fd = np.array([(stage1_loss_grad(gamma + eps * e, *args)[0] - stage1_loss_grad(gamma - eps * e, *args)[0])
                   / (2 * eps) for e in np.eye(len(gamma))])
    np.testing.assert_allclose(grad, fd, rtol=1e-6, atol=1e-8)


def test_effective_context_grows_with_N_only_with_a_bias():
    """Spec 2.3: with b = 0 the gate keeps ~3 examples at any N; b = -log N - 1 keeps a fraction of N."""
    rng = np.random.default_rng(4)
    c = hermite.parse_link("h2")
    cfg = SingleIndexConfig(d=4, r=2, link="h2")
    for N in (64, 512):
        _, Y, _ = sample_prompts(40, N, 4, np.array([0, 1]), c, 0.1, rng)
        assert effective_context(gates(Y, 4.0, 0.0)).mean() < 5
        assert effective_context(gates(Y, 4.0, cfg.bias_for(N))).mean() > 0.3 * N


def test_pretraining_selects_relevant_features():
    cfg = SingleIndexConfig(d=10, r=3, link="h2", T1=3000, T2=1500, N_pt=128, width=64)
    rng = np.random.default_rng(5)
    I = index_set(cfg.d, cfg.r, rng)
    pre = pretrain(cfg, I, hermite.parse_link(cfg.link), rng)
    uniform = relevant_mask(cfg.d, I).mean()
    assert pre.stats["share_relevant"] > 2 * uniform
    X, Y, _ = sample_prompts(300, 512, cfg.d, I, pre.coefs, cfg.tau, rng)
    risk = np.mean((pre.predict(X, Y) - Y[:, -1]) ** 2) / np.mean(Y[:, -1] ** 2)
    assert risk < 0.7  # h2 (ie = 2) is learnable in context at this size


def test_krr_baseline_fits_a_smooth_context():
    rng = np.random.default_rng(6)
    X = rng.standard_normal((20, 205, 2))
    Y = np.sin(X[..., 0])
    pred = krr_predict(X[:, :200], Y[:, :200], X[:, 200:])
    assert pred.shape == (20, 5)
    assert np.mean((pred - Y[:, 200:]) ** 2) < 0.05 * np.var(Y[:, 200:])
