#!/usr/bin/env python
"""Reproduce Fig. 3 of arXiv 2510.00399: attention-score sums on same-pattern vs other examples during training.

    python scripts/fig3_attention.py --out docs/figures/fig3

Trains Mamba and the linear Transformer for several seeds and plots, at every logged step, the Cor. 1 sums
sum_i p~_i^T W_B^T W_C p~_query over the examples that share the query's relevant pattern and over the rest
(mean over the fixed test prompts; band = 1 std over seeds).  Writes fig3.npz, fig3.json, fig3.png to --out;
training runs are stored under <out>/cells (a rerun resumes).
"""

from __future__ import annotations

import _bootstrap  # noqa: F401

import numpy as np

from mamba_dynamics.core.cli import (Parser, add_output_arguments, add_repro_arguments, check_repro_arguments,
                                     format_table, output_dir)
from mamba_dynamics.outliers.cli import add_arguments as add_config_arguments, config_from_args
from mamba_dynamics.outliers.experiments import train_many
from mamba_dynamics.core.io import write_run
from mamba_dynamics.core.plotting import save_figure
from mamba_dynamics.outliers.plotting import plot_attention_history


def main(argv=None) -> int:
    parser = Parser(prog="fig3_attention.py", description=__doc__.split("\n\n")[0])
    add_config_arguments(parser, skip=("model",))
    add_output_arguments(parser, "fig3")
    add_repro_arguments(parser, seeds=3)
    args = parser.parse_args(argv)
    check_repro_arguments(parser, args)
    base = config_from_args(parser, args)
    out = output_dir(parser, args, "fig3")
    seeds = list(range(base.seed, base.seed + args.seeds))
    models = ("mamba", "lt")
    cfgs = [base.replace(model=m, seed=s) for m in models for s in seeds]
    runs = train_many(cfgs, args.jobs, show_progress=not args.quiet, out=out)
    steps = runs[0].history["step"]
    sums, arrays, rows = {}, {"step": steps, "seeds": np.asarray(seeds)}, []
    for m in models:
        rs = [r for c, r in zip(cfgs, runs) if c.model == m]
        same = np.stack([r.history["attn_same"] for r in rs])
        other = np.stack([r.history["attn_other"] for r in rs])
        unseen = np.stack([r.history["attn_other_unseen"] for r in rs])
        sums[m] = (same, other, unseen)
        arrays[f"attn_same_{m}"], arrays[f"attn_other_{m}"], arrays[f"attn_other_unseen_{m}"] = same, other, unseen
        rows.append((f"{m}: same / other / other on unseen tasks, at the end",
                     f"{same[:, -1].mean():.3g} / {other[:, -1].mean():.3g} / {unseen[:, -1].mean():.3g}"))
    write_run(out, "fig3", arrays, {"figure": "Fig. 3 (arXiv 2510.00399)", "config": base.to_dict(),
                                    "seeds": seeds, "status": [r.status for r in runs]})
    title = (f"Fig. 3 reproduction, preset {base.preset} (split {base.train_tasks}): attention concentration (Cor. 1) "
             f"on test prompts with alpha={base.alpha}, "
             f"p_a={base.p_a}, {len(seeds)} seeds")
    save_figure(plot_attention_history(steps, sums, title), out / "fig3.png", pdf=args.pdf)
    print(format_table(rows, "Cor. 1 attention sums (mean over seeds)"))
    print(f"written to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
