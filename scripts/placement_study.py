#!/usr/bin/env python
"""Outlier placement study (cf. Table 1 of arXiv 2510.00399, one layer): R / FQ / CQ, Mamba vs LT.

    python scripts/placement_study.py --out docs/figures/placement

Trains both models at p_a = 0.4 (Table 1's setting) for several seeds and evaluates test prompts whose outliers
sit at random positions (R), farthest from the query (FQ) or closest to it (CQ), at several alpha.
Writes placement.npz, placement.json, placement.png to --out; training runs are stored under <out>/cells (a rerun
resumes).
"""

from __future__ import annotations

import _bootstrap  # noqa: F401

import numpy as np

from mamba_dynamics.core.cli import (Parser, add_output_arguments, add_repro_arguments, check_repro_arguments,
                                     format_table, fraction_list, output_dir)
from mamba_dynamics.outliers.cli import add_arguments as add_config_arguments, config_from_args
from mamba_dynamics.outliers.config import PLACEMENTS
from mamba_dynamics.outliers.experiments import placement_study
from mamba_dynamics.core.io import write_run
from mamba_dynamics.core.plotting import save_figure
from mamba_dynamics.outliers.plotting import plot_placement


def main(argv=None) -> int:
    parser = Parser(prog="placement_study.py", description=__doc__.split("\n\n")[0])
    add_config_arguments(parser, skip=("model", "alpha", "placement"))
    add_output_arguments(parser, "placement")
    add_repro_arguments(parser, seeds=3)
    parser.add_argument("--alphas", type=fraction_list, default=[0.3, 0.5, 0.7], help="alpha values")
    args = parser.parse_args(argv)
    check_repro_arguments(parser, args)
    p_a = 0.4 if args.p_a is None else args.p_a
    base = config_from_args(parser, args, p_a=p_a)
    out = output_dir(parser, args, "placement")
    seeds = list(range(base.seed, base.seed + args.seeds))
    res = placement_study(base, args.alphas, seeds, PLACEMENTS, base.label_rule, args.n_eval, args.jobs,
                          show_progress=not args.quiet, out=out)
    errors = res["errors"]
    arrays = {"alphas": np.asarray(args.alphas), "seeds": np.asarray(seeds),
              **{f"err_{m}": e for m, e in errors.items()}}
    write_run(out, "placement", arrays, {"figure": "placement study (cf. Table 1 of arXiv 2510.00399)",
                                         "config": base.to_dict(), "placements": list(PLACEMENTS),
                                         "seeds": seeds, "status": [r.status for r in res["runs"]]})
    title = (f"Outlier placement, one layer, preset {base.preset}: p_a={base.p_a}, labels={base.label_rule}, "
             f"kappa'_a={base.kappa_a_test:.3g}, {base.outlier_count} count, l_ts={base.l_ts}, "
             f"{len(seeds)} seeds")
    save_figure(plot_placement(PLACEMENTS, args.alphas, errors, title), out / "placement.png", pdf=args.pdf)
    rows = [(f"{m:<5} {p:<2}", " ".join(f"{v:.3f}" for v in e.mean(0)[ip]))
            for m, e in errors.items() for ip, p in enumerate(PLACEMENTS)]
    print(format_table(rows, "mean test error at alpha = " + " ".join(str(a) for a in args.alphas)))
    print(f"written to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
