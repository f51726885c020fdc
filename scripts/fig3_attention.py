#!/usr/bin/env python
"""Reproduce Fig. 3 of arXiv 2510.00399: attention-score sums on same-pattern vs other examples during training.

    python scripts/fig3_attention.py --out docs/figures/fig3
    python scripts/fig3_attention.py --layers 3 --p-a 0.4 --out docs/figures/fig3_3layer   # as the paper ran it

Trains Mamba and the linear Transformer for several seeds and plots, at every logged step, the Cor. 1 sums
sum_i p~_i^T W_B^T W_C p~_query over the examples that share the query's relevant pattern and over the rest
(mean over the fixed test prompts; band = 1 std over seeds).  With --layers > 1 (the paper's Fig. 3 is a
3-layer model at p_a = 0.4) every block's sums on its own input stream are drawn, the first block on the left.  Writes fig3.npz, fig3.json, fig3.png to --out;
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


def pad(a: np.ndarray, n: int) -> np.ndarray:
    """``a`` ``(k, ...)`` extended with NaN rows to ``n`` rows (a run that diverged logged fewer steps)."""
    a = np.asarray(a, float)
    return np.concatenate([a, np.full((n - len(a),) + a.shape[1:], np.nan)]) if len(a) < n else a


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
    steps = max((r.history["step"] for r in runs), key=len)  # a diverged run logged fewer steps: NaN after it
    deep = base.layers > 1
    sums, arrays, rows = {}, {"step": steps, "seeds": np.asarray(seeds)}, []

    def logged(rs, key):
        return np.stack([pad(r.history[key], len(steps)) for r in rs])

    for m in models:
        rs = [r for c, r in zip(cfgs, runs) if c.model == m]
        if deep:  # (seeds, n_log, L): every block; the unseen-task split is tracked for one layer only
            same, other, unseen = logged(rs, "attn_same_blocks"), logged(rs, "attn_other_blocks"), None
        else:
            same, other, unseen = (logged(rs, k) for k in ("attn_same", "attn_other", "attn_other_unseen"))
        sums[m] = (same, other, unseen)
        arrays[f"attn_same_{m}"], arrays[f"attn_other_{m}"] = same, other
        if unseen is not None:
            arrays[f"attn_other_unseen_{m}"] = unseen
        for b in range(base.layers):
            end = (lambda a: np.nanmean(a[:, -1, b])) if deep else (lambda a: np.nanmean(a[:, -1]))
            what = f"{m}, layer {b + 1}: same / other, at the end" if deep else \
                f"{m}: same / other / other on unseen tasks, at the end"
            rows.append((what, f"{end(same):.3g} / {end(other):.3g}"
                               + ("" if unseen is None else f" / {end(unseen):.3g}")))
    write_run(out, "fig3", arrays, {"figure": "Fig. 3 (arXiv 2510.00399)", "config": base.to_dict(),
                                    "seeds": seeds, "status": [r.status for r in runs]})
    title = (f"Fig. 3 reproduction{f', {base.layers}-layer models' if deep else ''}, preset {base.preset} "
             f"(split {base.train_tasks}): attention concentration (Cor. 1) on test prompts with alpha={base.alpha}, "
             f"p_a={base.p_a}, eta={base.eta:g}, {len(seeds)} seeds")
    save_figure(plot_attention_history(steps, sums, title), out / "fig3.png", pdf=args.pdf)
    print(format_table(rows, "Cor. 1 attention sums (mean over seeds)"))
    print(f"written to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
