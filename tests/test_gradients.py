"""Every gradient three ways: Numba kernel vs NumPy reference, central finite differences, sympy."""

import numpy as np
import pytest

from derivations import outlier_mamba as sym
from mamba_dynamics.config import OutlierConfig
from mamba_dynamics.data import make_patterns, sample_train
from mamba_dynamics.gradients import loss_and_grad, loss_and_grad_reference


def point(seed, B=6, l=7, D=6, m=7, w_scale=1.0):
    rng = np.random.default_rng(seed)
    W_B, W_C, w, P, z = sym.random_point(rng, D=D, l=l, m=m, B=B, w_scale=w_scale)
    return W_B * 0.5, W_C * 0.5, w, P, z


def rel(a, b):
    return np.max(np.abs(np.asarray(a) - np.asarray(b))) / max(np.max(np.abs(b)), 1e-300)


@pytest.mark.parametrize("gated", [True, False])
@pytest.mark.parametrize("shape", [dict(B=1, l=1, D=2, m=2), dict(B=5, l=7, D=6, m=7), dict(B=9, l=30, D=4, m=5)])
def test_kernel_matches_reference(gated, shape):
    for seed in range(3):
        args = point(seed, **shape)
        a, r = loss_and_grad(*args, gated), loss_and_grad_reference(*args, gated)
        assert a.loss == pytest.approx(r.loss, rel=1e-12, abs=1e-14)
        np.testing.assert_allclose(a.F, r.F, rtol=1e-12, atol=1e-13)
        for x, y in ((a.gW_B, r.gW_B), (a.gW_C, r.gW_C), (a.gw, r.gw)):
            np.testing.assert_allclose(x, y, rtol=1e-11, atol=1e-13)


def finite_difference(args, gated, eps=1e-6):
    W_B, W_C, w, P, z = args
    blocks = [W_B, W_C, w]
    out = []
    for bi, block in enumerate(blocks):
        g = np.zeros_like(block)
        for idx in np.ndindex(block.shape):
            vals = []
            for sgn in (1, -1):
                pert = [b.copy() for b in blocks]
                pert[bi][idx] += sgn * eps
                vals.append(loss_and_grad_reference(*pert, P, z, gated).loss)
            g[idx] = (vals[0] - vals[1]) / (2 * eps)
        out.append(g)
    return out


@pytest.mark.parametrize("gated", [True, False])
def test_kernel_matches_finite_differences(gated):
    args = point(11, B=4, l=6, D=5, m=5)
    # keep every prompt strictly inside the hinge (no kink within eps)
    F = loss_and_grad_reference(*args, gated).F
    args = args[:4] + (np.sign(F) * -1.0,)
    res = loss_and_grad(*args, gated)
    fd = finite_difference(args, gated)
    for block, (x, y) in zip(("W_B", "W_C", "w"), zip((res.gW_B, res.gW_C, res.gw), fd)):
        if np.max(np.abs(y)) == 0:
            assert np.max(np.abs(x)) == 0, block
        else:
            assert rel(x, y) < 1e-6, block


@pytest.mark.parametrize("gated", [True, False])
@pytest.mark.parametrize("seed", [0, 1])
def test_kernel_and_reference_match_sympy(gated, seed):
    errs = sym.compare(seed, gated)
    assert max(errs.values()) < 1e-10, errs


def test_sympy_proves_closed_form_reduction():
    assert sym.closed_form_reduction() == 0


def test_gradients_on_paper_data():
    cfg = OutlierConfig()
    rng = np.random.default_rng(0)
    pat = make_patterns(cfg, rng)
    b = sample_train(cfg, pat, rng)
    W_B = rng.standard_normal((cfg.m, cfg.d + 1)) * 0.2
    W_C = rng.standard_normal((cfg.m, cfg.d + 1)) * 0.2
    w = rng.standard_normal(cfg.d + 1)
    a, r = loss_and_grad(W_B, W_C, w, b.P, b.z), loss_and_grad_reference(W_B, W_C, w, b.P, b.z)
    for x, y in ((a.gW_B, r.gW_B), (a.gW_C, r.gW_C), (a.gw, r.gw)):
        assert rel(x, y) < 1e-11


@pytest.mark.parametrize("w_scale", [30.0, 1e3])
def test_saturated_gates_and_long_prompts_finite(w_scale):
    args = point(5, B=2, l=10_000, D=5, m=5, w_scale=w_scale)
    res = loss_and_grad(*args)
    assert np.isfinite(res.loss) and all(np.all(np.isfinite(g)) for g in (res.gW_B, res.gW_C, res.gw))
    short = point(5, B=3, l=40, D=5, m=5, w_scale=w_scale)
    a, r = loss_and_grad(*short), loss_and_grad_reference(*short)
    np.testing.assert_allclose(a.gw, r.gw, rtol=1e-10, atol=1e-300)
