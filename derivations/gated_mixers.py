#!/usr/bin/env python
"""Run the symbolic checks of the gated-mixer family of arXiv 2510.00399 App. E.6 (docs/gated_mixers.md).

    python derivations/gated_mixers.py

Prints, with sympy:

1. for each scalar gate (Mamba, Mamba-2, gated retention, RetNet, none), the log-slopes ``alpha = (log a)'`` and
   ``beta = (log lambda)'`` as the kernels write them minus sympy's derivative of the raw definitions, simplified
   (0), and the same at ten points in 30 digits;
2. for each gate and GLA's vector gate, the raw recurrence of eq. 1 with that gate minus the closed form of eq. 3,
   and each hand-written gradient (``W_B``, ``W_C``, the gate's ``w`` / ``W_a``) minus sympy's derivative of the
   recurrence, at random rational points in 40 digits (below 1e-30);
3. GLA's block adjoint (V3-V4 of :mod:`mamba_dynamics.core.gla_mixer`, the stacks' and the Eq. 5 place's GLA)
   minus sympy's derivative of its raw recurrence, simplified (0);
4. the four-way gradient check (kernel, NumPy reference, central differences, sympy) of the models ``mamba2``,
   ``gret``, ``retnet``, ``gla``, the 2-block ``gla-stack`` and the Eq. 5 model with GLA's gate ``ssm-gla``;
5. the structural fact behind the measured results: for a gate without an input coefficient (``a == 1``: gated
   retention, RetNet, GLA), ``d G_i / d t_i = 0`` -- an example's own token cannot lower its own weight.

The code is :func:`mamba_dynamics.core.gates.slope_checks`, :func:`mamba_dynamics.outliers.symbolic
.gate_formula_checks`, :func:`mamba_dynamics.core.scan.gla_adjoint_checks` and the checker's specs.  Exit 1 if any check fails.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import sympy as sp  # noqa: E402

from mamba_dynamics.core.gates import KINDS, Gate, VectorGate, slope_checks, symbolic_terms  # noqa: E402
from mamba_dynamics.core.gradcheck import check, format_rows  # noqa: E402
from mamba_dynamics.core.scan import gla_adjoint_checks  # noqa: E402
from mamba_dynamics.families import gradient_specs  # noqa: E402
from mamba_dynamics.outliers.symbolic import gate_formula_checks  # noqa: E402

GATES = [Gate("mamba"), Gate("mamba2"), Gate("gret", tau=3.0), Gate("retnet", gamma=0.9), Gate("none")]


def own_token_slope(gate: Gate, l: int = 3) -> sp.Expr:
    """``d G_1 / d t_1`` for ``G_1 = a(t_1) prod_{j>1} lambda(t_j)``, simplified (0 exactly when ``a == 1``)."""
    t = sp.symbols(f"t1:{l + 2}", real=True)
    x = sp.Symbol("x", real=True)
    a, lam = symbolic_terms(x, gate)
    G1 = a.subs(x, t[0]) * sp.prod([lam.subs(x, tj) for tj in t[1:]])
    return sp.simplify(sp.diff(G1, t[0]))


if __name__ == "__main__":
    ok = True
    for kind in KINDS:
        c = slope_checks(Gate(kind, tau=3.0) if kind == "gret" else Gate(kind))
        print(f"{kind:<7} alpha - sympy: {c['alpha']} ({c['num_alpha']:.1e} at ten points); "
              f"beta - sympy: {c['beta']} ({c['num_beta']:.1e})")
        ok &= c["alpha"] == 0 and c["beta"] == 0
    for gate in GATES + [VectorGate(2.5)]:
        c = gate_formula_checks(gate)
        print(f"{getattr(gate, 'kind'):<7} " + ", ".join(f"{k}: {v:.1e}" for k, v in c.items()))
        ok &= max(c.values()) < 1e-30
    c = gla_adjoint_checks(3, 2)
    print(f"GLA block adjoint (V3-V4, core.gla_mixer) minus sympy, T = 3, r = 2: {sorted(set(c.values()), key=str)}")
    ok &= all(v == 0 for v in c.values())
    for gate in GATES:
        d = own_token_slope(gate)
        print(f"{gate.kind:<7} dG_1/dt_1 = {d}")
        ok &= (d == 0) == (gate.kind in ("gret", "retnet", "none"))
    specs = gradient_specs(register=False)
    rows = [r for name in ("mamba2", "gret", "retnet", "gla", "gla-stack", "ssm-gla") for r in check(specs[name], 0)]
    print(format_rows(rows))
    raise SystemExit(0 if ok and all(r.ok for r in rows) else 1)
