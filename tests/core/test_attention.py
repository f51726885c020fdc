"""Causal softmax attention (core.attention): the Numba kernels against the NumPy reference for every option
(temperature, window, heads, the rows read out, inactive sequences), finite differences, the adjoint's formulas
proved with sympy, huge logits and long prompts, and the stack's softmax blocks against their reference."""

import numpy as np
import pytest

from mamba_dynamics.core.attention import (PAIRS_MAX_T, Attention, adjoint_checks, softmax_adjoint,
                                           softmax_adjoint_reference, softmax_forward, softmax_forward_reference,
                                           softmax_mix, softmax_mix_adjoint)
from mamba_dynamics.core.stack import stack_backward, stack_forward


def _run(X, Bp, Cp, att, first, Gy, form="rows"):
    """Forward and adjoint by the row kernels, or (``form="pairs"``) by the pairs kernels through the
    dispatchers (sequences of ``T <= PAIRS_MAX_T`` tokens)."""
    N, T, D = X.shape
    Y = np.full((N, T - first, D), np.nan)
    GX, dB, dC = np.full(X.shape, np.nan), np.full(Bp.shape, np.nan), np.full(Cp.shape, np.nan)
    if form == "pairs":
        assert T <= PAIRS_MAX_T
        A = softmax_mix(X, Bp, Cp, att, first, Y)
        assert A.shape == (N, att.heads, T - first, T)
        softmax_mix_adjoint(X, Bp, Cp, att, first, Gy, A, GX, dB, dC)
        return Y, A, GX, dB, dC
    LSE = np.empty((N, att.heads, T - first))
    softmax_forward(X, Bp, Cp, 1.0 / att.temperature, att.window, att.heads, first, Y, LSE)
    softmax_adjoint(X, Bp, Cp, 1.0 / att.temperature, att.window, att.heads, first, Gy, LSE, True, GX, True, dB, dC)
    return Y, LSE, GX, dB, dC


@pytest.mark.parametrize("att", [Attention(), Attention(0.6, 3, 1), Attention(2.0, 0, 2), Attention(1.0, 2, 3)])
@pytest.mark.parametrize("first", [0, 4, 7])
@pytest.mark.parametrize("form", ["rows", "pairs"])
def test_kernels_equal_the_reference(att, first, form):
    rng = np.random.default_rng(1)
    N, T, D, r = 3, 8, 4, 6
    X, Bp = rng.standard_normal((N, T, D)), 1.5 * rng.standard_normal((N, T, r))
    Cp = 1.5 * rng.standard_normal((N, T - first, r))
    Gy = rng.standard_normal((N, T - first, D))
    Gy[1] = 0.0  # an inactive sequence: zero gradients, its rows never visited
    Y, LSE, GX, dB, dC = _run(X, Bp, Cp, att, first, Gy, form)
    np.testing.assert_allclose(Y, softmax_forward_reference(X, Bp, Cp, att, first), rtol=1e-13, atol=1e-14)
    for got, want in zip((GX, dB, dC), softmax_adjoint_reference(X, Bp, Cp, att, Gy, first)):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-13 * max(1.0, np.abs(want).max()))
    assert not GX[1].any() and not dB[1].any() and not dC[1].any()


def test_reference_matches_finite_differences():
    rng = np.random.default_rng(2)
    att = Attention(0.8, 3, 2)
    X, Bp, Cp = rng.standard_normal((2, 6, 3)), rng.standard_normal((2, 6, 4)), rng.standard_normal((2, 6, 4))
    Gy = rng.standard_normal((2, 6, 3))
    GX, dB, dC = softmax_adjoint_reference(X, Bp, Cp, att, Gy)
    loss = lambda X_, B_, C_: float(np.sum(Gy * softmax_forward_reference(X_, B_, C_, att)))  # noqa: E731
    eps = 1e-6
    for which, grad in ((1, dB), (2, dC)):
        for idx in [(0, 1, 2), (1, 5, 0), (1, 3, 3)]:
            args = [X, Bp, Cp]
            hi, lo = [a.copy() for a in args], [a.copy() for a in args]
            hi[which][idx] += eps
            lo[which][idx] -= eps
            assert abs((loss(*hi) - loss(*lo)) / (2 * eps) - grad[idx]) < 1e-8


@pytest.mark.parametrize("window", [0, 2])
def test_the_adjoint_formulas_are_sympy_derivatives_of_the_raw_definition(window):
    assert all(v == 0 for v in adjoint_checks(3, window).values())


def test_huge_logits_and_long_prompts_stay_finite():
    """Scores of 1e4 and more (the max-shift keeps every exp <= 1), and a prompt of 10^4 tokens read at the last
    token (O(T)) or through a window of 8 (O(T w)): finite, and equal to the reference."""
    rng = np.random.default_rng(3)
    X = rng.standard_normal((2, 40, 3))
    Bp, Cp = 1e4 * rng.standard_normal((2, 40, 2)), rng.standard_normal((2, 40, 2))
    Gy = rng.standard_normal((2, 40, 3))
    for form in ("rows", "pairs"):
        Y, LSE, GX, dB, dC = _run(X, Bp, Cp, Attention(), 0, Gy, form)
        assert all(np.all(np.isfinite(a)) for a in (Y, LSE, GX, dB, dC))
        np.testing.assert_allclose(Y, softmax_forward_reference(X, Bp, Cp, Attention()), rtol=1e-12, atol=1e-12)
    T = 10_000
    X, Bp = rng.standard_normal((1, T, 3)), 30 * rng.standard_normal((1, T, 2))
    Cq = 30 * rng.standard_normal((1, 1, 2))
    Y, LSE, GX, dB, dC = _run(X, Bp, Cq, Attention(), T - 1, rng.standard_normal((1, 1, 3)))
    assert all(np.all(np.isfinite(a)) for a in (Y, LSE, GX, dB, dC))
    np.testing.assert_allclose(Y, softmax_forward_reference(X, Bp, Cq, Attention(), T - 1), rtol=1e-12, atol=1e-12)
    att = Attention(1.0, 8, 1)
    Y, LSE, GX, dB, dC = _run(X, Bp, 30 * rng.standard_normal((1, T, 2)), att, 0, rng.standard_normal((1, T, 3)))
    assert all(np.all(np.isfinite(a)) for a in (Y, LSE, GX, dB, dC))


@pytest.mark.parametrize("readout, last", [("stream", True), ("mixer", False)])
@pytest.mark.parametrize("att", [Attention(), Attention(0.5, 3, 2)])
def test_softmax_blocks_of_a_stack_equal_the_reference_and_finite_differences(readout, last, att):
    """Three softmax blocks on a residual stream (RMSNorm from block 2 on), the last token read or every token:
    outputs and gradients (the tokens' too) of the kernels against the NumPy forms, and one weight against
    central differences."""
    rng = np.random.default_rng(4)
    L, r, D, N, T = 3, 4, 4, 3, 6
    W_B, W_C = 0.5 * rng.standard_normal((L, r, D)), 0.5 * rng.standard_normal((L, r, D))
    w, X = np.zeros((L, D)), rng.standard_normal((N, T, D))
    res = {}
    for fast in (True, False):
        out, cache = stack_forward(W_B, W_C, w, X, False, readout, fast, last, None, "rms", attention=att)
        Gout = np.random.default_rng(5).standard_normal(out.shape)
        Gout[1] = 0.0
        grads = stack_backward(W_B, W_C, w, cache, Gout, False, readout, fast, None, want_dx=True)
        res[fast] = (out.copy(),) + tuple(g.copy() for g in grads)
    for a, b in zip(res[True], res[False]):
        np.testing.assert_allclose(a, b, rtol=1e-11, atol=1e-13 * max(np.abs(b).max(), 1.0))
    assert not res[True][3].any()  # no gate: dw == 0

    def loss(WB):
        out, _ = stack_forward(WB, W_C, w, X, False, readout, False, last, None, "rms", attention=att)
        return float(np.sum(Gout * out))

    eps = 1e-6
    hi, lo = W_B.copy(), W_B.copy()
    hi[1, 2, 3] += eps
    lo[1, 2, 3] -= eps
    assert abs((loss(hi) - loss(lo)) / (2 * eps) - res[True][1][1, 2, 3]) < 1e-7


def test_settings_are_validated():
    for bad in (dict(temperature=0.0), dict(temperature=float("inf")), dict(window=-1), dict(heads=0)):
        with pytest.raises(ValueError):
            Attention(**bad)
    with pytest.raises(ValueError, match="do not divide"):
        Attention(heads=4).check_width(6)
