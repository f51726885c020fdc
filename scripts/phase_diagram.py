#!/usr/bin/env python
"""Phase diagram over any two config fields, with the theory's boundary drawn on top.

    python scripts/phase_diagram.py --model mamba --x alpha --y l_ts
    python scripts/phase_diagram.py --model lt --x alpha --x-values 0:0.9:0.1 --y p_a --y-values 0:0.9:0.1 --seeds 3
    python scripts/phase_diagram.py --model mamba --x alpha --y p_a --scheduler tcp://HOST:8786

Every cell trains (or reuses, when only test-side fields differ) one model per seed and records every tracked
metric; the colour is --metric (default: final test error), mean over seeds.  Finished work is saved per
training run under <out>/cells/, so rerunning the same command after an interruption skips it.  Writes
phase.npz + phase.json (arrays (ny, nx, seeds), mean and std per metric) and phase.png to --out.
Grids: a,b,c | start:stop:step (stop included) | geom:start:stop:n.
"""

from __future__ import annotations

import _bootstrap  # noqa: F401

from mamba_dynamics.cli import (Parser, add_config_arguments, add_output_arguments, check_repro_arguments,
                                config_from_args, fail, format_table, output_dir)
from mamba_dynamics.sweeps import (DEFAULT_GRIDS, METRICS, Axis, GridError, SweepSpec, estimate_cost, nanmean_seeds,
                                   parse_grid, run_sweep, save_dataset)


def build_spec(parser, args, **overrides) -> SweepSpec:
    base = config_from_args(parser, args, **overrides)
    try:
        x = Axis(args.x, parse_grid(args.x, args.x_values))
        y = Axis(args.y, parse_grid(args.y, args.y_values))
        spec = SweepSpec(base, x, y, tuple(range(base.seed, base.seed + args.seeds)), args.n_eval)
        spec.groups()  # validates every cell
        return spec
    except GridError as exc:
        parser.error(str(exc))
    raise AssertionError("unreachable")


def add_sweep_arguments(parser) -> None:
    parser.add_argument("--x", required=True, help="config field on the x axis, e.g. alpha")
    parser.add_argument("--y", required=True, help="config field on the y axis, e.g. l_ts")
    parser.add_argument("--x-values", default=None, help="x grid (default per field, e.g. alpha: "
                        f"{DEFAULT_GRIDS['alpha']})")
    parser.add_argument("--y-values", default=None, help="y grid (default per field)")
    parser.add_argument("--metric", default="test_err", help=f"colour: one of {', '.join(METRICS)}")
    parser.add_argument("--seeds", type=int, default=3, help="seeds per cell (seed, seed+1, ...)")
    parser.add_argument("--n-eval", type=int, default=1000, help="test prompts per cell and seed")
    parser.add_argument("--jobs", type=int, default=0, help="worker processes (0 = all cores)")
    parser.add_argument("--scheduler", default=None, help="address of a Dask scheduler, e.g. tcp://HOST:8786")
    parser.add_argument("--dry-run", action="store_true", help="print the grid and estimated cost, run nothing")


def check_sweep_arguments(parser, args) -> None:
    if args.metric not in METRICS:
        parser.error(f"unknown metric {args.metric!r}; choose one of {', '.join(METRICS)}")
    check_repro_arguments(parser, args)


def dry_run(spec: SweepSpec, jobs: int) -> None:
    import os

    cost = estimate_cost(spec)
    workers = (os.cpu_count() or 1) if jobs <= 0 else jobs
    print(format_table([
        (f"x = {spec.x.field}", ", ".join(f"{v}" for v in spec.x.values)),
        (f"y = {spec.y.field}", ", ".join(f"{v}" for v in spec.y.values)),
        ("seeds", ", ".join(str(s) for s in spec.seeds)),
        ("cells x seeds", str(spec.shape[0] * spec.shape[1] * spec.shape[2])),
        ("training runs", str(cost["training_runs"])),
        ("estimated time", f"{cost['seconds_one_worker']:.0f} s on 1 worker, "
                           f"~{cost['seconds_one_worker'] / min(workers, cost['training_runs']):.0f} s on {workers}"),
    ], "dry run: nothing was trained"))


def main(argv=None) -> int:
    parser = Parser(prog="phase_diagram.py", description=__doc__.split("\n\n")[0])
    add_config_arguments(parser)
    add_output_arguments(parser, "phase")
    add_sweep_arguments(parser)
    args = parser.parse_args(argv)
    check_sweep_arguments(parser, args)
    spec = build_spec(parser, args)
    if args.dry_run:
        dry_run(spec, args.jobs)
        return 0
    out = output_dir(args, f"phase-{spec.base.model}-{args.x}-{args.y}")
    try:
        data = run_sweep(spec, out, args.jobs, args.scheduler, show_progress=not args.quiet)
    except (RuntimeError, OSError) as exc:
        fail(f"phase_diagram.py: {exc}", 1)
    save_dataset(spec, data, out)
    from mamba_dynamics.plotting import plot_phase, save_figure

    panel = dict(x_field=spec.x.field, xs=spec.x.values, y_field=spec.y.field, ys=spec.y.values,
                 mean=nanmean_seeds(data["arrays"][args.metric]), status=data["status"], base=spec.base.to_dict(),
                 model=spec.base.model, title=f"{spec.base.model}: {args.metric}")
    title = (f"{spec.base.model}, {len(spec.seeds)} seeds, p_a={spec.base.p_a}, l_tr={spec.base.l_tr}, "
             f"l_ts={spec.base.l_ts}, alpha={spec.base.alpha}, labels={spec.base.label_rule} "
             f"(axes override these)")
    save_figure(plot_phase([panel], args.metric, title), out / "phase.png", pdf=args.pdf)
    n_failed = len(data["failures"])
    print(f"{data['n_finished']}/{data['n_groups']} training runs finished, {n_failed} failed; "
          f"this invocation took {data['wall_time_s']:.1f} s; written to {out}")
    for f in data["failures"][:5]:
        print(f"  failed (seed {f['seed']}, cells {f['cells'][:3]}...): {f['error']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
