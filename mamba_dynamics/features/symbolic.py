"""Symbolic gradients of the feature-filtering model (arXiv 2602.12499; docs/features.md, eqs. F1-F10).

The loss is built in sympy from the *raw recurrence*: the paper's scan (Eqs. 2-3) ``H_t = (1 - sigma_t) H_{t-1} +
sigma_t x_t (W_B^T x_t)^T``, ``y_t = H_t W_C^T x_t`` with ``sigma_t = 1 / (1 + exp(-w^T x_t))`` (or the gate-only
scan (F2) ``h_l = (1 - sigma_l) h_{l-1} + sigma_l x_l``, or the attention sum (F4), global or windowed), the head
(Eq. 6 / F5) and the hinge (each kink replaced by its piece active at the checked point); sympy differentiates it
in every entry of ``w``, ``W_B``, ``W_C`` (or ``W``) and ``V``, and the result is compared with the hand-derived
Numba kernel and the NumPy reference of :mod:`mamba_dynamics.features.gradients`.  :func:`closed_form_reduction`
checks symbolically that each recurrence equals its closed form (F3 / Eq. 5).  :func:`gradient_specs` gives the
checker's specs of models ``ssm`` (the paper's model) and ``lt-mlp``; :data:`VARIANTS` the specs of the gate-only
reading and of windowed attention, which the tests check the same four ways.

    python derivations/features_ssm.py      # prints the reduction check and the gradient table
"""

from __future__ import annotations

import numpy as np
import sympy as sp

from ..core.gates import VectorGate
from ..core.gradcheck import GradientSpec, model_spec
from . import data as fdata
from .config import FeaturesConfig
from .model import output_layer
from .models import REGISTRY

SIZES = dict(N=2, L=3, d=3, m=2)
#: per-kind sizes of the checked cases: the paper's model has 27 scalar parameters at these sizes, so it is checked
#: on one sequence (the sympy derivative's cost grows with N times the parameter count)
KIND_SIZES = {"ssm": dict(SIZES, N=1), "st-mlp": dict(SIZES, N=1)}


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


def content_outputs(w, W_B, W_C, X, gate=None):
    """Eqs. 2-3 as sympy, with the ``(d, r)`` state matrix: ``w`` column (d, 1), ``W_B``, ``W_C`` (d, r) matrices,
    ``X`` list of L token columns -> list of L output columns.  ``gate``: another scalar gate of
    :mod:`mamba_dynamics.core.gates` (``H = lambda(t) H + a(t) x (W_B^T x)^T`` from its raw definition), or GLA's
    vector gate (``w`` = ``W_a`` (d, r): ``H = H diag(lambda(W_a^T x)) + x (W_B^T x)^T``)."""
    from ..core.gates import symbolic_terms

    H = sp.zeros(X[0].shape[0], W_B.shape[1])
    out = []
    for x in X:
        if isinstance(gate, VectorGate):
            H = H * sp.diag(*[symbolic_terms(v, gate.decay)[1] for v in w.T * x]) + x * (W_B.T * x).T
            out.append(H * (W_C.T * x))
            continue
        t = (w.T * x)[0, 0]
        if gate is None or gate.kind == "mamba":
            s = _sigmoid(t)
            write, keep = s, 1 - s
        else:
            write, keep = symbolic_terms(t, gate)
        H = keep * H + write * x * (W_B.T * x).T
        out.append(H * (W_C.T * x))
    return out


def attention_outputs(W, X, window: int = 0):
    """(F4) as sympy: ``W`` (d, d) matrix, ``X`` list of token columns; ``window`` = 0 (global) or k."""
    out = []
    for l in range(len(X)):
        first = max(0, l - window + 1) if window else 0
        out.append(sum(((X[s].T * W * X[l])[0, 0] * X[s] for s in range(first, l + 1)),
                       sp.zeros(X[0].shape[0], 1)) / (l + 1 - first))
    return out


def closed_form_reduction(L: int = 3, d: int = 2, content: bool = False) -> sp.Expr:
    """Symbolic ``recurrence - closed form`` for generic tokens, w (and W_B, W_C with ``content``): (F2) vs (F3),
    or Eqs. 2-3 vs Eq. 5; simplifies to the zero vector."""
    w = sp.Matrix(sp.symbols(f"w0:{d}", real=True))
    X = [sp.Matrix(sp.symbols(f"x{l}_0:{d}", real=True)) for l in range(L)]
    sig = [_sigmoid((w.T * x)[0, 0]) for x in X]
    if content:
        W_B = sp.Matrix(d, d, sp.symbols(f"b0:{d * d}", real=True))
        W_C = sp.Matrix(d, d, sp.symbols(f"c0:{d * d}", real=True))
        rec = content_outputs(w, W_B, W_C, X)
        score = lambda s, l: ((W_B.T * X[s]).T * (W_C.T * X[l]))[0, 0]  # noqa: E731
    else:
        rec = ssm_outputs(w, X)
        score = lambda s, l: 1  # noqa: E731
    diff = sp.zeros(d, 1)
    for l in range(L):
        closed = sum((sig[s] * sp.prod([1 - sig[j] for j in range(s + 1, l + 1)]) * score(s, l) * X[s]
                      for s in range(l + 1)), sp.zeros(d, 1))
        diff += (rec[l] - closed).applyfunc(sp.simplify)
    return diff.applyfunc(sp.simplify)


def _blocks(kind: str, d: int, m: int, vector: bool = False) -> dict:
    """Sympy matrices of the trainable blocks of ``kind`` in {"ssm", "ssm-gate-only", "lt-mlp", "st-mlp"}
    (``vector``: the Eq. 5 mixer's gate is GLA's, ``w`` = ``W_a`` ``(d, d)``)."""
    if kind == "ssm":
        w = sp.Matrix(d, d, sp.symbols(f"w0:{d * d}", real=True)) if vector else sp.Matrix(sp.symbols(f"w0:{d}",
                                                                                                       real=True))
        mats = {"w": w,
                "W_B": sp.Matrix(d, d, sp.symbols(f"b0:{d * d}", real=True)),
                "W_C": sp.Matrix(d, d, sp.symbols(f"c0:{d * d}", real=True))}
    elif kind == "ssm-gate-only":
        mats = {"w": sp.Matrix(sp.symbols(f"w0:{d}", real=True))}
    else:
        mats = {"W": sp.Matrix(d, d, sp.symbols(f"W0:{d * d}", real=True))}
    mats["V"] = sp.Matrix(m, d, sp.symbols(f"v0:{m * d}", real=True))
    return mats


def _symbolic(kind: str, window: int, X: np.ndarray, y: np.ndarray, a: np.ndarray, point: dict, attention=None,
              gate=None):
    """Loss and gradient lambdified in the model's symbols.  Each ReLU and the hinge are replaced by the piece
    that is active at ``point`` (sympy evaluates the pre-activations there); the random cases keep every kink
    at least 1e-3 away, so this is the exact derivative at ``point`` and much faster than ``Piecewise``."""
    N, L, d = X.shape
    m = len(a)
    mats = _blocks(kind, d, m, isinstance(gate, VectorGate))
    syms = [s for M in mats.values() for s in M]
    vals = [float(v) for name in mats for v in np.asarray(point[name]).ravel()]
    at = dict(zip(syms, vals))
    V = mats["V"]
    loss = 0
    for n in range(N):
        toks = [sp.Matrix([sp.Float(float(v)) for v in X[n, l]]) for l in range(L)]
        if kind == "ssm":
            Y = content_outputs(mats["w"], mats["W_B"], mats["W_C"], toks, gate)
        elif kind == "ssm-gate-only":
            Y = ssm_outputs(mats["w"], toks)
        elif kind == "st-mlp":  # b = x, c = W x, the softmax from its raw definition
            from ..core.attention import softmax_outputs_symbolic

            Y = softmax_outputs_symbolic(sp.eye(d), mats["W"], toks, attention)
        else:
            Y = attention_outputs(mats["W"], toks, window)
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
    shapes = {name: M.shape for name, M in mats.items()}
    return sp.lambdify([syms], loss, "mpmath"), sp.lambdify([syms], grads, "mpmath"), vals, shapes


def symbolic_loss_grad(params: dict, data: tuple, kind: str, window: int = 0, attention=None, gate=None):
    """Sympy loss and gradient (40-digit mpmath) at ``params`` (the blocks of ``kind``), ``data`` = (X, y, a);
    ``gate``: the Eq. 5 mixer's gate when not Mamba's."""
    import mpmath

    X, y, a = data
    f_loss, f_grad, point, shapes = _symbolic(kind, window, np.asarray(X), np.asarray(y), np.asarray(a), params,
                                              attention, gate)
    with mpmath.workdps(40):
        vals = [mpmath.mpf(v) for v in point]
        g = np.array([float(v) for v in f_grad(vals)])
        loss = float(f_loss(vals))
    out, i = {}, 0
    for name, (r, c) in shapes.items():
        block = g[i:i + r * c]
        out[name] = block.reshape(r) if c == 1 else block.reshape(r, c)
        i += r * c
    return loss, out


#: model kind -> (gated, content)
KINDS = {"ssm": (True, True), "ssm-gate-only": (True, False), "lt-mlp": (False, False), "st-mlp": (False, False)}
#: the configs whose model objects the specs check (every block of the kind trained: ``wbc = "trained"``)
KIND_CONFIGS = {"ssm": dict(model="ssm", wbc="trained"), "ssm-gate-only": dict(model="ssm", reading="gate-only"),
                "lt-mlp": dict(model="lt-mlp"), "st-mlp": dict(model="st-mlp")}


def _assemble(mdl):
    """``(params, (X, y, a)) -> (container, batch)`` for the model object ``mdl`` (``a`` is fixed, not checked)."""
    return lambda params, data: (mdl.params_from(dict(params, a=data[2])), fdata.Sequences(data[0], data[1]))


def make_case(kind: str, mdl):
    """A random point of the model object ``mdl`` (of ``kind``): every ReLU and the hinge 1e-3 from their kinks."""
    gated, content = KINDS[kind]
    sizes = KIND_SIZES.get(kind, SIZES)

    def random_case(rng: np.random.Generator, scale: float = 1.0):
        N, L, d, m = sizes["N"], sizes["L"], sizes["d"], sizes["m"]
        cfg = FeaturesConfig(d=d, L=L, m=m, alpha_r=0.67, alpha_c=0.0, tau=0.3)
        a = output_layer(m)
        while True:  # keep every ReLU and the hinge away from their kinks (exact finite differences)
            seqs = fdata.sample(cfg, fdata.make_basis(d, rng), N, rng)
            params = {"V": scale * rng.standard_normal((m, d))}
            if gated:
                params["w"] = scale * rng.standard_normal((d, d) if mdl.cfg.gate_type == "gla" else d)
                if content:
                    params["W_B"] = np.eye(d) + scale * rng.standard_normal((d, d))
                    params["W_C"] = np.eye(d) + scale * rng.standard_normal((d, d))
            else:
                params["W"] = scale * rng.standard_normal((d, d))
            p = mdl.params_from(dict(params, a=a))
            pre = mdl.outputs(p, seqs.X) @ p.V.T
            F = (np.maximum(pre, 0) @ a).sum(axis=1) / L
            if np.min(np.abs(pre)) > 1e-3 and np.min(np.abs(1 - seqs.y * F)) > 1e-3 and np.any(seqs.y * F < 1):
                return params, (seqs.X, seqs.y, a)

    return random_case


def _spec(name: str, kind: str, window: int = 0, **extra) -> GradientSpec:
    """A one-layer model's spec: its kernel and reference are the model object's ``loss_and_grad``, the method
    training calls (:func:`~mamba_dynamics.core.gradcheck.model_spec`).  ``extra``: more config fields (the
    softmax model's temperature and heads)."""
    cfg = FeaturesConfig(**KIND_CONFIGS[kind], window=window, **extra)
    mdl, att = REGISTRY.build(cfg), cfg.attention
    gate = cfg.mixer_gate if kind == "ssm" and cfg.gate_type != "mamba" else None
    what = {"ssm": "selective SSM, the paper's Eq. 5 mixer (W_B, W_C, gate) + Eq. 6 head",
            "ssm-gate-only": "selective SSM, gate-only reading (no content factor) + two-layer ReLU MLP",
            "lt-mlp": f"{'windowed' if window else 'global'} causal linear attention + two-layer ReLU MLP",
            "st-mlp": f"{'windowed' if window else 'global'} causal softmax attention + two-layer ReLU MLP"}[kind]
    return model_spec(
        name, mdl, make_case(kind, mdl), _assemble(mdl),
        symbolic=lambda p, d: symbolic_loss_grad(p, d, kind, window, att, gate),
        symbolic_sizes=dict(KIND_SIZES.get(kind, SIZES)),
        description=f"{what}{'' if gate is None else f', gate {gate.kind} (App. E.6 of 2510.00399)'}, hinge loss "
                    f"(arXiv 2602.12499)",
    )


SSM = _spec("ssm", "ssm")
LT_MLP = _spec("lt-mlp", "lt-mlp")
ST_MLP = _spec("st-mlp", "st-mlp", temperature=0.8)
#: the earlier gate-only reading, windowed attention (Fig. 6) and softmax attention with a window and three heads:
#: checked four ways by the tests, not models of their own
VARIANTS = (_spec("ssm-gate-only", "ssm-gate-only"), _spec("lt-mlp-window2", "lt-mlp", window=2),
            _spec("st-mlp-window2-heads3", "st-mlp", window=2, heads=3, d=3, temperature=0.6))
#: the Eq. 5 mixer with the other gates of 2510.00399 App. E.6 (``--gate-type``; sympy from the raw recurrence)
GATE_VARIANTS = (_spec("ssm-mamba2", "ssm", gate_type="mamba2"), _spec("ssm-gret", "ssm", gate_type="gret",
                                                                      gate_tau=3.0),
                 _spec("ssm-retnet", "ssm", gate_type="retnet", decay=0.9),
                 _spec("ssm-gla", "ssm", gate_type="gla", gate_tau=2.5))


# ----------------------------------------------------------------------------------------------------------
# deep stacks (mamba_dynamics.features.stack)
# ----------------------------------------------------------------------------------------------------------

#: a 2-block stack on one sequence of 2 tokens, d = 2, m = 2: 2 x (2 + 4 + 4) + 4 = 24 scalar parameters
STACK_SIZES = dict(N=1, L=2, d=2, m=2, layers=2)
STACK_BLOCKS = ("w", "W_B", "W_C", "V")


def stack_symbolic_loss_grad(params: dict, data: tuple, norm: str = "rms"):
    """Sympy loss and gradient (40-digit mpmath) of the stack: :func:`~mamba_dynamics.core.scan.stack_outputs_symbolic`
    (raw recurrences, residual adds, RMSNorm) read by the Eq. 6 head, each ReLU and the hinge on the piece active
    at ``params``.  Every block's ``w`` and the head ``V`` are symbols; ``W_B``, ``W_C`` enter as their numbers
    (with them symbolic too the derivative took 250 s: a 2-block content mixer is of degree 9 in block 1's
    projections).  Their gradients come from the same core backward pass (``core.stack``) that the outlier stack's
    sympy check covers with ``W_B``, ``W_C`` symbolic, and are checked here against the reference and finite
    differences.  Returns gradients for ``w`` and ``V`` only."""
    import mpmath

    from ..core.scan import stack_outputs_symbolic

    X, y, a = data
    N, L, d = X.shape
    nb, m = params["w"].shape[0], len(a)
    symbolic = ("w", "V")
    mats = {"w": [sp.Matrix(d, 1, lambda k, _, i=i: sp.Symbol(f"w{i}_{k}", real=True)) for i in range(nb)],
            "W_B": [sp.Matrix(params["W_B"][i]).applyfunc(sp.Float) for i in range(nb)],
            "W_C": [sp.Matrix(params["W_C"][i]).applyfunc(sp.Float) for i in range(nb)],
            "V": [sp.Matrix(m, d, lambda r, k: sp.Symbol(f"v_{r}_{k}", real=True))]}
    syms = [s for name in symbolic for M in mats[name] for s in M]
    vals = [float(v) for name in symbolic for v in np.asarray(params[name]).ravel()]
    blocks = list(zip(mats["W_B"], mats["W_C"], mats["w"]))
    V = mats["V"][0]
    # the active pieces, from the NumPy reference's numbers (the random cases keep every kink 1e-3 away, so the
    # choice is the same in any precision; evaluating sympy's expressions for it cost most of the time)
    from .stack import StackParams, outputs

    p = StackParams(params["w"], params["W_B"], params["W_C"], params["V"], a)
    pre = np.einsum("nld,md->nlm", outputs(p, X, norm, fast=False), p.V)
    F_num = np.einsum("nlm,m->n", np.maximum(pre, 0.0), a) / L
    loss = 0
    for n in range(N):
        if not y[n] * F_num[n] < 1:
            continue
        toks = [sp.Matrix([sp.Float(float(v)) for v in X[n, l]]) for l in range(L)]
        Y = stack_outputs_symbolic(blocks, toks, True, norm, readout="mixer")
        F = sum(sp.Float(float(a[i])) * (V[i, :] * Y[l])[0, 0] for l in range(L) for i in range(m) if pre[n, l, i] > 0)
        loss += (1 - sp.Float(float(y[n])) * F / L) / N
    grads = [sp.diff(loss, s) for s in syms]
    with mpmath.workdps(40):
        x = [mpmath.mpf(v) for v in vals]
        both = sp.lambdify([syms], [loss] + grads, "mpmath", cse=True)(x)
        value, g = float(both[0]), np.array([float(v) for v in both[1:]])
    out, i = {}, 0
    for name in symbolic:
        size = int(np.asarray(params[name]).size)
        out[name] = g[i:i + size].reshape(np.asarray(params[name]).shape)
        i += size
    return value, out


def make_stack_case(mdl):
    """Random point of a 2-block stack (Gaussian tokens), every ReLU and the hinge 1e-3 from their kinks."""

    def random_case(rng: np.random.Generator, scale: float = 1.0):
        N, L, d, m, nb = (STACK_SIZES[k] for k in ("N", "L", "d", "m", "layers"))
        a = output_layer(m)
        while True:
            X = rng.standard_normal((N, L, d))
            y = np.where(rng.random(N) < 0.5, 1.0, -1.0)
            params = {"w": scale * rng.standard_normal((nb, d)),
                      "W_B": np.eye(d) + scale * rng.standard_normal((nb, d, d)),
                      "W_C": np.eye(d) + scale * rng.standard_normal((nb, d, d)),
                      "V": scale * rng.standard_normal((m, d))}
            p = mdl.params_from(dict(params, a=a))
            pre = mdl.outputs(p, X) @ p.V.T
            F = mdl.predict(p, X)
            if np.min(np.abs(pre)) > 1e-3 and np.min(np.abs(1 - y * F)) > 1e-3 and np.any(y * F < 1):
                return params, (X, y, a)

    return random_case


def _stack_spec() -> GradientSpec:
    mdl = REGISTRY.build(FeaturesConfig(model="ssm", layers=STACK_SIZES["layers"], wbc="trained"))
    return model_spec(
        "ssm-stack", mdl, make_stack_case(mdl), _assemble(mdl), symbolic=stack_symbolic_loss_grad,
        blocks=STACK_BLOCKS, symbolic_sizes=dict(STACK_SIZES),
        description="2-block selective-SSM stack (Eq. 5 mixers, residuals, RMSNorm) + Eq. 6 head (--layers; "
                    "Table 3 of arXiv 2602.12499)")


SSM_STACK = _stack_spec()


def gradient_specs() -> tuple[GradientSpec, ...]:
    """The family's gradient-check specs, for the caller to register."""
    return (SSM, LT_MLP, ST_MLP, SSM_STACK) + GATE_VARIANTS


# ------------------------------------------------------------------------------------------------ the sign law


def pair_product(g: int) -> tuple:
    """Sympy: a pair of one pattern at distance ``g`` with ``g - 1`` tokens inside, their gate pre-activations
    ``u_p, u_1..u_{g-1}, u_q``; returns ``(P, (u_p, us, u_q))`` with Eq. 5's pair weight ``P = sigma(u_p) (1 -
    sigma(u_q)) prod_j (1 - sigma(u_j))`` (the part of ``y_q`` on the pair's pattern that comes from ``x_p``)."""
    up, uq = sp.symbols("u_p u_q")
    us = sp.symbols(f"u_1:{g}") if g > 1 else ()
    P = _sigmoid(up) * (1 - _sigmoid(uq))
    for u in us:
        P = P * (1 - _sigmoid(u))
    return P, (up, us, uq)


def sign_law_checks(max_gap: int = 7) -> list:
    """The derivation behind :func:`mamba_dynamics.features.theory.irrelevant_push`, in sympy: for every pair
    ``(g_c, g_s)`` with ``1 <= g_c < g_s <= max_gap``, the label signal ``S = P_close - P_spread`` at ``u = 0`` is
    ``delta / 2`` (Thm 2's bracket) and the sum of its derivatives over the irrelevant tokens inside the pairs is
    ``-[(g_c - 1) 2^-g_c - (g_s - 1) 2^-g_s] / 4``, both exactly (rational arithmetic).  Returns rows ``(g_c, g_s,
    S - delta / 2, push - formula)``: every residue 0."""
    from . import theory

    rows = []
    cache = {}
    for g in range(1, max_gap + 1):
        P, (up, us, uq) = pair_product(g)
        at0 = {s: 0 for s in (up, uq, *us)}
        cache[g] = (sp.nsimplify(P.subs(at0)), sp.nsimplify(sum((sp.diff(P, u).subs(at0) for u in us), sp.Integer(0))))
    for gc in range(1, max_gap):
        for gs in range(gc + 1, max_gap + 1):
            S, push = cache[gc][0] - cache[gs][0], cache[gc][1] - cache[gs][1]
            delta = sp.Rational(1, 2**gc) - sp.Rational(1, 2**gs)
            formula = -(sp.Integer(gc - 1) / 2**gc - sp.Integer(gs - 1) / 2**gs) / 4
            rows.append((gc, gs, sp.simplify(S - delta / 2), sp.simplify(push - formula)))
            assert float(formula) == float(theory.irrelevant_push(gc, gs))
    return rows


def model_sign_law(gap_near: int, gap_far: int, L: int = 14, interleave: bool = False, h: float = 1e-5) -> tuple:
    """The same derivative through the package's own Eq. 5 forward (:func:`mamba_dynamics.features.model
    .mix_content`, ``W_B = W_C = I``): one noise-free sequence with the close ``o_+`` pair, the spread ``o_-``
    pair and a distinct irrelevant pattern on every other token (``interleave``: the close pair inside the spread
    one), the signal ``S(w) = <y_{q_c}, o_+> - <y_{q_s}, o_->`` at the pairs' later tokens, and its derivative
    along ``sum_j o_j`` over the irrelevant tokens inside the pairs, by central differences.  Returns ``(S(0),
    derivative, the formula with the in-between irrelevant counts)``."""
    from .model import mix_content

    d = L + 2
    E = np.eye(d)
    k = np.arange(2, L + 2)  # every token its own irrelevant pattern
    if interleave:  # spread pair at 0 and gap_far, close pair strictly inside it
        ps, pc = 0, 1
    else:  # close pair first, spread pair after it
        pc, ps = 0, gap_near + 1
    k[pc], k[pc + gap_near], k[ps], k[ps + gap_far] = 0, 0, 1, 1
    X = E[k][None]
    inside = lambda a, g: [j for j in range(a + 1, a + g) if k[j] >= 2]  # noqa: E731
    direction = sum((E[k[j]] for j in set(inside(pc, gap_near) + inside(ps, gap_far))), np.zeros(d))

    def S(w):
        Y = mix_content(X, w, np.eye(d), np.eye(d))[0]
        return Y[pc + gap_near] @ E[0] - Y[ps + gap_far] @ E[1]

    w0 = np.zeros(d)
    dS = (S(w0 + h * direction) - S(w0 - h * direction)) / (2 * h)
    from .theory import push_from_counts

    return S(w0), dS, push_from_counts(len(inside(pc, gap_near)), len(inside(ps, gap_far)), gap_near, gap_far)
