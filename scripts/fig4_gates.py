#!/usr/bin/env python
"""Reproduce Fig. 4 of arXiv 2510.00399: Mamba's gate values by position at alpha = 0.3, outliers marked.

    python scripts/fig4_gates.py --out docs/figures/fig4

Trains Mamba once, then on fresh test prompts with a fraction alpha of unseen outliers shows (left) the gates
G_i(w) of one prompt with outlier examples in red, and (right) the mean gate of the k-th closest clean example
against the Cor. 2 shape 2^-(k-1).  Writes fig4.npz, fig4.json, fig4.png to --out.
"""

from __future__ import annotations

import _bootstrap  # noqa: F401

import numpy as np

from mamba_dynamics.core.cli import Parser, add_output_arguments, format_table, output_dir
from mamba_dynamics.outliers.cli import add_arguments as add_config_arguments, config_from_args
from mamba_dynamics.outliers.data import sample_test
from mamba_dynamics.core.io import write_run
from mamba_dynamics.outliers.metrics import gate_profile
from mamba_dynamics.outliers.model import gates
from mamba_dynamics.core.plotting import save_figure
from mamba_dynamics.outliers.plotting import plot_gates
from mamba_dynamics.outliers.train import train


def main(argv=None) -> int:
    parser = Parser(prog="fig4_gates.py", description=__doc__.split("\n\n")[0])
    add_config_arguments(parser, skip=("model",))
    add_output_arguments(parser, "fig4")
    parser.add_argument("--n-eval", type=int, default=2000, help="test prompts for the mean profile")
    args = parser.parse_args(argv)
    if args.n_eval < 1:
        parser.error(f"--n-eval must be a positive integer, got {args.n_eval}")
    alpha = 0.3 if args.alpha is None else args.alpha
    cfg = config_from_args(parser, args, model="mamba", alpha=alpha)
    out = output_dir(parser, args, "fig4")
    run = train(cfg, show_progress=not args.quiet)
    batch = sample_test(cfg, run.extras["patterns"], np.random.default_rng([cfg.seed, 4]), n=args.n_eval)
    prof = gate_profile(run.params, batch, gated=True)
    G = gates(run.params.w, batch.P)
    n_out = batch.outlier.sum(1)
    typical = int(np.floor(cfg.alpha * cfg.l_ts + 0.5))  # a prompt with the expected outlier count, if any
    pick = int(np.argmax(n_out == typical)) if np.any(n_out == typical) else int(np.argmax(n_out))
    arrays = {"example_gates": G[pick], "example_outlier": batch.outlier[pick], **{k: np.asarray(v)
              for k, v in prof.items()}}
    write_run(out, "fig4", arrays, {"figure": "Fig. 4 (arXiv 2510.00399)", "config": cfg.to_dict(),
                                    "status": run.status, "wall_time_s": run.wall_time})
    title = (f"Fig. 4 reproduction: Mamba gates on test prompts with alpha={cfg.alpha} unseen outliers, preset {cfg.preset} "
             f"(kappa'_a={cfg.kappa_a_test:.3g}, {cfg.outlier_count} count), seed {cfg.seed}")
    save_figure(plot_gates(G[pick], batch.outlier[pick], prof["gate_by_rank"], prof["gate_rank_count"], title),
                out / "fig4.png", pdf=args.pdf)
    ratio = prof["gate_clean"] / max(prof["gate_outlier"], 1e-300)
    print(format_table([("mean gate, outlier examples", f"{prof['gate_outlier']:.3e}"),
                        ("mean gate, clean examples", f"{prof['gate_clean']:.3e}"),
                        ("clean / outlier", f"{ratio:.3g}")], "Cor. 2 gates"))
    print(f"written to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
