#!/usr/bin/env python
"""Iterations to a target test error vs the theory's scalings (paper Thms 1-2; Figs. 1 and 3).

    python scripts/features_scaling.py --out docs/figures/features_scaling
    python scripts/features_scaling.py --quick --quiet --out /tmp/fs        # small grids, one seed

Four sweeps of the selective SSM + MLP (:func:`mamba_dynamics.features.experiments.scaling_plan`), each run stopped when the test error first reaches the target (logged
every step): majority voting vs the gap alpha_r - alpha_c (L = 20) and vs L (gap 0.2); local concentration vs
delta = (1/2)^{Delta L+} - (1/2)^{Delta L-} (L = 16) and vs L (Delta L = 1, 4).  Each panel shows the measured
iterations on log-log axes with the least-squares slope and the slope the theory predicts
(:data:`mamba_dynamics.features.theory.PREDICTED_SLOPES`).  Writes ``scaling.npz`` + ``scaling.json`` (every
run, fitted and predicted slopes) and ``scaling.png``.  Each run is saved under ``<out>/cells`` as it finishes
and a rerun resumes.  Exit 2 on bad input.
"""

from __future__ import annotations

import _bootstrap  # noqa: F401

import numpy as np

from mamba_dynamics.core.cli import (Parser, add_output_arguments, add_repro_arguments, check_repro_arguments,
                                format_table, output_dir)
from mamba_dynamics.core.io import write_run
from mamba_dynamics.core.plotting import save_figure
from mamba_dynamics.core.progress import progress_bar
from mamba_dynamics.features.experiments import TARGET, run_scaling, scaling_plan
from mamba_dynamics.features.plotting import fit_slope, geometric_mean, plot_scaling
from mamba_dynamics.features.theory import PREDICTED_SLOPES


def main(argv=None) -> int:
    parser = Parser(prog="features_scaling.py", description=__doc__.split("\n\n")[0])
    add_repro_arguments(parser, seeds=2, n_eval=False)
    parser.add_argument("--quick", action="store_true", help="three points per sweep")
    parser.add_argument("--only", default=None,
                        help="comma-separated sweeps to run: majority_gap, majority_L, locality_delta, locality_L "
                             "[default: all four]")
    add_output_arguments(parser, "features-scaling")
    args = parser.parse_args(argv)
    check_repro_arguments(parser, args)
    out = output_dir(parser, args, "features-scaling")
    plan = scaling_plan(args.quick)
    if args.only is not None:
        names = [n.strip() for n in args.only.split(",") if n.strip()]
        unknown = sorted(set(names) - {sw["name"] for sw in plan})
        if unknown or not names:
            parser.error(f"unknown sweep {', '.join(unknown) or repr(args.only)}; choose from "
                         f"{', '.join(sw['name'] for sw in plan)}")
        plan = [sw for sw in plan if sw["name"] in names]
    bar = progress_bar(sum(len(sw["cfgs"]) for sw in plan) * args.seeds, "runs", enabled=not args.quiet)
    try:
        Ts = run_scaling(plan, args.seeds, out, args.jobs, bar)
    finally:
        bar.close()

    arrays, fits, panels, rows = {}, {}, [], []
    for sw in plan:
        T = Ts[sw["name"]]  # (seeds, k)
        x = np.array(sw["x"], dtype=float)
        slope, _ = fit_slope(np.repeat(x[None], args.seeds, 0).ravel(), T.ravel())
        pred = PREDICTED_SLOPES[(sw["regime"], sw["var"])]
        arrays[f"{sw['name']}_x"], arrays[f"{sw['name']}_T"] = x, T
        fits[sw["name"]] = {"fitted_slope": slope, "predicted_slope": pred, "not_reached": int(np.isnan(T).sum()),
                            "target_err": TARGET[sw["regime"]]}
        panels.append({"title": f"{sw['regime']}: vs {sw['var']} (target test error {TARGET[sw['regime']]})",
                       "xlabel": sw["xlabel"], "predicted": pred, "curves": {"ssm": (x, T)}})
        gm = geometric_mean(T)
        rows.append((sw["name"], f"fitted slope {slope:+.2f}   theory {pred:+g}   iterations "
                                 + " ".join(f"{v:.0f}" for v in gm)
                                 + (f"   ({fits[sw['name']]['not_reached']} runs not reached)"
                                    if fits[sw["name"]]["not_reached"] else "")))
    save_figure(plot_scaling(panels), out / "scaling.png", pdf=args.pdf)
    write_run(out, "scaling", arrays, {"seeds": args.seeds, "quick": args.quick, "fits": fits,
                                       "configs": {sw["name"]: sw["cfgs"] for sw in plan}})
    print(format_table(rows, f"iterations to target, geometric mean over {args.seeds} seeds"))
    print(f"written: {out / 'scaling.png'}, {out / 'scaling.npz'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
