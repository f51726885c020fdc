#!/usr/bin/env python
"""Side-by-side Mamba vs linear-Transformer phase diagrams: alpha vs p_a and alpha vs l_ts (arXiv 2510.00399).

    python scripts/phase_compare.py --out docs/figures/phase

Runs four resumable sweeps (two models x two axis pairs, 10 x 10 grids, 3 seeds by default) into sub-folders of
--out and draws a 2 x 2 figure of the final test error with the theorems' boundaries: alpha = min(1, p_a l_tr /
l_ts) for Mamba (Thm 2) and alpha = 1/2 for the LT (Thm 4).  Writes phase_compare.png and phase_compare.json.
"""

from __future__ import annotations

import _bootstrap  # noqa: F401

import time

from phase_diagram import check_sweep_arguments, panel

from mamba_dynamics.core.cli import Parser, add_output_arguments, output_dir
from mamba_dynamics.core.io import save_json
from mamba_dynamics.core.plotting import plot_phase, save_figure
from mamba_dynamics.core.sweeps import Axis, GridError, SweepSpec, parse_grid, run_sweep, save_dataset
from mamba_dynamics.outliers.cli import add_arguments as add_config_arguments, config_from_args
from mamba_dynamics.outliers.experiments import SWEEP
from mamba_dynamics.outliers.plotting import METRIC_LABEL

PAIRS = (("alpha", "p_a"), ("alpha", "l_ts"))


def main(argv=None) -> int:
    parser = Parser(prog="phase_compare.py", description=__doc__.split("\n\n")[0])
    add_config_arguments(parser, skip=("model", "alpha", "p_a", "l_ts"))
    add_output_arguments(parser, "phase-compare")
    parser.add_argument("--alphas", default="0:0.9:0.1", help="alpha grid")
    parser.add_argument("--p-as", default="0:0.9:0.1", help="p_a grid")
    parser.add_argument("--l-tss", default="10:100:10", help="l_ts grid")
    parser.add_argument("--metric", default="test_err", help="colour metric")
    parser.add_argument("--seeds", type=int, default=3, help="seeds per cell")
    parser.add_argument("--n-eval", type=int, default=1000, help="test prompts per cell and seed")
    parser.add_argument("--jobs", type=int, default=0, help="worker processes (0 = all cores)")
    parser.add_argument("--scheduler", default=None, help="Dask scheduler address")
    args = parser.parse_args(argv)
    check_sweep_arguments(parser, args, SWEEP)
    out = output_dir(parser, args, "phase-compare")
    grids = {}
    try:
        grids = {"alpha": parse_grid(SWEEP, "alpha", args.alphas), "p_a": parse_grid(SWEEP, "p_a", args.p_as),
                 "l_ts": parse_grid(SWEEP, "l_ts", args.l_tss)}
        specs = {}
        for model in ("mamba", "lt"):
            base = config_from_args(parser, args, model=model)
            for xf, yf in PAIRS:
                spec = SweepSpec(SWEEP, base, Axis(xf, grids[xf]), Axis(yf, grids[yf]),
                                 tuple(range(base.seed, base.seed + args.seeds)), args.n_eval)
                spec.groups()
                specs[(model, xf, yf)] = spec
    except GridError as exc:
        parser.error(str(exc))
    t0 = time.perf_counter()
    panels, summary = [], {}
    for (xf, yf) in PAIRS:
        for model in ("mamba", "lt"):
            spec = specs[(model, xf, yf)]
            sub = out / f"{model}_{xf}_{yf}"
            print(f"[{model}, {xf} x {yf}]", end=" ")
            data = run_sweep(spec, sub, args.jobs, args.scheduler, show_progress=not args.quiet)
            save_dataset(spec, data, sub)
            panels.append(panel(spec, data, args.metric, model,
                                f"{'Mamba' if model == 'mamba' else 'Linear Transformer'}: {xf} vs {yf}"))
            summary[f"{model}_{xf}_{yf}"] = {"dataset": str(sub / "phase.npz"), "failures": len(data["failures"])}
    wall = time.perf_counter() - t0
    b = specs[("mamba", "alpha", "p_a")].base
    title = (f"Final test error ({b.label_rule} labels), preset {b.preset} (kappa'_a={b.kappa_a_test:.3g}, K'={b.K_test:g}, "
             f"split {b.train_tasks}, {b.outlier_count} outlier count), mean of {args.seeds} seeds;\nfixed: "
             f"l_tr={b.l_tr}, p_a={b.p_a} (right column), l_ts={b.l_ts} (left column), {b.steps} SGD steps")
    save_figure(plot_phase(panels, args.metric, title, ncols=2, metric_labels=METRIC_LABEL,
                           lower_is_better=args.metric in SWEEP.lower_is_better), out / "phase_compare.png",
                pdf=args.pdf)
    save_json(out / "phase_compare.json", {"panels": summary, "wall_time_s_this_invocation": wall,
                                           "grids": {k: list(v) for k, v in grids.items()}})
    print(f"done in {wall:.0f} s; figure {out / 'phase_compare.png'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
