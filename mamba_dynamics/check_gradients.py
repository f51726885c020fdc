"""``python -m mamba_dynamics.check_gradients``: compare symbolic and numeric gradients for every model.

For each model and parameter block: max abs and relative error of the Numba kernel vs the NumPy reference vs
central finite differences vs sympy's derivative of the model's recurrence.  Exit status 1 if any comparison
exceeds its tolerance (1e-10 exact, 1e-6 finite differences), 2 on bad input.  Works from an installed package:
every family's specs come from its ``symbolic`` module (:func:`mamba_dynamics.families.gradient_specs`).
"""

from __future__ import annotations

import math
import time

from .core.cli import Parser
from .core.gradcheck import check, format_rows
from .families import gradient_specs


def main(argv=None, prog: str = "check_gradients.py") -> int:
    registry = gradient_specs()
    parser = Parser(prog=prog, description=__doc__.split("\n\n")[0].split(": ", 1)[1])
    parser.add_argument("--model", default="all", help=f"one of {', '.join(registry)}, or all")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random check point")
    parser.add_argument("--scale", type=float, default=1.0,
                        help="scale of the random parameters (large values saturate the gates)")
    parser.add_argument("--no-sympy", action="store_true", help="skip the symbolic comparison")
    args = parser.parse_args(argv)
    if args.model != "all" and args.model not in registry:
        parser.error(f"unknown model {args.model!r}; choose one of {', '.join(registry)}, or all")
    if args.seed < 0:
        parser.error(f"--seed must be a non-negative integer, got {args.seed}")
    if not (args.scale > 0 and math.isfinite(args.scale)):
        parser.error(f"--scale must be positive and finite, got {args.scale}")
    names = list(registry) if args.model == "all" else [args.model]
    t0 = time.perf_counter()
    rows = []
    for name in names:
        rows += check(registry[name], args.seed, args.scale, symbolic=not args.no_sympy)
    print(format_rows(rows))
    bad = [r for r in rows if not r.ok]
    print(f"{len(rows) - len(bad)}/{len(rows)} comparisons within tolerance ({time.perf_counter() - t0:.1f} s)")
    for r in bad:
        print(f"FAILED: {r.model} {r.block} {r.comparison}: relative error {r.max_rel:.2e} > {r.tol:.0e}")
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main(prog="python -m mamba_dynamics.check_gradients"))
