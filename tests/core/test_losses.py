"""The shared losses (``core.losses``): NumPy's mean without its Python layer, and the Numba hinge loss of the
one-call training steps, bit for bit against the plain NumPy forms."""

import numpy as np
import pytest

from mamba_dynamics.core.losses import half_squared_loss, hinge_loss, hinge_loss_kernel

SIZES = list(range(1, 140)) + [255, 256, 257, 1000, 1001, 8191, 8192, 8193, 20001]


def _bits(x: float) -> int:
    return int(np.array([x]).view(np.int64)[0])


@pytest.mark.parametrize("seed", [0, 1])
def test_losses_are_numpys_mean_bit_for_bit(seed):
    rng = np.random.default_rng(seed)
    for n in SIZES:
        F = rng.standard_normal(n) * 10.0 ** rng.uniform(-4, 4, n)
        y = np.where(rng.random(n) < 0.5, -1.0, 1.0)
        expect = float(np.mean(np.maximum(0.0, 1.0 - y * F)))
        assert _bits(hinge_loss(F, y)) == _bits(expect), n
        assert _bits(hinge_loss_kernel(F, y)) == _bits(expect), n  # NumPy's pairwise order, in Numba
        P, Y = F.reshape(1, n), y.reshape(1, n)
        assert _bits(half_squared_loss(P, Y)) == _bits(0.5 * float(np.mean((P - Y) ** 2))), n
    P, Y = rng.standard_normal((64, 4)), rng.standard_normal((64, 4))
    assert _bits(half_squared_loss(P, Y)) == _bits(0.5 * float(np.mean((P - Y) ** 2)))
    assert isinstance(hinge_loss(F, y), float) and isinstance(half_squared_loss(P, Y), float)


def test_hinge_loss_kernel_keeps_nan_and_zero_margins():
    F, y = np.array([1.0, 0.5, np.nan]), np.array([1.0, -1.0, 1.0])
    assert np.isnan(hinge_loss_kernel(F, y)) and np.isnan(hinge_loss(F, y))
    F, y = np.array([2.0, 1.0, -3.0]), np.array([1.0, 1.0, -1.0])  # every margin met: exactly zero
    assert hinge_loss_kernel(F, y) == 0.0 == hinge_loss(F, y)
