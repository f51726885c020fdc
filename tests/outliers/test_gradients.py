"""Outlier-ICL gradients: the sympy proofs, a wrong kernel is caught, paper data, and property-based checks of the
Numba kernel against its NumPy reference over shapes, scales, saturated gates and long prompts.  (The four-way
check of every model runs in tests/test_gradcheck_all.py.)"""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mamba_dynamics.core.gradcheck import check
from mamba_dynamics.outliers import gradients
from mamba_dynamics.outliers import symbolic as sym
from mamba_dynamics.outliers.config import OutlierConfig
from mamba_dynamics.outliers.data import make_patterns, sample_train
from mamba_dynamics.outliers.gradients import hinge_grads, hinge_grads_reference


def test_sympy_proves_closed_form_reduction_and_formulas():
    assert sym.closed_form_reduction() == 0
    for name, diff in sym.formula_checks().items():
        assert all(e == 0 for e in diff), name


def test_wrong_kernel_is_caught(monkeypatch):
    real = gradients.hinge_grads

    def sign_flipped(*args, **kwargs):
        res = real(*args, **kwargs)
        return res._replace(grads=dict(res.grads, W_C=-res.grads["W_C"]))

    monkeypatch.setattr(gradients, "hinge_grads", sign_flipped)
    rows = check(sym.MAMBA, 0)
    bad = {(r.block, r.comparison) for r in rows if not r.ok}
    assert {("W_C", "kernel~reference"), ("W_C", "kernel~fd"), ("W_C", "kernel~sympy")} <= bad
    assert not any(b for b, c in bad if b != "W_C")

    from mamba_dynamics import check_gradients  # the CLI reports the failure with a non-zero exit status

    assert check_gradients.main(["--model", "mamba", "--no-sympy"]) == 1


def test_gradients_on_paper_data():
    cfg = OutlierConfig()
    rng = np.random.default_rng(0)
    pat = make_patterns(cfg, rng)
    b = sample_train(cfg, pat, rng)
    W_B = rng.standard_normal((cfg.m, cfg.d + 1)) * 0.2
    W_C = rng.standard_normal((cfg.m, cfg.d + 1)) * 0.2
    w = rng.standard_normal(cfg.d + 1)
    a, r = hinge_grads(W_B, W_C, w, b.P, b.z), hinge_grads_reference(W_B, W_C, w, b.P, b.z)
    for k in ("W_B", "W_C", "w"):
        x, y = a.grads[k], r.grads[k]
        np.testing.assert_allclose(x, y, rtol=1e-11, atol=1e-13 * np.max(np.abs(y)))


def _case(seed, B, l, D, m, w_scale, W_scale):
    rng = np.random.default_rng(seed)
    W_B = W_scale * rng.standard_normal((m, D))
    W_C = W_scale * rng.standard_normal((m, D))
    w = w_scale * rng.standard_normal(D)
    P = rng.standard_normal((B, l + 1, D))
    P[:, :l, -1] = np.where(rng.random((B, l)) < 0.5, 1.0, -1.0)
    P[:, l, -1] = 0.0
    z = np.where(rng.random(B) < 0.5, 1.0, -1.0)
    return W_B, W_C, w, P, z


def summand_scales(W_B, W_C, w, P, gated):
    """Magnitude of the terms each output sums (F, gW_B, gW_C, gw).  With saturated gates the true gradient can
    be ~1e-40 times its summands (exact cancellation); two correct implementations that add in different orders
    then differ by rounding relative to the summands, so that is the scale tolerances must refer to."""
    from mamba_dynamics.outliers.model import attention_scores, gates

    s, G = attention_scores(W_B, W_C, P), gates(w, P, gated)
    B, lp1, _ = P.shape
    rabs = (G[..., None] * np.abs(P[:, :-1])).sum(1).max(1)  # |r| bound per prompt
    u = np.abs(P[:, -1] @ W_C.T).max(1)
    terms = (G * np.abs(s)).sum(1)
    return {"F": terms, "gW_B": (u * rabs).sum() / B,
            "gW_C": (np.abs(W_B).sum(1).max() * rabs * np.abs(P[:, -1]).max(1)).sum() / B,
            "gw": (terms * np.abs(P).max() * lp1).sum() / B}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**31), B=st.integers(1, 5), l=st.integers(1, 25), D=st.integers(2, 7),
       m=st.integers(1, 7), w_scale=st.sampled_from([0.0, 1e-3, 1.0, 10.0, 1e3, 1e6]),
       W_scale=st.sampled_from([1e-4, 1.0, 1e2]), gated=st.booleans(), block=st.sampled_from([None, 1, 2]))
def test_property_kernel_matches_reference(seed, B, l, D, m, w_scale, W_scale, gated, block):
    args = _case(seed, B, l, D, m, w_scale, W_scale)
    a, r = hinge_grads(*args, gated, block=block), hinge_grads_reference(*args, gated)
    assert np.isfinite(a.loss) and all(np.all(np.isfinite(g)) for g in (a.F, *a.grads.values()))
    assert a.loss == pytest.approx(r.loss, rel=1e-10, abs=1e-12 * max(1.0, abs(r.loss)))
    scale = summand_scales(*args[:4], gated)
    pairs = [("F", a.F, r.F)] + [(f"g{k}", a.grads[k], r.grads[k]) for k in ("W_B", "W_C")] + [("gw", a.grads["w"], r.grads["w"])]
    for key, x, y in pairs:
        err = np.abs(x - y)
        assert np.all(err <= 1e-10 * np.abs(y) + 1e-12 * np.max(scale[key])), (key, err.max(), np.max(scale[key]))


@settings(max_examples=12, deadline=None)
@given(seed=st.integers(0, 2**31), l=st.sampled_from([500, 2000, 10_000]),
       w_scale=st.sampled_from([0.1, 30.0, 1e3]))
def test_property_long_prompts_finite_and_consistent(seed, l, w_scale):
    args = _case(seed, 2, l, 4, 4, w_scale, 1.0)
    a = hinge_grads(*args)
    assert np.isfinite(a.loss) and all(np.all(np.isfinite(g)) for g in (a.F, *a.grads.values()))
    # the O(l) kernel agrees with the O(l^2) reference on the last 300 examples of the same prompt
    W_B, W_C, w, P, z = args
    short = (W_B, W_C, w, P[:, -301:], z)
    s, r = hinge_grads(*short), hinge_grads_reference(*short)
    bound = 1e-10 * np.abs(r.grads["w"]) + 1e-12 * summand_scales(*short[:4], True)["gw"]
    assert np.all(np.abs(s.grads["w"] - r.grads["w"]) <= bound)


@pytest.mark.parametrize("gated", [True, False])
def test_block_size_does_not_change_a_bit(gated):
    """The kernel's blocks only regroup the passes: every block size gives the same bits (each output is summed
    over the prompts and tokens in the same order)."""
    args = _case(3, 67, 20, 31, 31, 1.0, 0.2)
    a = hinge_grads(*args, gated)
    assert gradients.prompt_block(67, 21, 31) == 50
    for block in (1, 7, 66, 10_000):
        b = hinge_grads(*args, gated, block=block)
        assert b.loss == a.loss and np.array_equal(b.F, a.F)
        assert all(np.array_equal(b.grads[k], a.grads[k]) for k in a.grads)


@pytest.mark.parametrize("B", [1, 3])
@pytest.mark.parametrize("gated", [True, False])
def test_inputs_are_not_modified(B, gated):
    args = _case(7, B, 6, 4, 3, 1.0, 1.0)
    copies = [a.copy() for a in args]
    hinge_grads(*args, gated)
    hinge_grads_reference(*args, gated)
    for a, c in zip(args, copies):
        np.testing.assert_array_equal(a, c)
