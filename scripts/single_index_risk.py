#!/usr/bin/env python
"""In-context risk vs N for d in {16, 32}, r = 8: Mamba, linear attention, KRR(x), KRR(x_I) (arXiv 2510.12026).

    python scripts/single_index_risk.py --out docs/figures/single_index_risk
    python scripts/single_index_risk.py --link h4 --stage1 ideal --rho 32 --match-context --test-N 1024,4096,16384

Pretrains the gated Mamba readout and its linear-attention ablation with Algorithm 1 (defaults of
:class:`mamba_dynamics.single_index.config.SingleIndexConfig`; flags override them) for each ``d`` and seed, scores
them in context over ``--test-N``, and fits kernel ridge regression on each test prompt (N <= --krr-max-N).  Cells
are saved as they finish under ``<out>/cells`` and a rerun resumes.  Writes ``risk_vs_N.npz`` + ``.json`` and
``risk_vs_N.png``; prints the risks.  Exit 2 on bad input.
"""

from __future__ import annotations

import _bootstrap  # noqa: F401

import numpy as np

from mamba_dynamics.core.cli import (Parser, add_output_arguments, add_repro_arguments, check_repro_arguments,
                                     format_table, output_dir, positive_int_list)
from mamba_dynamics.core.io import write_run
from mamba_dynamics.core.plotting import save_figure
from mamba_dynamics.core.progress import progress_bar
from mamba_dynamics.single_index.cli import add_arguments, config_from_args
from mamba_dynamics.single_index.experiments import Cell, run_cells
from mamba_dynamics.single_index.plotting import plot_risk_vs_N, setting_text

PREDICTORS = ("mamba", "la", "krr_x", "krr_x_I")


def main(argv=None) -> int:
    parser = Parser(prog="single_index_risk.py", description=__doc__.split("\n\n")[0])
    add_arguments(parser, skip=("d", "n_test"))
    parser.add_argument("--dims", type=positive_int_list, default=[16, 32], help="ambient dimensions d")
    parser.add_argument("--test-N", type=positive_int_list, default=[64, 256, 1024, 4096],
                        help="context lengths N at test")
    parser.add_argument("--n-test", type=int, default=300, help="test prompts per N (models)")
    parser.add_argument("--match-context", action="store_true", help="pretrain at every test N (N_pt = N)")
    parser.add_argument("--krr-prompts", type=int, default=40, help="test prompts per N for KRR (O(N^3) each)")
    parser.add_argument("--krr-max-N", type=int, default=1024, help="largest N at which KRR is run")
    add_repro_arguments(parser, seeds=2, n_eval=False)
    add_output_arguments(parser, "single-index-risk")
    args = parser.parse_args(argv)
    check_repro_arguments(parser, args)
    if args.n_test < 1 or args.krr_prompts < 1 or args.krr_max_N < 1:
        parser.error("--n-test, --krr-prompts and --krr-max-N must be positive integers")
    base = {d: config_from_args(parser, args, d=d, n_test=args.n_test) for d in args.dims}
    out = output_dir(parser, args, "single-index-risk")
    Ns = tuple(args.test_N)

    cells = {}
    for d, cfg in base.items():
        for s in range(args.seeds):
            for key, gate in (("mamba", "mamba"), ("la", "constant")):
                cells[(d, key, s)] = Cell("model", cfg.replace(gate=gate, seed=s), Ns, args.match_context)
            for inputs in ("x", "x_I"):
                cells[(d, f"krr_{inputs}", s)] = Cell("krr", cfg.replace(seed=s), Ns, krr_inputs=inputs,
                                                      krr_prompts=args.krr_prompts, krr_max_N=args.krr_max_N)
    bar = progress_bar(len(cells), "cells", enabled=not args.quiet)
    results = run_cells(list(cells.values()), out, args.jobs, bar)
    bar.close()

    arrays, panels, table, finals = {"N": np.array(Ns)}, {}, [], {}
    for d in args.dims:
        panels[d] = {}
        for key in PREDICTORS:
            vals = np.stack([results[cells[(d, key, s)].key]["risk"] for s in range(args.seeds)])
            arrays[f"d{d}_{key}_risk"] = vals
            panels[d][key] = (np.array(Ns), vals)
            finals[f"d={d}/{key}"] = [None if not np.isfinite(v) else round(float(v), 4) for v in vals.mean(0)]
            table.append((f"d={d:<3} {key:<8}", "  ".join("  -  " if not np.isfinite(v) else f"{v:.3f}"
                                                          for v in vals.mean(0))))
        for key in ("mamba", "la"):
            for extra in ("n_eff", "cos_quad", "share_relevant"):
                arrays[f"d{d}_{key}_{extra}"] = np.stack([results[cells[(d, key, s)].key][extra]
                                                         for s in range(args.seeds)])
    cfg0 = next(iter(base.values()))
    mode = "N_pt = N" if args.match_context else f"N_pt = {cfg0.N_pt}"
    title = (f"In-context risk vs N (arXiv 2510.12026): {setting_text(cfg0)}, {mode}\nmean +- std over "
             f"{args.seeds} seeds ({args.n_test} test prompts x {cfg0.queries} queries; KRR {args.krr_prompts} prompts)")
    save_figure(plot_risk_vs_N(panels, cfg0.tau, title), out / "risk_vs_N.png", pdf=args.pdf)
    write_run(out, "risk_vs_N", arrays, {"configs": {d: c.to_dict() for d, c in base.items()}, "test_N": list(Ns),
                                         "seeds": args.seeds, "match_context": args.match_context,
                                         "krr_prompts": args.krr_prompts, "krr_max_N": args.krr_max_N,
                                         "mean_risk": finals})
    print(format_table(table, "mean ICL risk at N = " + ", ".join(map(str, Ns))))
    print(f"written: {out / 'risk_vs_N.png'}, {out / 'risk_vs_N.npz'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
