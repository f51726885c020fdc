#!/usr/bin/env python
"""Table 3 of arXiv 2602.12499 (a 5-block Mamba on feature-filtering data: cos(W_O, relevant) about 0.73,
cos(w_Delta, relevant) about 0.53, irrelevant about 0) reproduced with the deep stack, over dimensions and
training lengths the paper leaves open.

    python scripts/features_table3.py --out docs/figures/table3

Every (d, steps, seed) trains a ``--layers``-block selective-SSM stack (Eq. 5 mixers, residuals, RMSNorm; the
Eq. 6 head) on majority-voting data by full-batch GD and reports, at the end: the test error; cos(W_O, relevant) =
mean over the rows of W_O of the cosine with the relevant plane span(o_+, o_-); per block, cos(w_k, relevant plane)
and the mean cosine with the irrelevant patterns.  Writes table3.npz, table3.json, table3.png; runs are stored under
<out>/cells (a rerun resumes).
"""

from __future__ import annotations

import _bootstrap  # noqa: F401

import numpy as np

from mamba_dynamics.core.cli import (Parser, add_output_arguments, add_repro_arguments, check_repro_arguments,
                                     format_table, output_dir, positive_int_list)
from mamba_dynamics.core.io import write_run
from mamba_dynamics.core.plotting import save_figure
from mamba_dynamics.core.progress import progress_bar
from mamba_dynamics.features.cli import add_arguments as add_config_arguments, config_from_args
from mamba_dynamics.features.experiments import PAPER_TABLE3, table3
from mamba_dynamics.features.plotting import plot_table3


def main(argv=None) -> int:
    parser = Parser(prog="features_table3.py", description=__doc__.split("\n\n")[0])
    add_config_arguments(parser, skip=("model", "d", "steps", "seed"))
    add_output_arguments(parser, "table3")
    add_repro_arguments(parser, seeds=3, n_eval=False)
    parser.add_argument("--dims", type=positive_int_list, default=[10, 32], help="token dimensions d (comma-separated)")
    parser.add_argument("--steps-list", type=positive_int_list, default=[200, 600], help="GD steps (comma-separated)")
    args = parser.parse_args(argv)
    check_repro_arguments(parser, args)
    dims, steps = args.dims, args.steps_list
    layers = 5 if args.layers is None else args.layers
    base = config_from_args(parser, args, layers=layers)
    for d in dims:  # a one-line error for a bad d; each run's memory and work checked at the longest --steps-list
        config_from_args(parser, args, layers=layers, d=d, steps=max(steps))
    out = output_dir(parser, args, "table3")
    seeds = list(range(args.seeds))
    bar = progress_bar(len(dims) * len(steps) * len(seeds), "training runs", enabled=not args.quiet)
    try:
        res = table3(base, dims, steps, seeds, out, args.jobs, bar)
    finally:
        bar.close()
    arrays, rows = {"dims": np.asarray(dims), "steps": np.asarray(steps), "seeds": np.asarray(seeds)}, []
    for (d, T), cells in sorted(res.items()):
        for k in ("test_err", "mlp_rel", "cos_rel_blocks", "cos_irr_blocks"):
            arrays[f"{k}_d{d}_T{T}"] = np.stack([c[k] for c in cells])
        err = np.array([float(c["test_err"]) for c in cells])
        mlp = np.array([float(c["mlp_rel"]) for c in cells])
        rel = np.stack([c["cos_rel_blocks"] for c in cells])
        irr = np.stack([c["cos_irr_blocks"] for c in cells])
        rows.append((f"d={d:<3} T={T:<5}", f"{err.mean():.3f}  {mlp.mean():.2f} +- {mlp.std():.2f}   "
                                            f"{rel.mean():.2f} +- {rel.mean(1).std():.2f}   "
                                            f"{irr.mean():+.3f} +- {irr.mean(1).std():.3f}   "
                     + " ".join(f"{v:.2f}" for v in rel.mean(0))))
    rows.append(("paper", f"  -    {PAPER_TABLE3['W_O_rel']:.2f}          {PAPER_TABLE3['w_rel']:.2f}          "
                          f"~0"))
    write_run(out, "table3", arrays, {"figure": "Table 3 of arXiv 2602.12499 (5-block Mamba)",
                                      "config": base.to_dict(), "seeds": seeds, "paper": PAPER_TABLE3})
    title = (f"Table 3: {base.layers}-block Mamba, {base.regime}, L={base.L}, eta={base.eta}, "
             f"{len(seeds)} seeds")
    save_figure(plot_table3(res, title), out / "table3.png", pdf=args.pdf)
    print(format_table(rows, "test err  cos(W_O,rel)   cos(w,rel) mean   cos(w,irr) mean   cos(w_k,rel) by block"))
    print(f"written to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
