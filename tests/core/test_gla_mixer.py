"""GLA's block (:mod:`mamba_dynamics.core.gla_mixer`): the Numba scans equal the NumPy closed form and its written-out
derivative (rows read out from ``first`` on, inactive sequences skipped), central differences of the raw block,
linear attention in the limit ``tau -> infinity``, and long sequences with huge weights stay finite."""

import numpy as np
import pytest

from mamba_dynamics.core.gates import VectorGate
from mamba_dynamics.core.gla_mixer import (gla_mix_adjoint, gla_mix_adjoint_reference, gla_mix_forward,
                                           gla_mix_forward_reference)
from mamba_dynamics.core.mixer import mix_forward_reference


def _case(N=4, T=9, D=5, r=3, scale=1.0, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((N, T, D))
    Z = np.concatenate([0.5 * rng.standard_normal((N, T, 2 * r)), scale * rng.standard_normal((N, T, r))], axis=2)
    return X, Z, r


def _parts(Z, r):
    return Z[:, :, :r], Z[:, :, r:2 * r], Z[:, :, 2 * r:]


def _kernel(X, Z, r, gate, Gy, first=0):
    N, T, D = X.shape
    Y, KEEP, SLOPE = np.empty((N, T - first, D)), np.empty((N, T, r)), np.empty((N, T, r))
    gla_mix_forward(X, Z, r, 1.0 / gate.tau, first, Y, KEEP, SLOPE)
    GX, dZ = np.empty_like(X), np.empty_like(Z)
    gla_mix_adjoint(X, Z, r, Gy, KEEP, SLOPE, True, GX, dZ)
    return Y, GX, dZ


@pytest.mark.parametrize("first", [0, 8])
@pytest.mark.parametrize("scale", [0.5, 4.0])
def test_kernels_equal_the_closed_form(first, scale):
    X, Z, r = _case(scale=scale)
    gate = VectorGate(2.5)
    Gy = np.random.default_rng(1).standard_normal(X.shape)
    Gy[:, :first] = 0.0
    Gy[2] = 0.0  # an inactive sequence: skipped, zeros written
    Y, GX, dZ = _kernel(X, Z, r, gate, Gy, first)
    np.testing.assert_allclose(Y, gla_mix_forward_reference(X, *_parts(Z, r), gate)[:, first:], rtol=1e-12,
                               atol=1e-13)
    ref = gla_mix_adjoint_reference(X, *_parts(Z, r), Gy, gate)
    for got, want in zip((GX, *_parts(dZ, r)), ref):
        np.testing.assert_allclose(got, want, rtol=1e-11, atol=1e-13)
    assert not GX[2].any() and not dZ[2].any()


def test_adjoint_matches_central_differences():
    X, Z, r = _case(N=2, T=6, D=3, r=2)
    gate = VectorGate(3.0)
    Gy = np.random.default_rng(2).standard_normal(X.shape)
    _, GX, dZ = _kernel(X, Z, r, gate, Gy)

    def loss(X, Z):
        return float(np.sum(Gy * gla_mix_forward_reference(X, *_parts(Z, r), gate)))

    h = 1e-6
    for A, G, other in ((Z, dZ, lambda A: loss(X, A)), (X, GX, lambda A: loss(A, Z))):
        fd = np.zeros_like(A)
        for i in np.ndindex(A.shape):
            up, down = A.copy(), A.copy()
            up[i] += h
            down[i] -= h
            fd[i] = (other(up) - other(down)) / (2 * h)
        np.testing.assert_allclose(G, fd, rtol=1e-6, atol=1e-8)


def test_no_decay_in_the_limit_is_linear_attention():
    X, Z, r = _case()
    Bp, Cp, _ = _parts(Z, r)
    Y = gla_mix_forward_reference(X, Bp, Cp, np.full(Bp.shape, 60.0), VectorGate(1e3))
    np.testing.assert_allclose(Y, mix_forward_reference(X, Bp, Cp, np.zeros(X.shape[:2]), False), rtol=1e-12)


def test_long_sequences_and_huge_weights_stay_finite():
    X, Z, r = _case(N=2, T=10_000, D=3, r=2, scale=1e3)
    Gy = np.random.default_rng(3).standard_normal(X.shape)
    Y, GX, dZ = _kernel(X, Z, r, VectorGate(16.0), Gy)
    assert np.isfinite(Y).all() and np.isfinite(GX).all() and np.isfinite(dZ).all()


def test_sympy_proves_the_adjoint():
    from mamba_dynamics.core.scan import gla_adjoint_checks

    assert all(d == 0 for d in gla_adjoint_checks(3, 2).values())
