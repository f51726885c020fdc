"""The quadratic-form kernels of the Hermite tokens (:mod:`mamba_dynamics.single_index.quadforms`) against their
NumPy references, their fixed order, and their use by the networks' context passes."""

import numpy as np
import pytest

from mamba_dynamics.single_index import quadforms as qf


def _upper(M):
    e = M.shape[-1]
    iu = np.triu_indices(e)
    return M[..., iu[0], iu[1]]


@pytest.mark.parametrize("d", [1, 3, 4, 5, 16, 17])
@pytest.mark.parametrize("N", [1, 7, 87])
def test_values_and_moments_equal_the_references(d, N):
    """Every band split (``d`` below, at and above multiples of the band of four rows) and token count (below a
    vector, not a multiple of one): the values of per-prompt forms and of one shared form, the moments per prompt
    and summed over the prompts (upper triangles; the lower one is never read)."""
    rng = np.random.default_rng(d * 100 + N)
    n, Q, e = 3, 2, d + 1
    X, Y = rng.standard_normal((n, N, d)), rng.standard_normal((n, N))
    XT = np.empty((n, e, N))
    qf.columns(X, XT)
    assert np.array_equal(XT, qf.augment_reference(X).transpose(0, 2, 1))
    T = np.triu(rng.standard_normal((n, Q, e, e)))
    uy = rng.standard_normal((n, Q))
    out = np.empty((n, Q, N))
    qf.quad_values(T, XT, Y, uy, 0.25, out)
    np.testing.assert_allclose(out, qf.quad_values_reference(T, X, Y, uy, 0.25), rtol=1e-12, atol=1e-12)
    qf.quad_values(T[:1], XT, Y, uy[:1], 0.0, out)  # one form for every prompt
    np.testing.assert_allclose(out, qf.quad_values_reference(T[:1], X, Y, uy[:1], 0.0), rtol=1e-12, atol=1e-12)
    C = rng.standard_normal((n, Q, N))
    Mt = np.empty((n, Q, e, e))
    qf.moments(X, XT, C, Mt)
    np.testing.assert_allclose(_upper(Mt), _upper(qf.moments_reference(X, C)), rtol=1e-12, atol=1e-12)
    tot = np.empty((1, Q, e, e))
    qf.moments(X, XT, C, tot)
    np.testing.assert_allclose(_upper(tot), _upper(qf.moments_reference(X, C, total=True)), rtol=1e-12,
                               atol=1e-12)


def test_the_order_is_fixed():
    """A value is ``T_dd`` plus ``x_k V_k`` in order of ``k``, each ``V_k`` summed over ``q >= k`` in order (the
    bands' zeros below the diagonal add nothing); a moment element sums over the tokens in order: the plain loops
    below give the same bits."""
    rng = np.random.default_rng(3)
    n, N, d = 2, 13, 6
    e = d + 1
    X, Y = rng.standard_normal((n, N, d)), np.zeros((n, N))
    XT = np.empty((n, e, N))
    qf.columns(X, XT)
    T = np.triu(rng.standard_normal((n, 1, e, e)))
    out = np.empty((n, 1, N))
    qf.quad_values(T, XT, Y, np.zeros((n, 1)), 0.0, out)
    C = rng.standard_normal((n, 1, N))
    Mt = np.empty((n, 1, e, e))
    qf.moments(X, XT, C, Mt)
    Xt = qf.augment_reference(X)
    for p in range(n):
        for i in range(N):
            acc = T[p, 0, d, d]
            for k in range(d):
                v = 0.0
                for q in range(k, e):
                    v = v + T[p, 0, k, q] * Xt[p, i, q]
                acc = acc + Xt[p, i, k] * v
            assert out[p, 0, i] + 0.0 == acc + 0.0
        for k in range(e):
            for q in range(k, e):
                acc = 0.0
                for i in range(N):
                    acc = acc + Xt[p, i, k] * (C[p, 0, i] * Xt[p, i, q]) if q < d else acc + Xt[p, i, k] * C[p, 0, i]
                if k == d:
                    acc = 0.0
                    for i in range(N):
                        acc = acc + C[p, 0, i]
                assert Mt[p, 0, k, q] == acc, (p, k, q)


def test_large_inputs_stay_finite():
    """Long prompts and large inputs: finite values and moments (no scratch overflow, no uninitialised reads)."""
    rng = np.random.default_rng(4)
    n, N, d = 2, 10_000, 16
    X = rng.standard_normal((n, N, d)) * 1e3
    XT = np.empty((n, d + 1, N))
    qf.columns(X, XT)
    T = np.triu(rng.standard_normal((1, 1, d + 1, d + 1)))
    out = np.empty((n, 1, N))
    qf.quad_values(T, XT, np.ones((n, N)), np.ones((1, 1)), 0.0, out)
    Mt = np.empty((1, 1, d + 1, d + 1))
    qf.moments(X, XT, np.full((n, 1, N), 1e-4), Mt)
    assert np.isfinite(out).all() and np.isfinite(_upper(Mt)).all()
