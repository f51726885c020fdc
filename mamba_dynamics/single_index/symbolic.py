"""Symbolic Stage-I gradient of the single-index Mamba readout (arXiv 2510.12026; spec section 7).

The readout is the raw selective scan :func:`mamba_dynamics.core.scan.selective_scan_symbolic` run on tokens
``z_i = (phi(x_i), y_i)``, ``z_q = (phi(x), 0)`` with ``W_B = diag(gamma, 0)``, ``W_C = I`` and gate weights
``w = (b, 0, ..., 0, 1/rho)``; the linear-attention ablation is the ungated scan divided by N.  The loss is
``L1 = (1/2T) sum_t (f^t - y^t)^2`` with the MLP head ``f = sum_j a_j ReLU(v_j M + b_j)``.  Only ``gamma`` is
symbolic; sympy differentiates the loss of the *recurrence* and the result is compared with the hand-derived
:func:`mamba_dynamics.single_index.gradients.stage1_loss_grad` (the function pretraining runs) with the Numba
``psi`` kernel and with its NumPy reference.  :func:`gradient_specs` gives the checker's specs of models
``mamba-single-index`` and ``la-single-index``.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import sympy as sp

from ..core.gradcheck import GradientSpec
from ..core.scan import selective_scan_symbolic
from . import gradients, model
from .data import embed, index_set, sample_prompts
from .hermite import parse_link

SIZES = dict(d=2, N=3, T=2, m=3)  # d~ = 6 features, tokens of width 7
RHO, BIAS = 2.0, -1.0


def _relu(u):
    return sp.Piecewise((u, u > 0), (0, True))


@lru_cache(maxsize=None)
def _symbolic(gated: bool, key: tuple):
    """Lambdified loss and gradient in the symbols gamma, for the fixed numbers encoded in ``key``."""
    X, Y, v, bj, a = (np.array(k) for k in key)
    T, lp1, d = X.shape
    dt = (d + 1) * (d + 2) // 2
    gamma = sp.symbols(f"g0:{dt}", real=True)
    W_B = sp.diag(*gamma, 0)
    W_C = sp.eye(dt + 1)
    w = sp.Matrix([sp.Float(BIAS)] + [0] * (dt - 1) + [sp.Float(1 / RHO)])
    loss = 0
    for t in range(T):
        Phi = embed(X[t])
        Z = sp.Matrix([[sp.Float(float(v_)) for v_ in Phi[i]] + [sp.Float(float(Y[t, i]) if i < lp1 - 1 else 0.0)]
                       for i in range(lp1)])
        M = selective_scan_symbolic(W_B, W_C, w, Z, gated)
        if not gated:
            M = M / (lp1 - 1)
        f = sum(sp.Float(float(a[j])) * _relu(sp.Float(float(v[j])) * M + sp.Float(float(bj[j])))
                for j in range(len(a)))
        loss += (f - sp.Float(float(Y[t, -1]))) ** 2 / (2 * T)
    grads = [sp.diff(loss, g) for g in gamma]
    return sp.lambdify([gamma], loss, "mpmath"), sp.lambdify([gamma], grads, "mpmath")


def symbolic_loss_grad(params: dict, data: tuple, gated: bool):
    import mpmath

    X, Y, v, bj, a = data
    key = tuple(np.asarray(x).tolist() if np.ndim(x) else x for x in (X, Y, v, bj, a))
    key = tuple(_freeze(k) for k in key)
    f_loss, f_grad = _symbolic(gated, key)
    with mpmath.workdps(40):
        g = [mpmath.mpf(float(x)) for x in params["gamma"]]
        return float(f_loss(g)), {"gamma": np.array([float(x) for x in f_grad(g)])}


def _freeze(x):
    return tuple(_freeze(v) for v in x) if isinstance(x, list) else x


def make_case(gated: bool):
    def random_case(rng: np.random.Generator, scale: float = 1.0):
        d, N, T, m = SIZES["d"], SIZES["N"], SIZES["T"], SIZES["m"]
        while True:  # keep every ReLU away from its kink, so finite differences are exact to O(eps^2)
            X, Y, _ = sample_prompts(T, N, d, index_set(d, 1, rng), parse_link("h3"), 0.1, rng)
            gamma = scale * rng.standard_normal((d + 1) * (d + 2) // 2)
            v, bj, a = np.sign(rng.standard_normal(m)), rng.uniform(-1, 1, m), rng.standard_normal(m)
            Yc = Y.copy()
            Yc[:, -1] = 0.0
            M = model.psi(X, Yc, RHO, BIAS, gated) @ gamma
            if np.min(np.abs(np.outer(M, v) + bj)) > 1e-3:
                return {"gamma": gamma}, (X, Y, v, bj, a)

    return random_case


def _spec(name: str, gated: bool) -> GradientSpec:
    def run(reference: bool):
        def loss_grad(params, data):  # looked up at call time: the function pretraining calls is checked
            X, Y, v, bj, a = data
            psi_fn = model.psi_reference if reference else None
            return gradients.stage1_loss_grad(params["gamma"], X, Y, RHO, BIAS, gated, v, bj, a, psi_fn)[:2]

        return loss_grad

    return GradientSpec(
        name=name, blocks=("gamma",), random_case=make_case(gated), kernel=run(False), reference=run(True),
        symbolic=lambda p, d: symbolic_loss_grad(p, d, gated), symbolic_sizes=dict(SIZES),
        description=f"single-index {'Mamba' if gated else 'linear-attention'} readout + MLP, Stage-I loss "
                    f"(arXiv 2510.12026)",
    )


MAMBA_SI = _spec("mamba-single-index", True)
LA_SI = _spec("la-single-index", False)


def gradient_specs() -> tuple[GradientSpec, ...]:
    """The family's gradient-check specs, for the caller to register."""
    return (MAMBA_SI, LA_SI)
