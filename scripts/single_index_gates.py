#!/usr/bin/env python
"""Gate ablation over links (arXiv 2510.12026): Mamba's gate sigma(y/rho + b) vs linear attention (G = 1/N).

    python scripts/single_index_gates.py --out docs/figures/single_index_gates
    python scripts/single_index_gates.py --links h2,h4 --test-N 1024,16384 --seeds 1 --out /tmp/gates

For each link, pretrains both readouts at every test N (``N_pt = N``) and scores them in context on the same
seeded prompts.  Defaults: d = 16, r = 8, rho = 32, Stage I "ideal" (gamma* = 1 on the relevant features: Algorithm
1's single step would need T1 ~ d^(ie+2) prompts for ie > 2; see docs/single_index.md), N up to 65536.  The gate
gives the context statistic a degree-2 component for every link; linear attention's vanishes when ie > 2.  Cells
are saved under ``<out>/cells`` and a rerun resumes.  Writes ``gates.npz`` + ``.json`` and ``gates.png``.
Exit 2 on bad input.
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
from mamba_dynamics.single_index.hermite import generative_exponent, information_exponent, parse_link
from mamba_dynamics.single_index.plotting import plot_gate_ablation, setting_text

DEFAULTS = dict(rho=32.0, stage1="ideal", T2=1000, n_test=300)


def main(argv=None) -> int:
    parser = Parser(prog="single_index_gates.py", description=__doc__.split("\n\n")[0])
    add_arguments(parser, skip=("link", "n_test"))
    parser.add_argument("--links", default="h2,h3,h4", help="comma-separated links")
    parser.add_argument("--test-N", type=positive_int_list, default=[1024, 4096, 16384, 65536],
                        help="context lengths N (pretraining uses the same N)")
    parser.add_argument("--n-test", type=int, default=DEFAULTS["n_test"], help="test prompts per N")
    add_repro_arguments(parser, seeds=2, n_eval=False)
    add_output_arguments(parser, "single-index-gates")
    parser.set_defaults(rho=DEFAULTS["rho"], stage1=DEFAULTS["stage1"], T2=DEFAULTS["T2"])
    args = parser.parse_args(argv)
    check_repro_arguments(parser, args)
    links = [s.strip() for s in args.links.split(",") if s.strip()]
    if not links:
        parser.error("--links must name at least one link")
    if args.n_test < 1:
        parser.error("--n-test must be a positive integer")
    base = {link: config_from_args(parser, args, link=link, n_test=args.n_test) for link in links}
    out = output_dir(parser, args, "single-index-gates")
    Ns = tuple(args.test_N)

    cells = {(link, key, s): Cell("model", cfg.replace(gate=gate, seed=s), Ns, match_context=True)
             for link, cfg in base.items() for s in range(args.seeds)
             for key, gate in (("mamba", "mamba"), ("la", "constant"))}
    bar = progress_bar(len(cells), "cells", enabled=not args.quiet)
    results = run_cells(list(cells.values()), out, args.jobs, bar)
    bar.close()

    arrays, panels, exps, table, means = {"N": np.array(Ns)}, {}, {}, [], {}
    for link in links:
        c = parse_link(link)
        exps[link] = (information_exponent(c), generative_exponent(c))
        panels[link] = {}
        for key in ("mamba", "la"):
            runs = [results[cells[(link, key, s)].key] for s in range(args.seeds)]
            for name in ("risk", "n_eff", "cos_quad", "cos_linear"):
                arrays[f"{link}_{key}_{name}"] = np.stack([r[name] for r in runs])
            vals = arrays[f"{link}_{key}_risk"]
            panels[link][key] = {"N": np.array(Ns), **{name: arrays[f"{link}_{key}_{name}"]
                                                       for name in ("risk", "cos_quad", "cos_linear")}}
            means[f"{link}/{key}"] = [round(float(v), 4) for v in vals.mean(0)]
            cos = "   |cos(Q, beta)| " + "  ".join(f"{v:.2f}" for v in arrays[f"{link}_{key}_cos_quad"].mean(0))
            if exps[link][1] == 1:  # a linear part: how well the context's linear direction u finds beta
                cos += "   cos(u, beta) " + "  ".join(f"{v:.2f}" for v in arrays[f"{link}_{key}_cos_linear"].mean(0))
            table.append((f"{link:<6} {key:<6}", "  ".join(f"{v:.3f}" for v in vals.mean(0)) + cos))
    cfg0 = next(iter(base.values()))
    title = (f"Gate ablation (arXiv 2510.12026): d={cfg0.d}, {setting_text(cfg0).split(', ', 1)[1]}, N_pt = N\n"
             f"mean +- std over {args.seeds} seeds ({args.n_test} test prompts x {cfg0.queries} queries per N)")
    save_figure(plot_gate_ablation(panels, cfg0.tau, exps, title), out / "gates.png", pdf=args.pdf)
    write_run(out, "gates", arrays, {"configs": {k: c.to_dict() for k, c in base.items()}, "test_N": list(Ns),
                                     "seeds": args.seeds, "exponents": exps, "mean_risk": means})
    print(format_table(table, "mean ICL risk at N = " + ", ".join(map(str, Ns))))
    print(f"written: {out / 'gates.png'}, {out / 'gates.npz'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
