#!/usr/bin/env python
"""Run the symbolic derivation of the feature-filtering model (arXiv 2602.12499; docs/features.md, eqs. F1-F10).

    python derivations/features_ssm.py

Prints each raw recurrence minus its closed form, simplified (zero vectors): the paper's scan (Eqs. 2-3) vs Eq. 5,
and the gate-only scan (F2) vs (F3); then the four-way gradient check of models ``ssm`` (the paper's model),
``lt-mlp`` and the variants (gate-only reading, windowed attention) against sympy's derivative of the recurrence;
and the sign law of local concentration (features.theory.irrelevant_push) derived exactly for every pair distance.  The derivation code is
:mod:`mamba_dynamics.features.symbolic`.  Exit 1 if any check fails.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mamba_dynamics.core.gradcheck import check, format_rows  # noqa: E402
from mamba_dynamics.features import symbolic  # noqa: E402

if __name__ == "__main__":
    reduction = list(symbolic.closed_form_reduction(content=True))
    print("scan (Eqs. 2-3) - closed form (Eq. 5):", reduction)
    gate_only = list(symbolic.closed_form_reduction())
    print("gate-only scan (F2) - closed form (F3):", gate_only)
    reduction += gate_only
    signs = symbolic.sign_law_checks()
    print("sign law (local concentration, w = 0): (g_c, g_s, signal - delta/2, push - formula)")
    for gc, gs, s_res, p_res in signs:
        print(f"  ({gc}, {gs}): {s_res}, {p_res}")
    signs_ok = all(r[2] == 0 and r[3] == 0 for r in signs)
    rows = [r for spec in (*symbolic.gradient_specs(), *symbolic.VARIANTS) for r in check(spec, 0)]
    print(format_rows(rows))
    raise SystemExit(0 if all(e == 0 for e in reduction) and signs_ok and all(r.ok for r in rows) else 1)
