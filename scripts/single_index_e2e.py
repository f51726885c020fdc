#!/usr/bin/env python
"""The paper's experiment (arXiv 2510.12026, spec section 6): in-context risk vs N at r = 8, d in {16, 32}, for a
one-layer Mamba and a linear-attention network trained end to end, the Algorithm-1 Mamba readout, and kernel ridge
regression on x and on x_I.

    python scripts/single_index_e2e.py --out docs/figures/single_index_e2e
    python scripts/single_index_e2e.py --links h2 --dims 16 --seeds 1 --steps 1000 --test-N 16,64,256 --out /tmp/e2e

For every link, d and seed: trains both networks (defaults of
:class:`mamba_dynamics.single_index.config.NetworkConfig`; flags override them), runs Algorithm 1 at its own
defaults (N_pt = 256) with the same task (same seed, same index set I), and fits KRR on each test prompt.  All
predictors of a seed are scored on prompts from the same seeded test stream.  Cells are saved as they finish under
``<out>/cells``; a rerun resumes.  Writes ``e2e.npz`` + ``e2e.json``, ``risk_vs_N.png`` (the comparison, mean +-
std over seeds) and ``training.png`` (the tracked quantities during training); prints the table.  Exit 2 on bad
input, 1 if a training run diverged.
"""

from __future__ import annotations

import _bootstrap  # noqa: F401

import numpy as np

from mamba_dynamics.core.cli import (Parser, add_output_arguments, add_repro_arguments, check_repro_arguments,
                                     fail, format_table, output_dir, positive_int_list, raw_values)
from mamba_dynamics.core.config import ConfigError
from mamba_dynamics.core.io import write_run
from mamba_dynamics.core.plotting import save_figure
from mamba_dynamics.core.progress import progress_bar
from mamba_dynamics.single_index.cli import add_network_arguments
from mamba_dynamics.single_index.config import NetworkConfig, SingleIndexConfig
from mamba_dynamics.single_index.experiments import Cell, run_cells
from mamba_dynamics.single_index.plotting import plot_e2e_comparison, plot_e2e_training

PREDICTORS = ("mamba_e2e", "la_e2e", "mamba_alg1", "krr_x", "krr_x_I")
TRACKED = ("eval_risk", "share_relevant", "cos_quad", "cos_linear", "n_eff", "w_label", "gate_bias")


def build_cells(args, base: NetworkConfig, Ns: tuple) -> dict:
    """Every cell by ``(link, d, predictor, seed)``."""
    cells = {}
    for link in args.links:
        for d in args.dims:
            for s in range(args.seeds):
                net = base.replace(link=link, d=d, seed=s)
                for key, gate in (("mamba_e2e", "mamba"), ("la_e2e", "constant")):
                    cells[(link, d, key, s)] = Cell("network", net.replace(gate=gate), Ns)
                alg1 = SingleIndexConfig(d=d, r=base.r, link=link, tau=base.tau, seed=s, n_test=base.n_test,
                                         queries=base.test_queries)
                cells[(link, d, "mamba_alg1", s)] = Cell("model", alg1, Ns)
                for inputs in ("x", "x_I"):
                    cells[(link, d, f"krr_{inputs}", s)] = Cell("krr", alg1, Ns, krr_inputs=inputs,
                                                               krr_prompts=args.krr_prompts, krr_max_N=max(Ns))
    return cells


def main(argv=None) -> int:
    parser = Parser(prog="single_index_e2e.py", description=__doc__.split("\n\n")[0])
    add_network_arguments(parser, skip=("d", "link", "seed"))
    parser.add_argument("--links", type=lambda t: [str(v) for v in raw_values(t)], default=["h2", "h4"],
                        help="links g_* (comma-separated)")
    parser.add_argument("--dims", type=positive_int_list, default=[16, 32], help="ambient dimensions d")
    parser.add_argument("--test-N", type=positive_int_list, default=[16, 32, 64, 128, 256, 512],
                        help="context lengths N at test")
    parser.add_argument("--krr-prompts", type=int, default=40, help="test prompts per N for KRR (O(N^3) each)")
    add_repro_arguments(parser, seeds=3, n_eval=False)
    add_output_arguments(parser, "single-index-e2e")
    args = parser.parse_args(argv)
    check_repro_arguments(parser, args)
    if args.krr_prompts < 1:
        parser.error("--krr-prompts must be a positive integer")
    for flag, values in (("--links", args.links), ("--dims", args.dims), ("--test-N", args.test_N)):
        if not values:
            parser.error(f"{flag} needs at least one value")
    fields = {k: v for k, v in vars(args).items() if k in NetworkConfig.__dataclass_fields__ and v is not None}
    try:
        base = NetworkConfig(**fields)
        for link in args.links:
            for d in args.dims:
                base.replace(link=link, d=d)
    except ConfigError as exc:
        parser.error(str(exc))
    out = output_dir(parser, args, "single-index-e2e")
    Ns = tuple(args.test_N)
    cells = build_cells(args, base, Ns)
    bar = progress_bar(len(cells), "cells", enabled=not args.quiet)
    try:
        results = run_cells(list(cells.values()), out, args.jobs, bar)
    except (FloatingPointError, RuntimeError) as exc:
        fail(f"single_index_e2e.py: {exc}; finished cells are kept in {out / 'cells'}", 1)
    finally:
        bar.close()

    res = lambda link, d, key, s: results[cells[(link, d, key, s)].key]  # noqa: E731
    arrays, panels, histories, table, means, walls = {"N": np.array(Ns)}, {}, {}, [], {}, {}
    for link in args.links:
        for d in args.dims:
            panels[(link, d)], histories[(link, d)] = {}, {}
            for key in PREDICTORS:
                vals = np.stack([res(link, d, key, s)["risk"] for s in range(args.seeds)])
                arrays[f"{link}_d{d}_{key}_risk"] = vals
                panels[(link, d)][key] = (np.array(Ns), vals)
                mean, std = vals.mean(0), vals.std(0)
                means[f"{link}/d={d}/{key}"] = [round(float(v), 4) for v in mean]
                table.append((f"{link} d={d:<3} {key:<10}",
                              "  ".join(f"{m:.3f}+-{e:.3f}" for m, e in zip(mean, std))))
            for key in ("mamba_e2e", "la_e2e"):
                h = {q: np.stack([res(link, d, key, s)[f"hist_{q}"] for s in range(args.seeds)]) for q in TRACKED}
                h["step"] = res(link, d, key, 0)["hist_step"]
                histories[(link, d)][key] = h
                for q, v in h.items():
                    arrays[f"{link}_d{d}_{key}_hist_{q}"] = v
                for q in ("cos_quad", "n_eff"):
                    arrays[f"{link}_d{d}_{key}_test_{q}"] = np.stack([res(link, d, key, s)[q]
                                                                      for s in range(args.seeds)])
                walls[f"{link}/d={d}/{key}"] = [round(float(res(link, d, key, s)["wall_time"]), 2)
                                                for s in range(args.seeds)]
    setting = (f"r={base.r}, tau={base.tau}, {base.tokens} tokens, m_s={base.state}, m={base.width}, "
               f"{base.optimizer} lr={base.lr:g}, {base.steps} steps x {base.batch} prompts x {base.queries} queries, "
               f"N in [{base.N_min}, {base.N_max}]")
    title = (f"In-context risk vs N (arXiv 2510.12026): end-to-end networks vs Algorithm 1 vs KRR; {setting}\n"
             f"mean +- std over {args.seeds} seeds ({base.n_test} test prompts x {base.test_queries} queries; "
             f"KRR {args.krr_prompts} prompts)")
    save_figure(plot_e2e_comparison(panels, base.tau, (base.N_min, base.N_max), title), out / "risk_vs_N.png",
                pdf=args.pdf)
    save_figure(plot_e2e_training(histories, f"Training of the end-to-end networks: {setting}; mean +- std over "
                                             f"{args.seeds} seeds"), out / "training.png", pdf=args.pdf)
    write_run(out, "e2e", arrays, {"config": base.to_dict(), "links": args.links, "dims": args.dims,
                                   "test_N": list(Ns), "seeds": args.seeds, "krr_prompts": args.krr_prompts,
                                   "algorithm1": SingleIndexConfig().to_dict(), "mean_risk": means,
                                   "training_wall_time_s": walls})
    print(format_table(table, "ICL risk (mean +- std over seeds) at N = " + ", ".join(map(str, Ns))))
    print(f"written: {out / 'risk_vs_N.png'}, {out / 'training.png'}, {out / 'e2e.npz'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
