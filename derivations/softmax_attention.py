#!/usr/bin/env python
"""Run the symbolic checks of causal softmax attention (issue 36; docs/derivations.md, "Softmax attention").

    python derivations/softmax_attention.py

Prints, with sympy: each hand-written adjoint formula of the softmax mixer (A4-A6: the value, ``b`` and ``c``
gradients through the softmax's Jacobian) minus sympy's derivative of the raw definition (``exp`` over a sum),
simplified (0), globally and with a window of 2; then the four-way gradient check (kernel, NumPy reference,
central differences, sympy) of every softmax model: ``st`` (one layer, two heads, a window), ``st-stack``,
``st-mlp`` (and its windowed three-head variant) and ``st-single-index-e2e``.  The code is
:func:`mamba_dynamics.core.attention.adjoint_checks` and the families' ``symbolic`` modules.  Exit 1 if any
check fails.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mamba_dynamics.core.attention import adjoint_checks  # noqa: E402
from mamba_dynamics.core.gradcheck import check, format_rows  # noqa: E402
from mamba_dynamics.families import gradient_specs  # noqa: E402
from mamba_dynamics.features.symbolic import VARIANTS  # noqa: E402

if __name__ == "__main__":
    ok = True
    for window in (0, 2):
        for name, d in adjoint_checks(3, window).items():
            print(f"window {window or 'none'}: hand formula for dL/{name} - sympy derivative, simplified:", d)
            ok &= d == 0
    specs = [spec for name, spec in gradient_specs(register=False).items() if name.startswith("st")]
    specs += [spec for spec in VARIANTS if spec.name.startswith("st")]
    rows = [r for spec in specs for r in check(spec, 0)]
    print(format_rows(rows))
    raise SystemExit(0 if ok and all(r.ok for r in rows) else 1)
