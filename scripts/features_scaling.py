#!/usr/bin/env python
"""Iterations to a target test error, and the samples needed, vs the theory's scalings (paper Thms 1-2; Figs. 1, 3).

    python scripts/features_scaling.py --out docs/figures/features_scaling
    python scripts/features_scaling.py --quick --quiet --out /tmp/fs        # small grids, one seed

Four sweeps of the selective SSM + MLP (:func:`mamba_dynamics.features.experiments.scaling_plan`), each run stopped when the test error first reaches the target (logged
every step): majority voting vs the gap alpha_r - alpha_c (L = 20) and vs L (gap 0.2); local concentration vs
delta = (1/2)^{Delta L+} - (1/2)^{Delta L-} (L = 16) and vs L (Delta L = 1, 4).  Each panel shows the measured
iterations on log-log axes with the least-squares slope, its 95% confidence interval and the slope the theory
predicts (:data:`mamba_dynamics.features.theory.PREDICTED_SLOPES`).  A fifth sweep (``samples``) trains on N
sequences for several d and reports the smallest N reaching 5% test error against Thm 1's ``N_min ~ d``.  Writes
``scaling.npz`` + ``scaling.json`` (every run, fitted slopes with intervals, predicted slopes) and ``scaling.png``.  Each run is saved under ``<out>/cells`` as it finishes
and a rerun resumes.  Exit 2 on bad input.
"""

from __future__ import annotations

import _bootstrap  # noqa: F401

import numpy as np

from mamba_dynamics.core.cli import (Parser, add_output_arguments, add_repro_arguments, check_largest,
                                     check_repro_arguments, format_table, names_from, output_dir)
from mamba_dynamics.core.io import write_run
from mamba_dynamics.core.plotting import save_figure
from mamba_dynamics.core.progress import progress_bar
from mamba_dynamics.features.experiments import (DEFAULT_SWEEPS, SAMPLE_TARGET, TARGET, n_min, run_samples,
                                                 run_scaling, sample_plan, scaling_configs, scaling_plan)
from mamba_dynamics.core.fits import fit_per_seed_grid, geometric_mean
from mamba_dynamics.features.plotting import plot_scaling
from mamba_dynamics.features.theory import PREDICTED_SLOPES


def main(argv=None) -> int:
    parser = Parser(prog="features_scaling.py", description=__doc__.split("\n\n")[0])
    add_repro_arguments(parser, seeds=4, n_eval=False)
    parser.add_argument("--quick", action="store_true", help="three points per sweep")
    parser.add_argument("--only", default=None,
                        help="comma-separated sweeps to run: majority_gap, majority_L, locality_delta, locality_L, "
                             "majority_gap_gate_fixed, locality_delta_gate_fixed, locality_L_gate_fixed, samples "
                             "[default: all but the two locality *_gate_fixed]")
    parser.add_argument("--sample-d", default=None,
                        help="comma-separated d values of the samples sweep [default: 8,16,32,64; the paper's "
                             "experiments: 32,64,128]")
    add_output_arguments(parser, "features-scaling")
    args = parser.parse_args(argv)
    check_repro_arguments(parser, args)
    sample_d = None
    if args.sample_d is not None:
        try:
            sample_d = [int(v) for v in args.sample_d.split(",")]
        except ValueError:
            parser.error(f"--sample-d takes comma-separated integers, got {args.sample_d!r}")
        if not sample_d or min(sample_d) < 3 or len(set(sample_d)) != len(sample_d) or len(sample_d) > 100:
            parser.error(f"--sample-d takes up to 100 distinct integers >= 3, got {args.sample_d!r}")
    plan = scaling_plan(args.quick)
    samples = sample_plan(args.quick, sample_d)
    every = [sw["name"] for sw in plan] + ["samples"]
    names = list(DEFAULT_SWEEPS)
    plan = [sw for sw in plan if sw["name"] in names]
    if args.only is not None:
        names = names_from(parser, args.only, every, "sweep")
        plan = [sw for sw in scaling_plan(args.quick) if sw["name"] in names]
    check_largest(parser, args, scaling_configs(plan, samples if "samples" in names else None),
                  "the largest run of these sweeps")
    out = output_dir(parser, args, "features-scaling")
    n_sample_runs = len(samples["d"]) * len(samples["N"]) * args.seeds if "samples" in names else 0
    bar = progress_bar(sum(len(sw["cfgs"]) for sw in plan) * args.seeds + n_sample_runs, "runs",
                       enabled=not args.quiet)
    try:
        Ts = run_scaling(plan, args.seeds, out, args.jobs, bar)
        errs = run_samples(samples, args.seeds, out, args.jobs, bar) if "samples" in names else None
    finally:
        bar.close()

    arrays, fits, panels, rows = {}, {}, [], []
    by_name = {}
    for sw in plan:
        T = Ts[sw["name"]]  # (seeds, k)
        x = np.array(sw["x"], dtype=float)
        fit = fit_per_seed_grid(x, T)
        pred = PREDICTED_SLOPES[(sw["regime"], sw["var"])]
        arrays[f"{sw['name']}_x"], arrays[f"{sw['name']}_T"] = x, T
        fits[sw["name"]] = {"fitted_slope": fit["slope"], "ci95": [fit["lo"], fit["hi"]], "points": fit["n"],
                            "predicted_slope": pred, "not_reached": int(np.isnan(T).sum()),
                            "target_err": TARGET[sw["regime"]]}
        base = sw["name"].replace("_gate_fixed", "")
        if base in by_name:  # the gate-fixed sweep joins its panel as a second curve
            by_name[base]["curves"]["ssm, gate fixed (w = 0)"] = (x, T)
        else:
            by_name[base] = {"title": f"{sw['regime']}: vs {sw['var']} (target test error {TARGET[sw['regime']]})",
                             "xlabel": sw["xlabel"], "predicted": pred,
                             "curves": {"ssm" if base == sw["name"] else "ssm, gate fixed (w = 0)": (x, T)}}
            panels.append(by_name[base])
        gm = geometric_mean(T)
        rows.append((sw["name"], f"fitted slope {fit['slope']:+.2f} [{fit['lo']:+.2f}, {fit['hi']:+.2f}]   theory "
                                 f"{pred:+g}   iterations " + " ".join(f"{v:.0f}" for v in gm)
                                 + (f"   ({fits[sw['name']]['not_reached']} runs not reached)"
                                    if fits[sw["name"]]["not_reached"] else "")))
    if errs is not None:
        d = np.array(samples["d"], dtype=float)
        nm = np.array([[n_min(samples["N"], errs[i, :, s]) for s in range(args.seeds)] for i in range(len(d))]).T
        fit = fit_per_seed_grid(d, nm)
        arrays.update(samples_d=d, samples_N=np.array(samples["N"], float), samples_err=errs, samples_n_min=nm)
        fits["samples"] = {"fitted_slope": fit["slope"], "ci95": [fit["lo"], fit["hi"]], "points": fit["n"],
                           "predicted_slope": 1.0, "not_reached": int(np.isnan(nm).sum()), "target_err": SAMPLE_TARGET}
        panels.append({"title": f"majority: samples to test error {SAMPLE_TARGET} vs d", "xlabel": "d",
                       "ylabel": f"smallest N with test error <= {SAMPLE_TARGET}", "predicted": 1.0,
                       "curves": {"ssm": (d, nm)}})
        rows.append(("samples", f"fitted slope {fit['slope']:+.2f} [{fit['lo']:+.2f}, {fit['hi']:+.2f}]   theory +1   "
                                "N_min " + " ".join(f"{v:.0f}" for v in geometric_mean(nm))))
    save_figure(plot_scaling(panels), out / "scaling.png", pdf=args.pdf)
    write_run(out, "scaling", arrays, {"seeds": args.seeds, "quick": args.quick, "fits": fits,
                                       "configs": {sw["name"]: sw["cfgs"] for sw in plan},
                                       "samples": samples if errs is not None else None})
    print(format_table(rows, f"iterations to target, geometric mean over {args.seeds} seeds"))
    print(f"written: {out / 'scaling.png'}, {out / 'scaling.npz'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
