#!/usr/bin/env python
"""Run the symbolic check of the single-index Stage-I gradient (arXiv 2510.12026; spec section 7).

    python derivations/single_index.py

sympy differentiates the Stage-I loss built from the raw selective scan (on the Hermite-embedded tokens) and
compares it with the hand-derived gradient that pretraining runs, with the Numba kernel and with the NumPy
reference, plus finite differences.  The derivation code is :mod:`mamba_dynamics.single_index.symbolic`.
Exit 1 if any check fails.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mamba_dynamics.core.gradcheck import check, format_rows  # noqa: E402
from mamba_dynamics.single_index import symbolic  # noqa: E402

if __name__ == "__main__":
    rows = [r for spec in symbolic.gradient_specs() for r in check(spec, 0)]
    print(format_rows(rows))
    raise SystemExit(0 if all(r.ok for r in rows) else 1)
