#!/usr/bin/env python
"""The gates of arXiv 2510.00399 App. E.6 in the feature-filtering model of arXiv 2602.12499: its Eq. 5 mixer
with Mamba's, Mamba-2's, gated retention's, RetNet's and GLA's (vector) gate, in majority voting and local
concentration.

    python scripts/features_gates.py --out docs/figures/features_gates

Each (regime, gate) is trained for --seeds seeds at the regime's defaults (docs/features.md: d = 10, L = 12,
m = 40; majority eta = 2, 200 GD steps; locality eta = 20, 1000 steps; W_B, W_C frozen at I, as the paper's
analysis has them); reported: the final test error, the gate on relevant and irrelevant tokens (``1 -
lambda(t)``: how much a token resets the state, Mamba's sigma; GLA's averaged over its key coordinates) and w's
alignment with o_+ and with the irrelevant patterns (Lemmas 4.1-4.2; GLA: of its mean gating vector).  Writes features_gates.npz, .json and .png to --out; runs are stored under
<out>/cells as they finish (a rerun resumes).
"""

from __future__ import annotations

import _bootstrap  # noqa: F401

import numpy as np

from mamba_dynamics.core.cli import (Parser, add_output_arguments, add_repro_arguments, check_largest,
                                     check_repro_arguments,
                                     format_table, name_list, output_dir)
from mamba_dynamics.core.io import write_run
from mamba_dynamics.core.plotting import save_figure
from mamba_dynamics.core.progress import progress_bar
from mamba_dynamics.features.config import REGIMES, FeaturesConfig
from mamba_dynamics.features.experiments import GATE_KEYS, GATE_TYPES_COMPARED, gate_family
from mamba_dynamics.features.plotting import plot_gate_family


def main(argv=None) -> int:
    parser = Parser(prog="features_gates.py", description=__doc__.split("\n\n")[0])
    add_output_arguments(parser, "features_gates")
    add_repro_arguments(parser, seeds=5, n_eval=False)
    parser.add_argument("--regimes", default=",".join(REGIMES), help="regimes, comma-separated")
    parser.add_argument("--gate-types", default=",".join(GATE_TYPES_COMPARED), help="gates, comma-separated")
    parser.add_argument("--steps", type=int, default=None, help="steps per run (default: the regime's)")
    args = parser.parse_args(argv)
    check_repro_arguments(parser, args)
    regimes = name_list(parser, args.regimes, REGIMES, "--regimes", "regime")
    gates = name_list(parser, args.gate_types, GATE_TYPES_COMPARED, "--gate-types", "gate type")
    if args.steps is not None and args.steps < 1:
        parser.error(f"--steps must be a positive integer, got {args.steps}")
    base = {} if args.steps is None else {"steps": args.steps}
    check_largest(parser, args, [FeaturesConfig(regime=r, gate_type=g, **base) for r in regimes for g in gates],
                  "the largest run of this comparison")
    out = output_dir(parser, args, "features_gates")
    seeds = list(range(args.seeds))
    bar = progress_bar(total=len(regimes) * len(gates) * len(seeds), desc="runs", enabled=not args.quiet)
    try:
        res = gate_family(regimes, gates, seeds, out, args.jobs, bar, base)
    finally:
        bar.close()
    arrays = {"seeds": np.asarray(seeds)}
    for (regime, g), cell in res.items():
        for key, v in cell.items():
            arrays[f"{regime}_{g}_{key}"] = v
    configs = {r: FeaturesConfig(regime=r, **base).to_dict() for r in regimes}
    write_run(out, "features_gates", arrays, {
        "figure": "2510.00399 App. E.6's gates in the Eq. 5 mixer of 2602.12499 (majority voting, local "
                  "concentration)", "regimes": regimes, "gate_types": gates, "seeds": seeds, "configs": configs})
    setting = ("Eq. 5 mixer with each gate (W_B = W_C = I frozen; d = 10, L = 12, m = 40; "
               + "; ".join(f"{r}: eta {configs[r]['eta']:g}, {configs[r]['steps']} steps" for r in regimes)
               + f"; {len(seeds)} seeds; gret and GLA tau = 16, RetNet gamma = 0.969)")
    save_figure(plot_gate_family(res, regimes, gates, setting), out / "features_gates.png", pdf=args.pdf)
    rows = []
    for (regime, g), cell in res.items():
        rows.append((f"{regime:<9} {g:<7}", "  ".join(f"{np.nanmean(cell[k]):8.3f}" for k in GATE_KEYS[:-1])))
    print(format_table(rows, "mean over seeds: " + "  ".join(f"{k:>8}" for k in GATE_KEYS[:-1])))
    print(f"written to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
