"""Closed form (eq. 3) == selective-scan recurrence (eq. 1); log-space gates; long prompts and large weights."""

import numpy as np
import pytest

from mamba_dynamics.outliers.config import OutlierConfig
from mamba_dynamics.outliers.data import make_patterns, sample_test, sample_train
from mamba_dynamics.core.gating import log_gates_row
from mamba_dynamics.outliers.model import Params, forward, gates, init_params
from mamba_dynamics.core.scan import selective_scan


def random_params(rng, m, D, scale=1.0):
    return Params(rng.standard_normal((m, D)) * 0.3, rng.standard_normal((m, D)) * 0.3,
                  rng.standard_normal(D) * scale)


@pytest.mark.parametrize("gated", [True, False])
@pytest.mark.parametrize("w_scale", [0.1, 1.0, 5.0])
def test_recurrence_equals_closed_form(gated, w_scale):
    cfg = OutlierConfig(d=12, M1=4, M2=3, V=3, l_tr=9, batch=16)
    rng = np.random.default_rng(3)
    pat = make_patterns(cfg, rng)
    p = random_params(rng, cfg.m, cfg.d + 1, w_scale)
    for batch in (sample_train(cfg, pat, rng), sample_test(cfg, pat, rng, n=16, alpha=0.4)):
        F_closed = forward(p, batch.P, gated)
        F_scan = selective_scan(p.W_B, p.W_C, p.w, batch.P, gated)
        np.testing.assert_allclose(F_closed, F_scan, rtol=1e-11, atol=1e-13)


def test_init_matches_paper():
    cfg = OutlierConfig()
    p = init_params(cfg, np.random.default_rng(0))
    expected = np.zeros((cfg.m, cfg.d + 1))
    expected[np.arange(cfg.d), np.arange(cfg.d)] = cfg.delta
    np.testing.assert_array_equal(p.W_B, expected)
    np.testing.assert_array_equal(p.W_C, expected)
    assert p.w.shape == (cfg.d + 1,)


@pytest.mark.parametrize("scale", [1.0, 50.0, 1e4])
def test_long_prompts_and_large_weights_stay_finite(scale):
    rng = np.random.default_rng(2)
    l, D = 10_000, 8
    P = rng.standard_normal((2, l + 1, D))
    P[:, -1, -1] = 0
    p = random_params(rng, D, D, scale)
    G = gates(p.w, P)
    assert np.all(np.isfinite(G)) and np.all(G >= 0) and np.all(G <= 1)
    F = forward(p, P)
    assert np.all(np.isfinite(F))
    out = np.empty(l)
    log_gates_row(P[0] @ p.w, out)
    assert np.all(np.isfinite(out) | (out == -np.inf))
