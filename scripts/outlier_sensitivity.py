#!/usr/bin/env python
"""Fig. 2 of arXiv 2510.00399 under the choices the paper leaves open: kappa'_a / kappa_a, the training-task split,
and how test outliers are counted.

    python scripts/outlier_sensitivity.py --out docs/figures/outlier_sensitivity

Trains Mamba and the linear Transformer for every split (matching, ring, random) and seed at the paper's setting
(p_a = 0.6), then evaluates flipped-label error vs alpha for kappa'_a / kappa_a in {1, 1.5, 2, 3.33} (3.33 = 1/L,
today's default) with exactly round(alpha l_ts) outliers per prompt and with each example an outlier with
probability alpha (the paper's Def. 2).  Every (count, ratio) is scored on the same seeded prompts.  Training runs are
stored under <out>/cells (a rerun resumes).  Writes sensitivity.npz + .json and sensitivity.png.  Exit 2 on bad input.
"""

from __future__ import annotations

import _bootstrap  # noqa: F401

import numpy as np

from mamba_dynamics.core.cli import (Parser, add_output_arguments, add_repro_arguments, check_repro_arguments,
                                     float_list, format_table, fraction_list, output_dir)
from mamba_dynamics.core.io import write_run
from mamba_dynamics.core.plotting import save_figure
from mamba_dynamics.outliers.cli import add_arguments as add_config_arguments, config_from_args
from mamba_dynamics.outliers.config import OUTLIER_COUNTS, TRAIN_TASKS
from mamba_dynamics.outliers.experiments import sensitivity
from mamba_dynamics.outliers.plotting import plot_sensitivity


def main(argv=None) -> int:
    parser = Parser(prog="outlier_sensitivity.py", description=__doc__.split("\n\n")[0])
    add_config_arguments(parser, skip=("model", "alpha", "kappa_a_test", "train_tasks", "outlier_count", "label_rule",
                                       "placement"))
    add_output_arguments(parser, "outlier-sensitivity")
    add_repro_arguments(parser, seeds=3)
    parser.add_argument("--alphas", type=fraction_list, default=fraction_list("0:0.9:0.1"), help="alpha grid")
    parser.add_argument("--ratios", type=float_list, default=[1.0, 1.5, 2.0, 10 / 3],
                        help="kappa'_a / kappa_a values (each >= 1)")
    parser.add_argument("--splits", default="matching,ring,random", help="training-task splits, comma-separated")
    args = parser.parse_args(argv)
    check_repro_arguments(parser, args)
    splits = [s.strip() for s in args.splits.split(",") if s.strip()]
    bad = [s for s in splits if s not in TRAIN_TASKS]
    if not splits or bad:
        parser.error(f"--splits takes {', '.join(TRAIN_TASKS)}; got {args.splits!r}")
    if not args.ratios or any(not (1 <= r < 1e6) for r in args.ratios):
        parser.error(f"--ratios must be numbers >= 1 (test outliers at least as large as training ones), got {args.ratios}")
    base = config_from_args(parser, args)
    for r in args.ratios:
        config_from_args(parser, args, kappa_a_test=r * base.kappa_a)  # validates each magnitude
    out = output_dir(parser, args, "outlier-sensitivity")
    seeds = list(range(base.seed, base.seed + args.seeds))

    res = sensitivity(base, args.alphas, args.ratios, splits, OUTLIER_COUNTS, seeds, args.n_eval, args.jobs,
                      show_progress=not args.quiet, out=out)
    arrays = {"alphas": np.asarray(args.alphas), "ratios": np.asarray(args.ratios), "seeds": np.asarray(seeds)}
    rows, means = [], {}
    show = [a for a in (0.0, 0.4, 0.5, 0.7) if a in args.alphas]
    for (split, model), e in res["errors"].items():
        arrays[f"err_{split}_{model}"] = e
        for ic, count in enumerate(OUTLIER_COUNTS):
            for ir, ratio in enumerate(args.ratios):
                m = e[:, ic, ir].mean(0)
                means[f"{split}/{model}/{count}/{ratio:.3g}"] = [round(float(v), 4) for v in m]
                rows.append((f"{split:<8} {model:<5} {count:<11} {ratio:>4.3g}",
                             "  ".join(f"{m[args.alphas.index(a)]:.3f}" for a in show)))
    write_run(out, "sensitivity", arrays, {"config": base.to_dict(), "splits": splits, "counts": list(OUTLIER_COUNTS),
                                           "ratios": args.ratios, "seeds": seeds, "n_eval": args.n_eval,
                                           "mean_error": means, "status": [r.status for r in res["runs"]]})
    title = (f"Fig. 2 sensitivity: d={base.d}, M1={base.M1}, p_a={base.p_a}, l_tr={base.l_tr}, l_ts={base.l_ts}, "
             f"kappa_a={base.kappa_a}, K'={base.K_test}, {base.steps} SGD steps, mean of {len(seeds)} seeds")
    save_figure(plot_sensitivity(args.alphas, res["errors"], splits, OUTLIER_COUNTS, args.ratios, base.p_a,
                                 base.l_tr, base.l_ts, title), out / "sensitivity.png", pdf=args.pdf)
    print(format_table(rows, "mean flipped-label error (split, model, count, kappa'_a/kappa_a) at alpha = "
                       + ", ".join(f"{a:g}" for a in show)))
    print(f"written to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
