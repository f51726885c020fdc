"""Symbolic gradients of the feature-filtering model (arXiv 2602.12499; docs/features.md, eqs. F1-F10).

The loss is built in sympy from the *raw recurrence* (F2) ``h_l = (1 - sigma_l) h_{l-1} + sigma_l x_l`` with
``sigma_l = 1 / (1 + exp(-w^T x_l))`` (or from the attention sum (F4)), the head (F5) and the hinge (F6) (each kink replaced by its
piece active at the checked point); sympy differentiates it in every entry of ``w`` (or ``W``) and ``V``, and the
result is compared with the hand-derived Numba kernel and the NumPy reference of
:mod:`mamba_dynamics.features.gradients`.  :func:`closed_form_reduction` checks symbolically that the recurrence
equals the closed form (F3).  :func:`gradient_specs` gives the checker's specs of models ``ssm`` and ``lt-mlp``.

    python derivations/features_ssm.py      # prints the reduction check and the gradient table
"""

from __future__ import annotations

import numpy as np
import sympy as sp

from ..core.gradcheck import GradientSpec
from . import data as fdata
from . import gradients
from .config import FeaturesConfig
from .model import Params, output_layer

SIZES = dict(N=2, L=3, d=3, m=2)


def _sigmoid(t):
    return 1 / (1 + sp.exp(-t))


def _relu(u):
    return sp.Piecewise((u, u > 0), (0, True))


def ssm_outputs(w, X):
    """(F2) as sympy: ``w`` column (d, 1), ``X`` list of L token columns -> list of L output columns."""
    h = sp.zeros(X[0].shape[0], 1)
    out = []
    for x in X:
        s = _sigmoid((w.T * x)[0, 0])
        h = (1 - s) * h + s * x
        out.append(h)
    return out


def attention_outputs(W, X):
    """(F4) as sympy: ``W`` (d, d) matrix, ``X`` list of token columns."""
    return [sum(((X[s].T * W * X[l])[0, 0] * X[s] for s in range(l + 1)), sp.zeros(X[0].shape[0], 1)) / (l + 1)
            for l in range(len(X))]


def closed_form_reduction(L: int = 3, d: int = 2) -> sp.Expr:
    """Symbolic ``recurrence - closed form (F3)`` for generic tokens and w; simplifies to the zero vector."""
    w = sp.Matrix(sp.symbols(f"w0:{d}", real=True))
    X = [sp.Matrix(sp.symbols(f"x{l}_0:{d}", real=True)) for l in range(L)]
    sig = [_sigmoid((w.T * x)[0, 0]) for x in X]
    rec = ssm_outputs(w, X)
    diff = sp.zeros(d, 1)
    for l in range(L):
        closed = sum((sig[s] * sp.prod([1 - sig[j] for j in range(s + 1, l + 1)]) * X[s] for s in range(l + 1)),
                     sp.zeros(d, 1))
        diff += (rec[l] - closed).applyfunc(sp.simplify)
    return diff.applyfunc(sp.simplify)


def _symbolic(gated: bool, X: np.ndarray, y: np.ndarray, a: np.ndarray, point: list):
    """Loss and gradient lambdified in the model's symbols.  Each ReLU and the hinge are replaced by the piece
    that is active at ``point`` (sympy evaluates the pre-activations there); the random cases keep every kink
    at least 1e-3 away, so this is the exact derivative at ``point`` and much faster than ``Piecewise``."""
    N, L, d = X.shape
    m = len(a)
    mix = sp.Matrix(sp.symbols(f"w0:{d}", real=True)) if gated else sp.Matrix(d, d, sp.symbols(f"W0:{d * d}",
                                                                                                real=True))
    V = sp.Matrix(m, d, sp.symbols(f"v0:{m * d}", real=True))
    syms = list(mix) + list(V)
    at = dict(zip(syms, point))
    loss = 0
    for n in range(N):
        toks = [sp.Matrix([sp.Float(float(v)) for v in X[n, l]]) for l in range(L)]
        Y = ssm_outputs(mix, toks) if gated else attention_outputs(mix, toks)
        F = 0
        for l in range(L):
            for i in range(m):
                u = (V[i, :] * Y[l])[0, 0]
                if u.evalf(30, subs=at) > 0:  # ReLU(u) = u on the active piece, 0 elsewhere
                    F += sp.Float(float(a[i])) * u
        margin = 1 - sp.Float(float(y[n])) * F / L
        if margin.evalf(30, subs=at) > 0:  # hinge max(0, margin)
            loss += margin / N
    grads = [sp.diff(loss, s) for s in syms]
    return sp.lambdify([syms], loss, "mpmath"), sp.lambdify([syms], grads, "mpmath")


def symbolic_loss_grad(params: dict, data: tuple, gated: bool):
    """Sympy loss and gradient (40-digit mpmath) at ``params`` = {"w" or "W", "V"}, ``data`` = (X, y, a)."""
    import mpmath

    X, y, a = data
    mix = params["w"] if gated else params["W"]
    point = [float(v) for v in list(mix.ravel()) + list(params["V"].ravel())]
    f_loss, f_grad = _symbolic(gated, np.asarray(X), np.asarray(y), np.asarray(a), point)
    with mpmath.workdps(40):
        vals = [mpmath.mpf(v) for v in point]
        g = np.array([float(v) for v in f_grad(vals)])
        loss = float(f_loss(vals))
    k = mix.size
    return loss, {("w" if gated else "W"): g[:k].reshape(mix.shape), "V": g[k:].reshape(params["V"].shape)}


def _params(params: dict, a: np.ndarray, d: int):
    return Params(w=params.get("w", np.zeros(d)), W=params.get("W", np.eye(d)), V=params["V"], a=a)


def make_case(gated: bool):
    def random_case(rng: np.random.Generator, scale: float = 1.0):
        N, L, d, m = SIZES["N"], SIZES["L"], SIZES["d"], SIZES["m"]
        cfg = FeaturesConfig(d=d, L=L, m=m, alpha_r=0.67, alpha_c=0.0, tau=0.3)
        a = output_layer(m)
        while True:  # keep every ReLU and the hinge away from their kinks (exact finite differences)
            seqs = fdata.sample(cfg, fdata.make_basis(d, rng), N, rng)
            params = {"V": scale * rng.standard_normal((m, d))}
            params["w" if gated else "W"] = scale * rng.standard_normal(d if gated else (d, d))
            p = _params(params, a, d)
            Y = gradients.outputs(p, seqs.X, gated)
            pre = Y @ p.V.T
            F = (np.maximum(pre, 0) @ a).sum(axis=1) / L
            if np.min(np.abs(pre)) > 1e-3 and np.min(np.abs(1 - seqs.y * F)) > 1e-3 and np.any(seqs.y * F < 1):
                return params, (seqs.X, seqs.y, a)

    return random_case


def _spec(name: str, gated: bool) -> GradientSpec:
    def wrap(which):
        def loss_grad(params, data):
            X, y, a = data
            fn = getattr(gradients, which)  # looked up at call time: the function training calls is checked
            loss, g, _ = fn(_params(params, a, X.shape[2]), X, y, gated)
            return loss, g

        return loss_grad

    return GradientSpec(
        name=name, blocks=("w" if gated else "W", "V"), random_case=make_case(gated),
        kernel=wrap("loss_and_grad"), reference=wrap("loss_and_grad_reference"),
        symbolic=lambda p, d: symbolic_loss_grad(p, d, gated), symbolic_sizes=dict(SIZES),
        description=f"{'selective SSM' if gated else 'linear attention'} + two-layer ReLU MLP, hinge loss "
                    f"(arXiv 2602.12499)",
    )


SSM = _spec("ssm", True)
LT_MLP = _spec("lt-mlp", False)


def gradient_specs() -> tuple[GradientSpec, ...]:
    """The family's gradient-check specs, for the caller to register."""
    return (SSM, LT_MLP)
