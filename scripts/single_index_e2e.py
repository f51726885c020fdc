#!/usr/bin/env python
"""The paper's experiment (arXiv 2510.12026, spec section 6): in-context risk vs N at r = 8, d in {16, 32}, for
one-layer Mamba, linear-attention and softmax-attention networks trained end to end, the Algorithm-1 Mamba
readout, and kernel ridge regression on x and on x_I.

    python scripts/single_index_e2e.py --out docs/figures/single_index_e2e
    python scripts/single_index_e2e.py --links h2 --dims 16 --seeds 1 --steps 1000 --test-N 16,64,256 --out /tmp/e2e

For every link, d and seed: trains the three networks (defaults of
:class:`mamba_dynamics.single_index.config.NetworkConfig`; flags override them), runs Algorithm 1 at its own
defaults (N_pt = 256) with the same task (same seed, same index set I), and fits KRR on each test prompt.  All
predictors of a seed are scored on prompts from the same seeded test stream.  Cells are saved as they finish under
``<out>/cells``; a rerun resumes.  Writes ``e2e.npz`` + ``e2e.json``, ``risk_vs_N.png`` (the comparison, mean +-
std over seeds) and ``training.png`` (the tracked quantities during training); prints the table.  Exit 2 on bad
input, 1 if a training run diverged.
"""

from __future__ import annotations

import _bootstrap  # noqa: F401


from mamba_dynamics.core.cli import (Parser, add_output_arguments, add_repro_arguments, check_largest,
                                     check_repro_arguments, fail, format_table, output_dir, positive_int_list,
                                     raw_values)
from mamba_dynamics.core.config import ConfigError
from mamba_dynamics.core.io import write_run
from mamba_dynamics.core.plotting import save_figure
from mamba_dynamics.core.progress import progress_bar
from mamba_dynamics.single_index.cli import add_network_arguments
from mamba_dynamics.single_index.config import NetworkConfig, SingleIndexConfig
from mamba_dynamics.single_index.experiments import e2e_cells, e2e_summary, run_cells
from mamba_dynamics.single_index.plotting import plot_e2e_comparison, plot_e2e_training


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
        runs = [base.replace(link=link, d=d) for link in args.links for d in args.dims]
    except ConfigError as exc:
        parser.error(str(exc))
    check_largest(parser, args, runs, "the largest run of this study")
    out = output_dir(parser, args, "single-index-e2e")
    Ns = tuple(args.test_N)
    cells = e2e_cells(base, args.links, args.dims, args.seeds, Ns, args.krr_prompts)
    bar = progress_bar(len(cells), "cells", enabled=not args.quiet)
    try:
        results = run_cells(list(cells.values()), out, args.jobs, bar)
    except (FloatingPointError, RuntimeError) as exc:
        fail(f"single_index_e2e.py: {exc}; finished cells are kept in {out / 'cells'}", 1)
    finally:
        bar.close()

    summary = e2e_summary(results, cells, args.links, args.dims, args.seeds, Ns)
    setting = (f"r={base.r}, tau={base.tau}, {base.tokens} tokens, m_s={base.state}, m={base.width}, "
               f"{base.optimizer} lr={base.lr:g}, {base.steps} steps x {base.batch} prompts x {base.queries} queries, "
               f"N in [{base.N_min}, {base.N_max}]")
    title = (f"In-context risk vs N (arXiv 2510.12026): end-to-end networks vs Algorithm 1 vs KRR; {setting}\n"
             f"mean +- std over {args.seeds} seeds ({base.n_test} test prompts x {base.test_queries} queries; "
             f"KRR {args.krr_prompts} prompts)")
    save_figure(plot_e2e_comparison(summary["panels"], base.tau, (base.N_min, base.N_max), title),
                out / "risk_vs_N.png", pdf=args.pdf)
    save_figure(plot_e2e_training(summary["histories"], f"Training of the end-to-end networks: {setting}; "
                                                        f"mean +- std over {args.seeds} seeds"),
                out / "training.png", pdf=args.pdf)
    write_run(out, "e2e", summary["arrays"],
              {"config": base.to_dict(), "links": args.links, "dims": args.dims, "test_N": list(Ns),
               "seeds": args.seeds, "krr_prompts": args.krr_prompts, "algorithm1": SingleIndexConfig().to_dict(),
               "mean_risk": summary["means"], "training_wall_time_s": summary["walls"]})
    print(format_table(summary["table"], "ICL risk (mean +- std over seeds) at N = " + ", ".join(map(str, Ns))))
    print(f"written: {out / 'risk_vs_N.png'}, {out / 'training.png'}, {out / 'e2e.npz'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
