"""The Stage-I gradient of the single-index readout (arXiv 2510.12026; spec section 7): the one function that
pretraining runs (through :class:`~mamba_dynamics.single_index.models.Readout`) and the gradient checker verifies.

    L1 = (1/2T) sum_t (f^t - y^t)^2,        f^t = sum_j a_j ReLU(v_j M^t + b_j),   M^t = <gamma, psi^t>,
    grad_gamma L1 = (1/T) sum_t (f^t - y^t) c^t psi^t,        c^t = df/dM = sum_j a_j v_j 1[v_j M^t + b_j > 0].

``psi`` comes from the Numba kernel :func:`mamba_dynamics.single_index.model.psi` (the fast path) or its NumPy
reference :func:`~mamba_dynamics.single_index.model.psi_reference` (``psi_fn``); both are looked up at call time,
so a patched kernel is what runs and what is checked.  The derivation is re-done symbolically from the raw scan in
:mod:`mamba_dynamics.single_index.symbolic`.

Glossary: ``gamma`` ``(d~,)``; ``X`` ``(T, N+1, d)`` prompts (query last); ``Y`` ``(T, N+1)`` labels, the last
column the query targets ``y^t`` (the model never reads it); ``v``, ``bj``, ``a`` ``(m,)`` the MLP.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..core.losses import LossGrad, half_squared_loss
from . import model


class ReadoutBatch(NamedTuple):
    """Prompts of the Stage-I loss: ``X`` ``(T, N+1, d)`` (query last) and ``Y`` ``(T, N+1)``, the last column the
    query targets ``y^t`` (the model never reads it)."""

    X: np.ndarray
    Y: np.ndarray


def stage1_grads(gamma, X, Y, rho, b, gated, v, bj, a, psi_fn=None) -> LossGrad:
    """``L1`` and ``grads = {"gamma": grad_gamma L1}`` over the ``T`` prompts of ``X``, ``Y`` with gate temperature
    ``rho`` and bias ``b``, and the predictions ``F = f`` ``(T,)``; ``psi_fn`` defaults to the Numba kernel
    :func:`~mamba_dynamics.single_index.model.psi`."""
    Ps = (psi_fn or model.psi)(X, Y, rho, b, gated)
    M = Ps @ gamma
    f = model.mlp(M, v, bj, a)
    resid = f - Y[:, -1]
    grad = Ps.T @ (resid * model.mlp_slope(M, v, bj, a)) / len(M)
    return LossGrad(half_squared_loss(f, Y[:, -1]), {"gamma": grad}, f)


__all__ = ("ReadoutBatch", "stage1_grads")
