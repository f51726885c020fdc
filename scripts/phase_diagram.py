#!/usr/bin/env python
"""Phase diagram of any model over any two config fields, with the family's theory boundary drawn on top.

    python scripts/phase_diagram.py --model mamba --x alpha --y l_ts
    python scripts/phase_diagram.py --model lt --x alpha --x-values 0:0.9:0.1 --y p_a --y-values 0:0.9:0.1 --seeds 3
    python scripts/phase_diagram.py --model ssm --regime majority --x alpha_r --y L --metric iters_to_target
    python scripts/phase_diagram.py --model mamba-single-index --x d --y r --metric risk --dry-run
    python scripts/phase_diagram.py --model mamba --x alpha --y p_a --scheduler tcp://HOST:8786

``--model`` picks the family; ``--model NAME --help`` lists its setting flags, axes and metrics.  Every cell trains
(or reuses, when only test-side fields differ) one model per seed and records every metric of the family; the
colour is --metric, mean over seeds.  Boundaries: Thm 2 / Thm 4 for the outlier models, the fitted iteration law
``T = C L^p / (eta signal^2)`` at the step budget for the feature models (iterations metric), ``N = r^(3 ge/2)``
for the single-index models.  Finished work is saved per training run under <out>/cells/, so rerunning the same
command after an interruption skips it.  Writes phase.npz + phase.json (arrays (ny, nx, seeds), mean and std per
metric) and phase.png to --out.  Grids: a,b,c | start:stop:step (stop included) | geom:start:stop:n.
"""

from __future__ import annotations

import _bootstrap  # noqa: F401

import os
import re
import textwrap
import sys

from mamba_dynamics import families
from mamba_dynamics.core.cli import (Parser, add_output_arguments, check_largest, check_repro_arguments, fail,
                                     format_table, output_dir, requested_model)
from mamba_dynamics.core.sweeps import (Axis, GridError, SweepSpec, estimate_cost, nanmean_seeds, parse_grid,
                                        run_sweep, save_dataset)


def add_sweep_arguments(parser, sweep) -> None:
    parser.add_argument("--x", required=True, help="config field on the x axis, e.g. "
                        + ", ".join(list(sweep.default_grids)[:3]))
    parser.add_argument("--y", required=True, help="config field on the y axis")
    parser.add_argument("--x-values", default=None, help="x grid (default per field: "
                        + "; ".join(f"{k} {v}" for k, v in list(sweep.default_grids.items())[:3]) + ", ...)")
    parser.add_argument("--y-values", default=None, help="y grid (default per field)")
    parser.add_argument("--metric", default=sweep.metrics[0] if sweep.name != "outliers" else "test_err",
                        help=f"colour: one of {', '.join(sweep.metrics)}")
    parser.add_argument("--seeds", type=int, default=3, help="seeds per cell (seed, seed+1, ...)")
    parser.add_argument("--n-eval", type=int, default=1000, help="test prompts (sequences) per cell and seed")
    parser.add_argument("--jobs", type=int, default=0, help="worker processes (0 = all cores)")
    parser.add_argument("--scheduler", default=None, help="address of a Dask scheduler, e.g. tcp://HOST:8786")
    parser.add_argument("--dry-run", action="store_true", help="print the grid and estimated cost, run nothing")


def check_sweep_arguments(parser, args, sweep) -> None:
    if args.scheduler is not None and not re.fullmatch(r"[a-z]+://[^\s:/]+:\d+", args.scheduler):
        parser.error(f"--scheduler must be a Dask scheduler address like tcp://HOST:8786, got {args.scheduler!r}")
    if args.metric not in sweep.metrics:
        parser.error(f"unknown metric {args.metric!r}; choose one of {', '.join(sweep.metrics)}")
    check_repro_arguments(parser, args)


def build_spec(parser, args, sweep, base) -> SweepSpec:
    try:
        x = Axis(args.x, parse_grid(sweep, args.x, args.x_values))
        y = Axis(args.y, parse_grid(sweep, args.y, args.y_values))
        spec = SweepSpec(sweep, base, x, y, tuple(range(base.seed, base.seed + args.seeds)), args.n_eval)
        groups = spec.groups()  # validates every cell
    except GridError as exc:
        parser.error(str(exc))
    check_largest(parser, args, [g.train_cfg for g in groups], "the largest cell of this sweep")
    return spec


def dry_run(spec: SweepSpec, jobs: int) -> None:
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
    ], f"dry run ({spec.family.name}): nothing was trained"))


def panel(spec: SweepSpec, data: dict, metric: str, model: str, title: str) -> dict:
    """Keywords of :func:`mamba_dynamics.core.plotting.draw_phase` for one finished sweep of ``model``."""
    plotting = families.module(families.family_of(model), "plotting")
    mean = nanmean_seeds(data["arrays"][metric])
    base = spec.base.to_dict()
    return dict(x_field=spec.x.field, xs=spec.x.values, y_field=spec.y.field, ys=spec.y.values, mean=mean,
                status=data["status"], axis_labels=plotting.SYMBOL, title=title,
                boundary=plotting.phase_boundary(base, spec.x.field, spec.x.values, spec.y.field, spec.y.values,
                                                 mean, metric=metric))


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    model = requested_model(argv) or "mamba"
    known = families.models()
    parser = Parser(prog="phase_diagram.py", description=__doc__.split("\n\n")[0])
    if model not in known:
        parser.error(f"unknown model {model!r}; choose one of {', '.join(known)}")
    family = known[model][0]
    add_arguments, config_from_args, sweep = families.sweep_entry(model)
    parser.add_argument("--model", default=model, help=f"model: one of {', '.join(known)}")
    add_arguments(parser, skip=("model",))
    add_output_arguments(parser, "phase")
    add_sweep_arguments(parser, sweep)
    args = parser.parse_args(argv)
    check_sweep_arguments(parser, args, sweep)
    base = config_from_args(parser, args, **families.model_fields(model))
    spec = build_spec(parser, args, sweep, base)
    if args.dry_run:
        dry_run(spec, args.jobs)
        return 0
    out = output_dir(parser, args, f"phase-{model}-{args.x}-{args.y}")
    try:
        data = run_sweep(spec, out, args.jobs, args.scheduler, show_progress=not args.quiet)
    except (RuntimeError, OSError) as exc:
        fail(f"phase_diagram.py: {exc}", 1)
    save_dataset(spec, data, out)
    from mamba_dynamics.core.plotting import plot_phase, save_figure

    plotting = families.module(family, "plotting")
    setting = ", ".join(f"{k}={v}" for k, v in base.to_dict().items() if k in sweep.default_grids
                        and k not in (args.x, args.y) and not isinstance(v, (list, tuple)))
    title = f"{model}, {len(spec.seeds)} seeds; fixed: {setting}"
    fig = plot_phase([panel(spec, data, args.metric, model, f"{model}: {args.metric}")], args.metric,
                     "\n".join(textwrap.wrap(title, 110)),
                     metric_labels=plotting.METRIC_LABEL, lower_is_better=args.metric in sweep.lower_is_better)
    save_figure(fig, out / "phase.png", pdf=args.pdf)
    n_failed = len(data["failures"])
    print(f"{data['n_finished']}/{data['n_groups']} training runs finished, {n_failed} failed; "
          f"this invocation took {data['wall_time_s']:.1f} s; written to {out}")
    for f in data["failures"][:5]:
        print(f"  failed (seed {f['seed']}, cells {f['cells'][:3]}...): {f['error']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
