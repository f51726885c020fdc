"""Symbolic derivation for the outlier-ICL Mamba / linear Transformer (arXiv 2510.00399, eqs. 1-3).

What this file shows, with sympy, at small sizes (default ``d+1 = 3``, ``l = 3``, ``m = 2``):

1. :func:`~mamba_dynamics.core.scan.selective_scan_symbolic` builds ``F`` from the *selective-scan recurrence* (eq. 1 with ``A = -I``,
   ``Delta = softplus(w^T p)``) with every entry of ``W_B, W_C, w, P`` a symbol.  No closed form is used.
2. :func:`closed_form_reduction` proves the reduction to eq. (3): the recurrence minus
   ``sum_i G_i y_i p_i^T W_B^T W_C p_q`` simplifies to exactly 0 (for symbolic gate pre-activations).
3. :func:`formula_checks` subtracts each hand-written gradient formula (docs/derivations.md) from sympy's
   derivative and simplifies the difference to exactly 0.
4. :func:`symbolic_loss_gradients` differentiates the hinge loss of the recurrence output with respect to every
   entry of ``W_B, W_C, w``; as the gradient-check specs of models ``mamba`` and ``lt`` (:func:`gradient_specs`,
   registered with :mod:`mamba_dynamics.core.gradcheck` by the caller), it is compared at random points with the
   hand-derived Numba kernel and the NumPy reference (``python scripts/check_gradients.py``).

Run ``python derivations/outlier_mamba.py`` for all of the above.

Glossary: ``D = d+1`` (prompt row width), ``l`` context examples, ``m`` rows of ``W_B, W_C``; ``t_j = w^T p_j``.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import sympy as sp

from ..core.gates import VectorGate
from ..core.gradcheck import GradientSpec, check, model_spec
from ..core.scan import selective_scan_symbolic
from . import stack
from .config import OutlierConfig
from .data import PromptBatch
from .model import Params, forward
from .models import REGISTRY


def _symbols(D: int, l: int, m: int, vector: bool = False):
    """Symbolic ``W_B``, ``W_C`` ``(m, D)``, ``w`` ``(D, 1)`` (GLA's ``W_a`` ``(m, D)`` with ``vector``) and ``P``."""
    W_B = sp.Matrix(m, D, lambda a, k: sp.Symbol(f"WB_{a}_{k}", real=True))
    W_C = sp.Matrix(m, D, lambda a, k: sp.Symbol(f"WC_{a}_{k}", real=True))
    if vector:
        w = sp.Matrix(m, D, lambda a, k: sp.Symbol(f"w_{a}_{k}", real=True))
    else:
        w = sp.Matrix(D, 1, lambda k, _: sp.Symbol(f"w_{k}", real=True))
    P = sp.Matrix(l + 1, D, lambda i, k: sp.Symbol(f"P_{i}_{k}", real=True))
    return W_B, W_C, w, P


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
    diff = selective_scan_symbolic(W_B, W_C, w, P) - closed_form_output(W_B, W_C, w, P)
    ts = [sp.Symbol(f"t_{j}", real=True) for j in range(l + 1)]
    # express everything through the gate pre-activations t_j = w^T p_j, then simplify
    subs = {}
    for j in range(l + 1):
        subs[(w.T * P.row(j).T)[0]] = ts[j]
    diff = diff.subs(subs)
    return sp.simplify(sp.together(sp.expand(diff)))


@lru_cache(maxsize=None)
def _compiled(D: int, l: int, m: int, gated):
    """Lambdified ``F`` and ``dF/dtheta`` of the recurrence for one prompt (theta = W_B, W_C, w flattened);
    ``gated`` True / False or a gate of :mod:`mamba_dynamics.core.gates`."""
    W_B, W_C, w, P = _symbols(D, l, m, isinstance(gated, VectorGate))
    P[l, D - 1] = 0
    F = selective_scan_symbolic(W_B, W_C, w, P, gated)
    theta = list(W_B) + list(W_C) + list(w)
    grads = [sp.diff(F, s) for s in theta]
    args = theta + [s for s in P if isinstance(s, sp.Symbol)]
    return sp.lambdify(args, F, "mpmath"), sp.lambdify(args, grads, "mpmath"), len(args)


def symbolic_loss_gradients(W_B, W_C, w, P, z, gated=True, dps: int = 40):
    """Hinge loss and its gradients from the symbolic recurrence, evaluated with ``dps`` digits (mpmath).

    Arrays as in :func:`mamba_dynamics.outliers.gradients.hinge_grads`: ``P`` ``(B, l+1, D)``, ``z`` ``(B,)``.
    Returns ``(loss, gW_B (m, D), gW_C (m, D), gw (D,))`` as float64 (``gw`` shaped as ``w``: GLA's ``(m, D)``).
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
    return float(loss), g[:n].reshape(m, D), g[n : 2 * n].reshape(m, D), g[2 * n :].reshape(np.shape(w))


def _closed_form_parts(D: int, l: int, m: int):
    W_B, W_C, w, P = _symbols(D, l, m)
    P[l, D - 1] = 0
    return W_B, W_C, w, P, closed_form_output(W_B, W_C, w, P)


def formula_checks(D: int = 2, l: int = 2, m: int = 1) -> dict:
    """Each hand-written formula of docs/derivations.md minus sympy's derivative, simplified (all must be 0).

    ``dF/dW_B = u r^T``, ``dF/dW_C = (W_B r) p_q^T`` and
    ``dF/dw = sum_i q_i [(1 - sig_i) p_i - sum_{j>i} sig_j p_j]`` with ``u = W_C p_q``, ``r = sum_i G_i y_i p_i``,
    ``q_i = y_i s_i G_i``; differentiated from eq. (3), which :func:`closed_form_reduction` ties to the scan.
    """
    W_B, W_C, w, P, F = _closed_form_parts(D, l, m)
    sig = lambda x: 1 / (1 + sp.exp(-x))  # noqa: E731
    t = [(w.T * P.row(j).T)[0] for j in range(l + 1)]
    pq = P.row(l).T
    G = [sig(t[i]) * sp.prod([1 - sig(t[j]) for j in range(i + 1, l + 1)]) for i in range(l)]
    r = sp.zeros(D, 1)
    for i in range(l):
        r += G[i] * P[i, D - 1] * P.row(i).T
    u = W_C * pq
    hand = {"W_B": u * r.T, "W_C": (W_B * r) * pq.T}
    gw = sp.zeros(D, 1)
    for i in range(l):
        s_i = (P.row(i) * W_B.T * W_C * pq)[0]
        q_i = P[i, D - 1] * s_i * G[i]
        inner = (1 - sig(t[i])) * P.row(i).T
        for j in range(i + 1, l + 1):
            inner -= sig(t[j]) * P.row(j).T
        gw += q_i * inner
    hand["w"] = gw
    out = {}
    for name, mat in (("W_B", W_B), ("W_C", W_C), ("w", w)):
        auto = sp.Matrix(mat.shape[0], mat.shape[1], lambda a, k: sp.diff(F, mat[a, k]))
        diff = (auto - hand[name]).applyfunc(lambda e: sp.simplify(sp.together(e)))
        out[name] = diff
    return out


def gate_formula_checks(gated, D: int = 3, l: int = 3, m: int = 2, points: int = 2, seed: int = 0) -> dict:
    """App. E.6's gates against sympy: for the scalar :class:`~mamba_dynamics.core.gates.Gate` or GLA's
    :class:`~mamba_dynamics.core.gates.VectorGate` ``gated``, the largest absolute difference over ``points``
    random rational points, evaluated with 40 digits, of

    * ``reduction``: the raw recurrence (:func:`~mamba_dynamics.core.scan.selective_scan_symbolic`) minus the
      closed form (scalar: ``sum_i G_i y_i s_i`` with ``G_i = a(t_i) prod_{j>i} lambda(t_j)``; GLA: ``sum_i y_i
      u^T diag(D_i) k_i``);
    * ``dF/dw``: the hand formula of the gate gradient (scalar: ``sum_j (q_j alpha_j + Q_j beta_j) p_j``,
      ``Q_j = sum_{i<j} q_i``; GLA: ``dF/dW_a[a, :] = sum_j beta_ja E_ja p_j``) minus sympy's derivative of the
      recurrence;
    * ``dF/dW_B``, ``dF/dW_C``: ``u r^T`` and ``(W_B r) p_q^T`` with ``r = sum_i G_i y_i p_i`` (GLA: the module
      :mod:`mamba_dynamics.outliers.gla`'s formulas) minus sympy's.

    All are below 1e-30 when the formulas hold.  Sizes ``D = d+1``, ``l``, ``m``; ``P``'s query label is 0."""
    from ..core.gates import symbolic_terms

    vector = isinstance(gated, VectorGate)
    W_B, W_C, w, P = _symbols(D, l, m, vector)
    P[l, D - 1] = 0
    F = selective_scan_symbolic(W_B, W_C, w, P, gated)
    pq = P.row(l).T
    u = W_C * pq
    rows = [P.row(j).T for j in range(l + 1)]
    dsym = sp.Symbol("t_", real=True)
    if vector:
        a_, lam_ = symbolic_terms(dsym, gated.decay)
        T = [w * p for p in rows]  # (m, 1) each
        alpha = [[lam_.subs(dsym, T[j][a]) for a in range(m)] for j in range(l + 1)]
        beta = [[sp.diff(sp.log(lam_), dsym).subs(dsym, T[j][a]) for a in range(m)] for j in range(l + 1)]
        Dg = [[sp.prod([alpha[j][a] for j in range(i + 1, l + 1)]) for a in range(m)] for i in range(l)]
        k = [W_B * rows[i] for i in range(l)]
        closed = sum(P[i, D - 1] * sum(u[a] * Dg[i][a] * k[i][a] for a in range(m)) for i in range(l))
        hand_B = sp.Matrix(m, D, lambda a, d: sum(u[a] * P[i, D - 1] * Dg[i][a] * rows[i][d] for i in range(l)))
        v = [sum(P[i, D - 1] * Dg[i][a] * k[i][a] for i in range(l)) for a in range(m)]
        hand_C = sp.Matrix(m, D, lambda a, d: v[a] * pq[d])
        E = [[sum(P[i, D - 1] * u[a] * Dg[i][a] * k[i][a] for i in range(j)) for a in range(m)]
             for j in range(l + 1)]
        hand_w = sp.Matrix(m, D, lambda a, d: sum(beta[j][a] * E[j][a] * rows[j][d] for j in range(l + 1)))
    else:
        a_, lam_ = symbolic_terms(dsym, gated)
        t = [(w.T * p)[0] for p in rows]
        A = [a_.subs(dsym, x) for x in t]
        lam = [lam_.subs(dsym, x) for x in t]
        al = [sp.diff(sp.log(a_), dsym).subs(dsym, x) for x in t]
        be = [sp.diff(sp.log(lam_), dsym).subs(dsym, x) for x in t]
        G = [A[i] * sp.prod(lam[i + 1:]) for i in range(l)]
        s_ = [(rows[i].T * W_B.T * W_C * pq)[0] for i in range(l)]
        closed = sum(G[i] * P[i, D - 1] * s_[i] for i in range(l))
        r = sum((G[i] * P[i, D - 1] * rows[i] for i in range(l)), sp.zeros(D, 1))
        hand_B, hand_C = u * r.T, (W_B * r) * pq.T
        q = [P[i, D - 1] * s_[i] * G[i] for i in range(l)]
        hand_w = sp.zeros(D, 1)
        for j in range(l + 1):
            coef = (q[j] * al[j] if j < l else 0) + sum(q[:j]) * be[j]
            hand_w += coef * rows[j]
    checks = {"reduction": F - closed,
              "dF/dW_B": sp.Matrix(m, D, lambda a, d: sp.diff(F, W_B[a, d])) - hand_B,
              "dF/dW_C": sp.Matrix(m, D, lambda a, d: sp.diff(F, W_C[a, d])) - hand_C,
              "dF/dw": sp.Matrix(*w.shape, lambda a, d: sp.diff(F, w[a, d])) - hand_w}
    symbols = sorted(set(W_B) | set(W_C) | set(w) | {x for x in P if isinstance(x, sp.Symbol)}, key=str)
    rng = np.random.default_rng(seed)
    out = {name: 0.0 for name in checks}
    for _ in range(points):
        at = {x: sp.Rational(int(rng.integers(-150, 151)), 100) for x in symbols}
        for name, expr in checks.items():
            vals = expr if isinstance(expr, sp.MatrixBase) else [expr]
            out[name] = max(out[name], max(abs(float(sp.N(e.subs(at), 40))) for e in vals))
    return out


def latex_formulas(l: int = 2) -> dict:
    """LaTeX, generated by sympy, of the gate of eq. (3) and of ``d log G_i / d t_j`` for a prompt of length l."""
    t = sp.symbols(f"t_1:{l + 2}", real=True)
    sig = lambda x: 1 / (1 + sp.exp(-x))  # noqa: E731
    out = {}
    for i in range(l):
        G = sig(t[i]) * sp.prod([1 - sig(t[j]) for j in range(i + 1, l + 1)])
        out[f"G_{i + 1}"] = sp.latex(sp.simplify(G))
        for j in range(l + 1):
            d = sp.simplify(sp.diff(sp.log(G), t[j]))
            out[f"dlogG_{i + 1}/dt_{j + 1}"] = sp.latex(d)
    return out


# ----------------------------------------------------------------------------------------------------------
# gradient-check specs (mamba_dynamics.core.gradcheck)
# ----------------------------------------------------------------------------------------------------------

SIZES = dict(D=4, l=4, m=2, B=3)  # d = 3, l = 4, m = 2 as in the checker's contract


def _unpack(params: dict):
    return params["W_B"], params["W_C"], params["w"]


def make_case(gated):
    """Random point for the checker: every prompt has a hinge margin at least 0.01 away from the kink (``gated``
    as :func:`~mamba_dynamics.outliers.model.forward` takes it)."""

    def random_case(rng: np.random.Generator, scale: float = 1.0):
        D, l, m, B = SIZES["D"], SIZES["l"], SIZES["m"], SIZES["B"]
        W_B = scale * rng.standard_normal((m, D))
        W_C = scale * rng.standard_normal((m, D))
        w = scale * rng.standard_normal((m, D) if isinstance(gated, VectorGate) else D)
        P = rng.standard_normal((B, l + 1, D))
        P[:, :l, D - 1] = np.where(rng.random((B, l)) < 0.5, 1.0, -1.0)
        P[:, l, D - 1] = 0.0
        F = forward(Params(W_B, W_C, w), P, gated)
        z = -np.sign(F)  # active hinge: margin 1 + |F|
        z[z == 0] = 1.0
        if abs(F[-1]) > 1.01:  # one inactive prompt when possible: margin 1 - |F| < -0.01
            z[-1] = np.sign(F[-1])
        return {"W_B": W_B, "W_C": W_C, "w": w}, (P, z)

    return random_case


#: App. E.6's gates at the checked points: a gate exponent and a decay away from their defaults, so that the
#: check sees them (sympy takes them as the rationals 3 and 9/10)
GATE_CHECK = {"gret": dict(gate_tau=3.0), "gla": dict(gate_tau=2.5), "retnet": dict(decay=0.9)}
DESCRIPTIONS = {"mamba": "one-layer Mamba, eq. 3 of arXiv 2510.00399",
                "lt": "linear Transformer (G == 1), arXiv 2510.00399",
                "mamba2": "Mamba-2's gate in eq. 3 (App. E.6 of arXiv 2510.00399)",
                "gret": "gated retention's gate in eq. 3, tau = 3 (App. E.6)",
                "retnet": "RetNet's fixed decay in eq. 3, gamma = 0.9 (App. E.6)",
                "gla": "gated linear attention (vector gate) in eq. 3, tau = 2.5 (App. E.6)"}


def _spec(name: str) -> GradientSpec:
    """The one-layer model's spec: its kernel and reference are the model object's ``loss_and_grad``, the method
    training calls (:func:`~mamba_dynamics.core.gradcheck.model_spec`); sympy differentiates the raw recurrence
    with the model's gate."""
    model = REGISTRY.build(OutlierConfig(model=name, **GATE_CHECK.get(name, {})))
    gated = model.gated

    def symbolic(params, data):
        loss, gB, gC, gw = symbolic_loss_gradients(*_unpack(params), *data, gated)
        return loss, {"W_B": gB, "W_C": gC, "w": gw}

    return model_spec(
        name, model, make_case(gated),
        lambda params, data: (Params(*_unpack(params)), PromptBatch(*data)), symbolic=symbolic,
        blocks=("W_B", "W_C", "w"), symbolic_sizes=dict(SIZES), description=DESCRIPTIONS[name],
    )


MAMBA = _spec("mamba")
LT = _spec("lt")
#: App. E.6's gates (:mod:`mamba_dynamics.core.gates`, :mod:`mamba_dynamics.outliers.gla`)
GATED_SPECS = tuple(_spec(name) for name in ("mamba2", "gret", "retnet", "gla"))


# ----------------------------------------------------------------------------------------------------------
# deep stacks (mamba_dynamics.outliers.stack): sympy of the raw recurrences composed with residuals and RMSNorm
# ----------------------------------------------------------------------------------------------------------

#: a 2-block stack on prompts of 1 example and a query, d = 1, m = 1: 2 x (1 x 2 x 2 + 2) = 12 scalar parameters
#: (the Mamba stack; its blocks take the pairwise form on ``b``, ``c``).  The linear Transformer's has m = 2 = D,
#: Table 1's ``m = d + 1``, so that its blocks take the factored form (``core.stack.block_form``) and sympy
#: checks that form too (with every weight symbolic, m = 2 would cost the Mamba stack 8 s more per point).
STACK_SIZES = dict(D=2, l=1, m=1, B=1, L=2)
LT_STACK_SIZES = dict(STACK_SIZES, m=2)
GLA_STACK_SIZES = dict(STACK_SIZES, m=2)


def stack_symbolic_loss_grad(params: dict, data: tuple, gated: bool, norm: str = "rms", dps: int = 40,
                             attention=None):
    """Hinge loss and gradients of the stack from :func:`~mamba_dynamics.core.scan.stack_outputs_symbolic` (the
    raw recurrences, residual adds and RMSNorm written in sympy), every weight a symbol, the prompts' numbers
    substituted; the hinge's active piece is chosen at ``params`` (the random cases keep it 1e-2 from its kink).
    Evaluated with ``dps`` digits (mpmath)."""
    import mpmath

    from ..core.scan import stack_outputs_symbolic

    P, z = data
    L, m, D = params["W_B"].shape
    vector = isinstance(gated, VectorGate)  # GLA: W_a (m, D) per block
    mats = {"W_B": [sp.Matrix(m, D, lambda a, k, i=i: sp.Symbol(f"WB{i}_{a}_{k}", real=True)) for i in range(L)],
            "W_C": [sp.Matrix(m, D, lambda a, k, i=i: sp.Symbol(f"WC{i}_{a}_{k}", real=True)) for i in range(L)],
            "w": [sp.Matrix(m, D, lambda a, k, i=i: sp.Symbol(f"w{i}_{a}_{k}", real=True)) if vector else
                  sp.Matrix(D, 1, lambda k, _, i=i: sp.Symbol(f"w{i}_{k}", real=True)) for i in range(L)]}
    syms = [s for name in ("W_B", "W_C", "w") for M in mats[name] for s in M]
    vals = [float(v) for name in ("W_B", "W_C", "w") for v in np.asarray(params[name]).ravel()]
    at = dict(zip(syms, vals))
    blocks = list(zip(mats["W_B"], mats["W_C"], mats["w"]))
    B = P.shape[0]
    loss = 0
    for b in range(B):
        toks = [sp.Matrix([sp.Float(float(v)) for v in P[b, i]]) for i in range(P.shape[1])]
        F = stack_outputs_symbolic(blocks, toks, gated, norm, attention=attention)[-1][D - 1]
        margin = 1 - sp.Float(float(z[b])) * F
        if margin.evalf(30, subs=at) > 0:
            loss += margin / B
    grads = [sp.diff(loss, s) for s in syms]
    with mpmath.workdps(dps):
        x = [mpmath.mpf(v) for v in vals]
        both = sp.lambdify([syms], [loss] + grads, "mpmath", cse=True)(x)
        value, g = float(both[0]), np.array([float(v) for v in both[1:]])
    n = L * m * D
    return value, {"W_B": g[:n].reshape(L, m, D), "W_C": g[n:2 * n].reshape(L, m, D),
                   "w": g[2 * n:].reshape(params["w"].shape)}


def make_stack_case(gated: bool, sizes: dict | None = None, attention=None):
    """Random point of a stack: the paper's initialisation plus noise, hinge margins 1e-2 from the kink (``sizes``
    default: :data:`STACK_SIZES`, or :data:`LT_STACK_SIZES` without a gate; ``attention``: softmax blocks)."""
    sizes = sizes or (STACK_SIZES if gated else LT_STACK_SIZES)

    def random_case(rng: np.random.Generator, scale: float = 1.0):
        D, l, m, B, L = (sizes[k] for k in ("D", "l", "m", "B", "L"))
        while True:
            W_B = 0.5 * scale * rng.standard_normal((L, m, D))
            W_C = 0.5 * scale * rng.standard_normal((L, m, D))
            w = scale * rng.standard_normal((L, m, D) if isinstance(gated, VectorGate) else (L, D))
            P = rng.standard_normal((B, l + 1, D))
            P[:, :l, D - 1] = np.where(rng.random((B, l)) < 0.5, 1.0, -1.0)
            P[:, l, D - 1] = 0.0
            F = stack.forward(stack.StackParams(W_B, W_C, w), P, gated, attention=attention)
            z = -np.sign(F)
            z[z == 0] = 1.0
            if B > 1 and abs(F[-1]) > 1.01:  # (one prompt: keep it active, else the check is of zeros)
                z[-1] = np.sign(F[-1])
            if np.min(np.abs(1 - z * F)) > 1e-2:
                return {"W_B": W_B, "W_C": W_C, "w": w}, (P, z)

    return random_case


def _stack_spec(name: str, gated: bool) -> GradientSpec:
    """A 2-block stack's spec (the model object built with ``layers = 2``)."""
    cfg = OutlierConfig(model="mamba" if gated else "lt", layers=STACK_SIZES["L"])
    return model_spec(
        name, REGISTRY.build(cfg), make_stack_case(gated),
        lambda params, data: (stack.StackParams(*_unpack(params)), PromptBatch(*data)),
        symbolic=lambda p, d: stack_symbolic_loss_grad(p, d, gated),
        symbolic_sizes=dict(STACK_SIZES if gated else LT_STACK_SIZES),
        description=(f"{STACK_SIZES['L']}-block {'Mamba' if gated else 'linear Transformer'} stack with residuals "
                     f"and RMSNorm (--layers; Table 1 of arXiv 2510.00399)"),
    )


MAMBA_STACK = _stack_spec("mamba-stack", True)
LT_STACK = _stack_spec("lt-stack", False)


def _gate_stack_spec(model_name: str, **gate_fields) -> GradientSpec:
    """A 2-block stack of one of App. E.6's gates (the model object built with ``layers = 2``; sympy of the raw
    recurrences with that gate, :func:`~mamba_dynamics.core.scan.scan_outputs_symbolic`).  GLA's has two key
    coordinates (``m = 2``: a gate per coordinate that differs between them)."""
    cfg = OutlierConfig(model=model_name, layers=STACK_SIZES["L"], **gate_fields)
    mdl = REGISTRY.build(cfg)
    gate = mdl.gated
    sizes = GLA_STACK_SIZES if model_name == "gla" else STACK_SIZES
    return model_spec(
        f"{model_name}-stack", mdl, make_stack_case(gate, sizes),
        lambda params, data: (stack.StackParams(*_unpack(params)), PromptBatch(*data)),
        symbolic=lambda p, d: stack_symbolic_loss_grad(p, d, gate), symbolic_sizes=dict(sizes),
        blocks=("W_B", "W_C", "w"),
        description=f"{STACK_SIZES['L']}-block stack of {DESCRIPTIONS[model_name]}",
    )


#: the 2-block stacks of App. E.6's gates: checked four ways by the tests (``--layers`` is not a model name)
GATED_STACK_SPECS = tuple(_gate_stack_spec(name, **GATE_CHECK.get(name, {})) for name in ("mamba2", "gret",
                                                                                           "retnet", "gla"))

#: the softmax Transformer's checks: one layer with two heads, a temperature and a window of 2 tokens, and a
#: 2-block stack with RMSNorm (every weight symbolic; the softmax built from its raw definition, ``exp`` and a
#: sum; with m = 2 and two prompts the stack's expression took sympy 23 s a point, with m = 1 2.5 s)
ST_SIZES = dict(D=3, l=3, m=2, B=3, L=1)
ST_STACK_SIZES = dict(D=2, l=1, m=1, B=2, L=2)


def _st_spec(name: str, sizes: dict, temperature: float, heads: int, window: int) -> GradientSpec:
    """The softmax Transformer's spec: at ``L = 1`` the one-layer model (its own kernel, parameters ``(m, D)``:
    the stack's point and sympy's gradients with the block axis dropped), else the stack."""
    cfg = OutlierConfig(model="st", layers=sizes["L"], m=32, temperature=temperature, heads=heads, window=window)
    # (the config's m is any that the heads divide: the checked point's W_B, W_C are (m, D) of ``sizes``)
    att = cfg.attention
    case = make_stack_case(False, sizes, att)
    symbolic = lambda p, d: stack_symbolic_loss_grad(p, d, False, attention=att)  # noqa: E731
    assemble = lambda params, data: (stack.StackParams(*_unpack(params)), PromptBatch(*data))  # noqa: E731
    if sizes["L"] == 1:
        stacked_case, stacked_symbolic = case, symbolic

        def case(rng: np.random.Generator, scale: float = 1.0):
            p, d = stacked_case(rng, scale)
            return {k: v[0] for k, v in p.items()}, d

        def symbolic(p, d):
            loss, g = stacked_symbolic({k: v[None] for k, v in p.items()}, d)
            return loss, {k: v[0] for k, v in g.items()}

        assemble = lambda params, data: (Params(*_unpack(params)), PromptBatch(*data))  # noqa: E731
    return model_spec(
        name, REGISTRY.build(cfg), case, assemble, symbolic=symbolic, blocks=("W_B", "W_C"),
        symbolic_sizes=dict(sizes),
        description=(f"softmax Transformer ({sizes['L']} block{'s' if sizes['L'] > 1 else ''}, temperature "
                     f"{temperature:g}, {heads} head{'s' if heads > 1 else ''}, window {window or 'none'}; "
                     f"App. B.1 of arXiv 2510.00399)"),
    )


ST = _st_spec("st", ST_SIZES, 0.7, 2, 2)
ST_STACK = _st_spec("st-stack", ST_STACK_SIZES, 1.3, 1, 0)


def gradient_specs() -> tuple[GradientSpec, ...]:
    """The family's gradient-check specs, for the caller to register."""
    return (MAMBA, LT, MAMBA_STACK, LT_STACK, ST, ST_STACK) + GATED_SPECS + GATED_STACK_SPECS


def compare(seed: int = 0, gated: bool = True) -> dict:
    """Max relative error per (implementation, block) against sympy at one random point."""
    rows = check(MAMBA if gated else LT, seed)
    return {(r.comparison.split("~")[0], r.block): r.max_rel for r in rows if r.comparison.endswith("sympy")}
