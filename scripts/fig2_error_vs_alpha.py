#!/usr/bin/env python
"""Reproduce Fig. 2 of arXiv 2510.00399: test error vs test outlier fraction alpha, Mamba vs the linear and the
softmax Transformer, three label rules.

    python scripts/fig2_error_vs_alpha.py --out docs/figures/fig2
    python scripts/fig2_error_vs_alpha.py --models st --layers 3 --p-a 0.4 --preset tuned --rules flip \
        --out docs/figures/softmax_table4          # App. B.1's Table 4: the 3-layer softmax Transformer vs alpha

Trains each model of --models (default Mamba, LT and the softmax Transformer) for each seed at the paper's setting
(p_a = 0.6 by default), evaluates each on fresh test prompts for every alpha and label rule, and plots mean +- std
over seeds with the theorems' thresholds alpha = min(1, p_a l_tr / l_ts) (Mamba, Thm 2) and alpha = 1/2 (LT,
Thm 4), and for 3-layer softmax Transformers App. B.1's claim (error <= 0.01 for alpha <= 0.7).
Writes fig2.npz, fig2.json, fig2.png to --out; each training run is stored under <out>/cells as it finishes, so a
rerun after an interruption resumes.
"""

from __future__ import annotations

import _bootstrap  # noqa: F401

import numpy as np

from mamba_dynamics.core.cli import (Parser, add_output_arguments, add_repro_arguments, check_repro_arguments,
                                     format_table, fraction_list, output_dir, name_list)
from mamba_dynamics.outliers.cli import add_arguments as add_config_arguments, config_from_args
from mamba_dynamics.outliers.config import LABEL_RULES, MODELS
from mamba_dynamics.outliers.experiments import error_vs_alpha
from mamba_dynamics.core.io import write_run
from mamba_dynamics.core.plotting import save_figure
from mamba_dynamics.outliers.plotting import plot_error_vs_alpha


def main(argv=None) -> int:
    parser = Parser(prog="fig2_error_vs_alpha.py", description=__doc__.split("\n\n")[0])
    add_config_arguments(parser, skip=("model", "alpha", "label_rule"))
    add_output_arguments(parser, "fig2")
    add_repro_arguments(parser)
    parser.add_argument("--alphas", type=fraction_list, default=fraction_list("0:0.9:0.1"), help="alpha grid")
    parser.add_argument("--rules", default=",".join(LABEL_RULES), help="label rules, comma-separated")
    parser.add_argument("--models", default="mamba,lt,st",
                        help=f"models, comma-separated, among {', '.join(MODELS)} [default: the paper's three]")
    args = parser.parse_args(argv)
    check_repro_arguments(parser, args)
    models = name_list(parser, args.models, MODELS, "--models", "model")
    rules = name_list(parser, args.rules, None, "--rules", "label rule")  # each checked by the config below
    for r in rules:
        config_from_args(parser, args, label_rule=r)  # validates each rule with the config's message
    base = config_from_args(parser, args)
    out = output_dir(parser, args, "fig2")
    seeds = list(range(base.seed, base.seed + args.seeds))

    for m in models:  # every model's config once (e.g. heads must divide m), with the config's one-line message
        config_from_args(parser, args, model=m)
    res = error_vs_alpha(base, args.alphas, rules, seeds, args.n_eval, args.jobs, models=tuple(models),
                         show_progress=not args.quiet, out=out)
    errors = res["errors"]
    arrays = {"alphas": np.asarray(args.alphas), "seeds": np.asarray(seeds)}
    for m in errors:
        for r in rules:
            arrays[f"err_{m}_{r}"] = errors[m][r]
    sidecar = {"figure": "Fig. 2 (arXiv 2510.00399)", "config": base.to_dict(), "models": models, "seeds": seeds,
               "rules": rules,
               "n_eval": args.n_eval, "wall_time_s": sum(r.wall_time for r in res["runs"]),
               "status": [r.status for r in res["runs"]]}
    write_run(out, "fig2", arrays, sidecar)
    title = (f"Fig. 2 reproduction, preset {base.preset}{f', {base.layers} layers' if base.layers > 1 else ''}: "
             f"d={base.d}, M1={base.M1}, p_a={base.p_a}, l_tr={base.l_tr}, "
             f"l_ts={base.l_ts}, kappa'_a={base.kappa_a_test:.3g}, K'={base.K_test:g}, split {base.train_tasks}, "
             f"{base.outlier_count} outlier count, {base.steps} SGD steps, {len(seeds)} seeds")
    save_figure(plot_error_vs_alpha(args.alphas, errors, rules, base.p_a, base.l_tr, base.l_ts, title,
                                    base.outlier_count, base.layers), out / "fig2.png", pdf=args.pdf)
    rows = []
    for m in errors:
        for r in rules:
            mean = errors[m][r].mean(0)
            rows.append((f"{m:<5} {r:<8}", " ".join(f"{v:.3f}" for v in mean)))
    print(format_table(rows, "mean test error at alpha = " + " ".join(f"{a:.2f}" for a in args.alphas)))
    print(f"written to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
