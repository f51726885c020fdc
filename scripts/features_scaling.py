#!/usr/bin/env python
"""Iterations to a target test error vs the theory's scalings (paper Thms 1-2; Figs. 1 and 3).

    python scripts/features_scaling.py --out docs/figures/features_scaling
    python scripts/features_scaling.py --quick --quiet --out /tmp/fs        # small grids, one seed

Four sweeps of the selective SSM + MLP, each run stopped when the test error first reaches the target (logged
every step): majority voting vs the gap alpha_r - alpha_c (L = 20) and vs L (gap 0.2); local concentration vs
delta = (1/2)^{Delta L+} - (1/2)^{Delta L-} (L = 16) and vs L (Delta L = 1, 4).  Each panel shows the measured
iterations on log-log axes with the least-squares slope and the slope the theory predicts
(:data:`mamba_dynamics.features.theory.PREDICTED_SLOPES`).  Writes ``scaling.npz`` + ``scaling.json`` (every
run, fitted and predicted slopes) and ``scaling.png``.  Exit 2 on bad input.
"""

from __future__ import annotations

import _bootstrap  # noqa: F401

import numpy as np

from mamba_dynamics.cli import (Parser, add_output_arguments, add_repro_arguments, check_repro_arguments,
                                format_table, output_dir)
from mamba_dynamics.features.config import FeaturesConfig
from mamba_dynamics.features.plotting import fit_slope, geometric_mean, plot_scaling
from mamba_dynamics.features.theory import PREDICTED_SLOPES
from mamba_dynamics.features.training import train
from mamba_dynamics.io import write_run
from mamba_dynamics.parallel import map_with_progress
from mamba_dynamics.plotting import save_figure

TARGET = {"majority": 0.01, "locality": 0.25}
MAX_STEPS = {"majority": 1500, "locality": 2000}


def sweeps(quick: bool) -> list[dict]:
    """The four sweeps: name, regime, varied quantity, x values and one config per x."""
    maj = dict(regime="majority", n_test=500, log_every=1, target_err=TARGET["majority"],
               steps=MAX_STEPS["majority"])
    loc = dict(regime="locality", n_test=500, log_every=1, target_err=TARGET["locality"],
               steps=MAX_STEPS["locality"])
    alphas = [0.2, 0.3, 0.6] if quick else [0.2, 0.25, 0.3, 0.4, 0.6]
    Ls = [10, 20, 40] if quick else [10, 20, 30, 40, 60]
    pairs = [(1, 3), (2, 4), (3, 5)] if quick else [(1, 3), (2, 4), (3, 5), (4, 6)]
    Lloc = [8, 12, 24] if quick else [8, 12, 16, 24, 32]
    return [
        {"name": "majority_gap", "regime": "majority", "var": "gap", "xlabel": "alpha_r - alpha_c",
         "cfgs": [dict(maj, L=20, alpha_r=a, alpha_c=0.1) for a in alphas], "x": [a - 0.1 for a in alphas]},
        {"name": "majority_L", "regime": "majority", "var": "L", "xlabel": "L",
         "cfgs": [dict(maj, L=L, alpha_r=0.3, alpha_c=0.1) for L in Ls], "x": Ls},
        {"name": "locality_delta", "regime": "locality", "var": "delta",
         "xlabel": "delta = (1/2)^{Delta L+} - (1/2)^{Delta L-}",
         "cfgs": [dict(loc, L=16, gap_near=a, gap_far=b) for a, b in pairs],
         "x": [0.5**a - 0.5**b for a, b in pairs]},
        {"name": "locality_L", "regime": "locality", "var": "L", "xlabel": "L",
         "cfgs": [dict(loc, L=L, gap_near=1, gap_far=4) for L in Lloc], "x": Lloc},
    ]


def _run(kw: dict) -> float:
    return train(FeaturesConfig(**kw), stop_at_target=True).iters_to_target


def main(argv=None) -> int:
    parser = Parser(prog="features_scaling.py", description=__doc__.split("\n\n")[0])
    add_repro_arguments(parser, seeds=2, n_eval=False)
    parser.add_argument("--quick", action="store_true", help="three points per sweep")
    add_output_arguments(parser, "features-scaling")
    args = parser.parse_args(argv)
    check_repro_arguments(parser, args)
    out = output_dir(args, "features-scaling")
    plan = sweeps(args.quick)
    items = [dict(c, seed=s) for sw in plan for c in sw["cfgs"] for s in range(args.seeds)]
    flat = map_with_progress(_run, items, args.jobs, "runs", not args.quiet)

    arrays, fits, panels, rows, i = {}, {}, [], [], 0
    for sw in plan:
        k = len(sw["cfgs"])
        T = np.array(flat[i:i + k * args.seeds], dtype=float).reshape(k, args.seeds).T  # (seeds, k)
        i += k * args.seeds
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
