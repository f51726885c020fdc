"""Symbolic derivation for the outlier-ICL Mamba / linear Transformer (arXiv 2510.00399, eqs. 1-3).

What this file shows, with sympy, at small sizes (default ``d+1 = 3``, ``l = 3``, ``m = 2``):

1. :func:`recurrence_output` builds ``F`` from the *selective-scan recurrence* (eq. 1 with ``A = -I``,
   ``Delta = softplus(w^T p)``) with every entry of ``W_B, W_C, w, P`` a symbol.  No closed form is used.
2. :func:`closed_form_reduction` proves the reduction to eq. (3): the recurrence minus
   ``sum_i G_i y_i p_i^T W_B^T W_C p_q`` simplifies to exactly 0 (for symbolic gate pre-activations).
3. :func:`symbolic_loss_gradients` differentiates the hinge loss of the recurrence output with respect to every
   entry of ``W_B, W_C, w``; :func:`compare` evaluates it at random points and compares it with the hand-derived
   Numba kernel and the NumPy reference of :mod:`mamba_dynamics.gradients`.

Run ``python derivations/outlier_mamba.py`` for a check at a few random points.

Glossary: ``D = d+1`` (prompt row width), ``l`` context examples, ``m`` rows of ``W_B, W_C``; ``t_j = w^T p_j``.
"""

from __future__ import annotations

import sys
from functools import lru_cache
from pathlib import Path

import numpy as np
import sympy as sp

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def _symbols(D: int, l: int, m: int):
    W_B = sp.Matrix(m, D, lambda a, k: sp.Symbol(f"WB_{a}_{k}", real=True))
    W_C = sp.Matrix(m, D, lambda a, k: sp.Symbol(f"WC_{a}_{k}", real=True))
    w = sp.Matrix(D, 1, lambda k, _: sp.Symbol(f"w_{k}", real=True))
    P = sp.Matrix(l + 1, D, lambda i, k: sp.Symbol(f"P_{i}_{k}", real=True))
    return W_B, W_C, w, P


def recurrence_output(W_B, W_C, w, P, gated: bool = True):
    """``F`` of one prompt from the raw scan: ``H_t = e^{-Delta_t} H_{t-1} + (1 - e^{-Delta_t}) p_t (W_B p_t)^T``,
    ``F = e_{d+1}^T H_{l+1} W_C p_q`` (the query row of ``P`` must have label entry 0)."""
    lp1, D = P.shape
    H = sp.zeros(D, W_B.shape[0])
    for t in range(lp1):
        p = P.row(t).T
        if gated:
            delta = sp.log(1 + sp.exp((w.T * p)[0]))  # softplus
            decay, write = sp.exp(-delta), 1 - sp.exp(-delta)
        else:
            decay, write = 1, 1
        H = decay * H + write * (p * (W_B * p).T)
    return (H * (W_C * P.row(lp1 - 1).T))[D - 1]


def closed_form_output(W_B, W_C, w, P, gated: bool = True):
    """Eq. (3): ``sum_i G_i(w) y_i p_i^T W_B^T W_C p_q`` with ``G_i = sig(t_i) prod_{j>i} (1 - sig(t_j))``."""
    lp1, D = P.shape
    sig = lambda x: 1 / (1 + sp.exp(-x))  # noqa: E731
    t = [(w.T * P.row(j).T)[0] for j in range(lp1)]
    pq = P.row(lp1 - 1).T
    F = 0
    for i in range(lp1 - 1):
        G = sig(t[i]) * sp.prod([1 - sig(t[j]) for j in range(i + 1, lp1)]) if gated else 1
        F += G * P[i, D - 1] * (P.row(i) * W_B.T * W_C * pq)[0]
    return F


def closed_form_reduction(D: int = 2, l: int = 2, m: int = 1) -> sp.Expr:
    """Recurrence minus closed form, simplified; returns ``0`` when the reduction of eq. (3) holds.

    The query's label entry is set to 0 as in the paper.  Gate pre-activations enter through ``exp(t_j)``;
    sympy's ``exp(-log(1 + e^t)) = 1 / (1 + e^t)`` is the identity ``exp(-softplus(t)) = 1 - sigmoid(t)``.
    """
    W_B, W_C, w, P = _symbols(D, l, m)
    P[l, D - 1] = 0
    diff = recurrence_output(W_B, W_C, w, P) - closed_form_output(W_B, W_C, w, P)
    ts = [sp.Symbol(f"t_{j}", real=True) for j in range(l + 1)]
    # express everything through the gate pre-activations t_j = w^T p_j, then simplify
    subs = {}
    for j in range(l + 1):
        subs[(w.T * P.row(j).T)[0]] = ts[j]
    diff = diff.subs(subs)
    return sp.simplify(sp.together(sp.expand(diff)))


@lru_cache(maxsize=None)
def _compiled(D: int, l: int, m: int, gated: bool):
    """Lambdified ``F`` and ``dF/dtheta`` of the recurrence for one prompt (theta = W_B, W_C, w flattened)."""
    W_B, W_C, w, P = _symbols(D, l, m)
    P[l, D - 1] = 0
    F = recurrence_output(W_B, W_C, w, P, gated)
    theta = list(W_B) + list(W_C) + list(w)
    grads = [sp.diff(F, s) for s in theta]
    args = theta + [s for s in P if isinstance(s, sp.Symbol)]
    return sp.lambdify(args, F, "mpmath"), sp.lambdify(args, grads, "mpmath"), len(args)


def symbolic_loss_gradients(W_B, W_C, w, P, z, gated: bool = True, dps: int = 40):
    """Hinge loss and its gradients from the symbolic recurrence, evaluated with ``dps`` digits (mpmath).

    Arrays as in :func:`mamba_dynamics.gradients.loss_and_grad`: ``P`` ``(B, l+1, D)``, ``z`` ``(B,)``.
    Returns ``(loss, gW_B (m, D), gW_C (m, D), gw (D,))`` as float64.
    """
    import mpmath

    B, lp1, D = P.shape
    m = W_B.shape[0]
    f_F, f_g, _ = _compiled(D, lp1 - 1, m, gated)
    theta = list(W_B.ravel()) + list(W_C.ravel()) + list(w.ravel())
    loss = mpmath.mpf(0)
    total = [mpmath.mpf(0)] * len(theta)
    with mpmath.workdps(dps):
        for b in range(B):
            prompt = [P[b, i, k] for i in range(lp1) for k in range(D) if not (i == lp1 - 1 and k == D - 1)]
            args = [mpmath.mpf(float(v)) for v in theta + prompt]
            margin = 1 - z[b] * f_F(*args)
            if margin > 0:
                loss += margin / B
                total = [acc - z[b] * g / B for acc, g in zip(total, f_g(*args))]
    g = np.array([float(v) for v in total])
    n = m * D
    return float(loss), g[:n].reshape(m, D), g[n : 2 * n].reshape(m, D), g[2 * n :]


def random_point(rng: np.random.Generator, D: int = 3, l: int = 3, m: int = 2, B: int = 3, w_scale: float = 1.0):
    """Random parameters and prompts (query label 0, labels +-1) at which to compare gradients."""
    W_B = rng.standard_normal((m, D))
    W_C = rng.standard_normal((m, D))
    w = w_scale * rng.standard_normal(D)
    P = rng.standard_normal((B, l + 1, D))
    P[:, :l, D - 1] = np.where(rng.random((B, l)) < 0.5, 1.0, -1.0)
    P[:, l, D - 1] = 0.0
    z = np.where(rng.random(B) < 0.5, 1.0, -1.0)
    return W_B, W_C, w, P, z


def compare(seed: int = 0, gated: bool = True, **sizes) -> dict:
    """Max relative error of the Numba kernel and of the NumPy reference against sympy, per parameter block."""
    from mamba_dynamics.gradients import loss_and_grad, loss_and_grad_reference

    rng = np.random.default_rng(seed)
    W_B, W_C, w, P, z = random_point(rng, **sizes)
    sym = symbolic_loss_gradients(W_B, W_C, w, P, z, gated)
    out = {}
    for name, fn in (("numba", loss_and_grad), ("numpy", loss_and_grad_reference)):
        res = fn(W_B, W_C, w, P, z, gated)
        for block, a, b in (("loss", res.loss, sym[0]), ("W_B", res.gW_B, sym[1]), ("W_C", res.gW_C, sym[2]),
                            ("w", res.gw, sym[3])):
            a, b = np.asarray(a, float), np.asarray(b, float)
            scale = max(np.max(np.abs(b)), 1e-300)
            out[(name, block)] = float(np.max(np.abs(a - b)) / scale)
    return out


if __name__ == "__main__":
    print("closed-form reduction (recurrence - eq. 3), simplified:", closed_form_reduction())
    worst = 0.0
    for gated in (True, False):
        for seed in range(3):
            errs = compare(seed, gated)
            worst = max(worst, max(errs.values()))
            print(f"{'mamba' if gated else 'lt':>5} seed {seed}: " +
                  ", ".join(f"{k[0]}/{k[1]} {v:.1e}" for k, v in errs.items()))
    print(f"worst relative error vs sympy: {worst:.2e}")
    raise SystemExit(0 if worst < 1e-10 else 1)
