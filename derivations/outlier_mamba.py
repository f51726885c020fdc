#!/usr/bin/env python
"""Run the symbolic derivation of the outlier-ICL Mamba / linear Transformer (arXiv 2510.00399, eqs. 1-3).

    python derivations/outlier_mamba.py

Prints, with sympy: the raw selective-scan recurrence (eq. 1) minus the closed form (eq. 3), simplified (0); each
hand-written gradient formula of docs/derivations.md minus sympy's derivative, simplified (0); then the four-way
gradient check of models ``mamba`` and ``lt``.  The derivation code is :mod:`mamba_dynamics.outliers.symbolic`
(installed with the package, so the checker runs from an installed package too).  Exit 1 if any check fails.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mamba_dynamics.core.gradcheck import check, format_rows  # noqa: E402
from mamba_dynamics.outliers import symbolic  # noqa: E402

if __name__ == "__main__":
    reduction = symbolic.closed_form_reduction()
    print("recurrence - eq. 3, simplified:", reduction)
    ok = reduction == 0
    for name, diff in symbolic.formula_checks().items():
        print(f"hand formula for dF/d{name} - sympy derivative, simplified:", diff.T if diff.shape[1] == 1 else diff)
        ok &= all(e == 0 for e in diff)
    rows = [r for spec in symbolic.gradient_specs() for r in check(spec, 0)]
    print(format_rows(rows))
    raise SystemExit(0 if ok and all(r.ok for r in rows) else 1)
