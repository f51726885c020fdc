"""Gradient checking for every model: Numba kernel vs NumPy reference vs finite differences vs sympy.

A model takes part by a :class:`GradientSpec` that its family builds in its ``symbolic`` module (next to the sympy
derivation) and that the caller registers (:func:`register`; :func:`mamba_dynamics.families.gradient_specs`
registers every family's).  :func:`model_spec` makes one from a model object
(:class:`~mamba_dynamics.core.model.Model`): its kernel is ``model.loss_and_grad`` and its reference
``model.loss_and_grad(..., reference=True)``, the very method the training loop calls.  :func:`check` then
compares, at a random point, each parameter block four ways:

=====================  ===============================================================================
comparison             meaning
=====================  ===============================================================================
kernel~reference       hand-derived Numba kernel vs plain NumPy reference (both hand-derived)
kernel~fd              kernel vs central finite differences of the reference *loss*
kernel~sympy           kernel vs sympy's derivative of the loss built from the model's *recurrence*
reference~sympy        NumPy reference vs sympy
=====================  ===============================================================================

Errors are reported as max absolute difference and relative error ``max|a - b| / max|b|`` per block; every
comparison has a tolerance (``1e-10`` for exact comparisons, ``1e-6`` for finite differences).

Glossary: ``params`` = dict block name -> array; ``data`` = model-specific tuple (prompts, labels, ...);
``loss_grad(params, data) -> (loss, {block: grad})``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Optional

import numpy as np

LossGrad = Callable[[dict, tuple], tuple]


@dataclass(frozen=True)
class GradientSpec:
    """How to check one model's gradients.

    name: model name as users type it; blocks: parameter block names in order;
    random_case(rng, scale) -> (params, data): a random point with no hinge kink within ``fd_eps``;
    kernel / reference / symbolic: ``(params, data) -> (loss, {block: grad})`` (symbolic may be None);
    loss: ``(params, data) -> float`` used for finite differences (defaults to the reference's loss).
    """

    name: str
    blocks: tuple
    random_case: Callable[[np.random.Generator, float], tuple]
    kernel: LossGrad
    reference: LossGrad
    symbolic: Optional[LossGrad] = None
    loss: Optional[Callable[[dict, tuple], float]] = None
    tol_exact: float = 1e-10
    tol_fd: float = 1e-6
    fd_eps: float = 1e-6
    description: str = ""
    symbolic_sizes: dict = field(default_factory=dict)


def model_spec(name: str, model, random_case: Callable, assemble: Callable, symbolic: Optional[LossGrad] = None,
               blocks: tuple | None = None, **fields) -> GradientSpec:
    """A :class:`GradientSpec` whose kernel and reference are the model object's own ``loss_and_grad`` (fast, and
    with ``reference=True``).  ``random_case(rng, scale) -> (params, data)`` draws a point (``params`` the checked
    blocks by name, ``data`` what ``symbolic`` reads); ``assemble(params, data) -> (container, batch)`` turns it
    into the model's parameter container (fixed blocks filled in) and batch.  ``blocks`` default to the model's
    trained ones; the other keywords are :class:`GradientSpec`'s."""

    def run(reference: bool):
        def loss_grad(params, data):
            container, batch = assemble(params, data)
            res = model.loss_and_grad(container, batch, reference=reference)
            return res.loss, res.grads

        return loss_grad

    return GradientSpec(name=name, blocks=tuple(blocks or model.trained), random_case=random_case,
                        kernel=run(False), reference=run(True), symbolic=symbolic, **fields)


REGISTRY: dict[str, GradientSpec] = {}


def register(spec: GradientSpec) -> GradientSpec:
    """Add ``spec`` to the registry (the last registration of a name wins)."""
    REGISTRY[spec.name] = spec
    return spec


def finite_differences(loss: Callable[[dict, tuple], float], params: dict, data: tuple, eps: float) -> dict:
    """Central differences ``(L(theta + eps e_k) - L(theta - eps e_k)) / 2 eps`` for every entry of every block."""
    out = {}
    for name, block in params.items():
        g = np.zeros_like(block)
        for idx in np.ndindex(block.shape):
            vals = []
            for sign in (1.0, -1.0):
                pert = {k: v.copy() for k, v in params.items()}
                pert[name][idx] += sign * eps
                vals.append(loss(pert, data))
            g[idx] = (vals[0] - vals[1]) / (2 * eps)
        out[name] = g
    return out


@dataclass
class Row:
    """One line of the report: model, block, comparison, errors, tolerance, verdict."""

    model: str
    block: str
    comparison: str
    max_abs: float
    max_rel: float
    tol: float

    @property
    def ok(self) -> bool:
        return bool(np.isfinite(self.max_rel) and self.max_rel <= self.tol)


def _errors(a, b) -> tuple[float, float]:
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    diff = float(np.max(np.abs(a - b))) if a.size else 0.0
    scale = float(np.max(np.abs(b))) if b.size else 0.0
    if not np.isfinite(diff):
        return float("inf"), float("inf")
    if scale == 0.0:
        return diff, (0.0 if diff == 0.0 else float("inf"))
    return diff, diff / scale


def check(spec: GradientSpec, seed: int = 0, scale: float = 1.0, symbolic: bool = True) -> list[Row]:
    """All comparisons for ``spec`` at one random point; one :class:`Row` per (block or loss, comparison)."""
    rng = np.random.default_rng(seed)
    params, data = spec.random_case(rng, scale)
    loss_k, g_k = spec.kernel(params, data)
    loss_r, g_r = spec.reference(params, data)
    loss_fn = spec.loss or (lambda p, d: spec.reference(p, d)[0])
    g_fd = finite_differences(loss_fn, params, data, spec.fd_eps)
    pairs = [("kernel~reference", (loss_k, g_k), (loss_r, g_r), spec.tol_exact),
             ("kernel~fd", (loss_k, g_k), (loss_r, g_fd), spec.tol_fd)]
    if symbolic and spec.symbolic is not None:
        loss_s, g_s = spec.symbolic(params, data)
        pairs += [("kernel~sympy", (loss_k, g_k), (loss_s, g_s), spec.tol_exact),
                  ("reference~sympy", (loss_r, g_r), (loss_s, g_s), spec.tol_exact)]
    rows = []
    for comp, (la, ga), (lb, gb), tol in pairs:
        if comp != "kernel~fd":
            rows.append(Row(spec.name, "loss", comp, *_errors(la, lb), tol))
        for block in spec.blocks:
            if block in gb:  # a symbolic derivative may cover some blocks only (it says which in its docstring)
                rows.append(Row(spec.name, block, comp, *_errors(ga[block], gb[block]), tol))
    return rows


def format_rows(rows: list[Row]) -> str:
    """Plain-text table of rows."""
    w = max([5] + [len(r.model) for r in rows])
    head = f"{'model':<{w}} {'block':<6} {'comparison':<17} {'max abs':>10} {'max rel':>10} {'tol':>8}  ok"
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(f"{r.model:<{w}} {r.block:<6} {r.comparison:<17} {r.max_abs:>10.2e} {r.max_rel:>10.2e} "
                     f"{r.tol:>8.0e}  {'yes' if r.ok else 'NO'}")
    return "\n".join(lines)
