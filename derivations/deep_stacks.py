#!/usr/bin/env python
"""Run the symbolic checks of the deep stacks (issue 15; docs/derivations.md, "Deep stacks").

    python derivations/deep_stacks.py

Prints, with sympy: each hand-written adjoint formula of one mixer block (M3-M4: the value, b, c and gate
gradients) minus sympy's derivative of the raw recurrence, simplified (0); then the four-way gradient check of
the stacks ``mamba-stack``, ``lt-stack`` and ``ssm-stack`` (sympy of the raw recurrences composed with residual
adds and RMSNorm).  The code is :func:`mamba_dynamics.core.scan.mixer_adjoint_checks` and the families'
``symbolic`` modules.  Exit 1 if any check fails.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mamba_dynamics.core.gradcheck import check, format_rows  # noqa: E402
from mamba_dynamics.core.scan import mixer_adjoint_checks  # noqa: E402
from mamba_dynamics.features import symbolic as features_symbolic  # noqa: E402
from mamba_dynamics.outliers import symbolic as outliers_symbolic  # noqa: E402

if __name__ == "__main__":
    diffs = mixer_adjoint_checks(3)
    for name, d in diffs.items():
        print(f"hand formula for dL/{name} - sympy derivative, simplified:", d)
    ok = all(d == 0 for d in diffs.values())
    specs = (outliers_symbolic.MAMBA_STACK, outliers_symbolic.LT_STACK, features_symbolic.SSM_STACK)
    rows = [r for spec in specs for r in check(spec, 0)]
    print(format_rows(rows))
    raise SystemExit(0 if ok and all(r.ok for r in rows) else 1)
