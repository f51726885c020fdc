#!/usr/bin/env python
"""Simulate one model of the package: outlier-robust ICL (arXiv 2510.00399), feature filtering (2602.12499) or
in-context single-index learning (2510.12026).

    python scripts/simulate.py --model mamba --outlier-frac 0.4
    python scripts/simulate.py --model lt --outlier-frac 0.7 --label-rule random --out runs/lt07
    python scripts/simulate.py --model ssm --regime majority
    python scripts/simulate.py --model lt-mlp --regime locality --eta 20
    python scripts/simulate.py --model mamba-single-index --d 16 --r 8 --link h2
    python scripts/simulate.py --model mamba-single-index --link h4 --stage1 ideal --rho 32 --match-context \\
        --test-N 1024,4096,16384,65536

``--model`` picks the family (mamba_dynamics.families lists every name); ``--model NAME --help`` lists that
family's flags.  Without ``--model`` the outlier family's ``mamba`` runs.  Each run prints a summary and writes its
arrays (``results.npz``), a JSON sidecar (``results.json``) and a figure to ``--out``.  Exit status: 0 done,
1 diverged or interrupted (what was computed is still written), 2 bad input.
"""

from __future__ import annotations

import _bootstrap  # noqa: F401

import sys

from mamba_dynamics import families
from mamba_dynamics.core.cli import Parser, requested_model


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    model = requested_model(argv)
    known = families.models()
    if model is not None and model not in known:
        Parser(prog="simulate.py").error(f"unknown model {model!r}; choose one of {', '.join(known)}")
    family = known[model][0] if model is not None else "outliers"
    return families.module(family, "cli").simulate(argv)


if __name__ == "__main__":
    raise SystemExit(main())
