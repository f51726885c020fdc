#!/usr/bin/env python
"""Reproduce Fig. 4 of arXiv 2510.00399: Mamba's gate values by position at alpha = 0.3, outliers marked.

    python scripts/fig4_gates.py --out docs/figures/fig4
    python scripts/fig4_gates.py --layers 3 --p-a 0.4 --out docs/figures/fig4_3layer   # as the paper ran it

Trains Mamba once, then on fresh test prompts with a fraction alpha of unseen outliers shows (left) the gates
G_i(w) of one prompt with outlier examples in red, and (right) the mean gate of the k-th closest clean example
against the Cor. 2 shape 2^-(k-1).  With --layers > 1 (the paper's Fig. 4 is a 3-layer model at p_a = 0.4) each
block's gates on its own input stream get a row, the first block (the paper's panel) on top.  Writes fig4.npz, fig4.json, fig4.png to --out.
"""

from __future__ import annotations

import _bootstrap  # noqa: F401

import sys

import numpy as np

from mamba_dynamics.core.cli import Parser, add_output_arguments, format_table, output_dir
from mamba_dynamics.outliers.cli import add_arguments as add_config_arguments, config_from_args
from mamba_dynamics.outliers.data import sample_test, sample_train
from mamba_dynamics.core.io import write_run
from mamba_dynamics.outliers.metrics import block_gate_profiles, block_gates, gate_profile
from mamba_dynamics.outliers.model import gates
from mamba_dynamics.outliers.models import REGISTRY
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
    if run.status != "completed":
        print(f"error: {run.message}; nothing to draw (try a smaller --eta)", file=sys.stderr)
        return 1
    if cfg.layers > 1:  # every block's gates on its own input stream, the first block first
        G = np.stack(block_gates(run.params, batch.P, cfg.gate, cfg.norm))  # (L, n, l)
        profs = block_gate_profiles(run.params, batch, cfg.gate, cfg.norm)
    else:
        G, profs = gates(run.params.w, batch.P)[None], [gate_profile(run.params, batch, gated=True)]
    n_out = batch.outlier.sum(1)
    typical = int(np.floor(cfg.alpha * cfg.l_ts + 0.5))  # a prompt with the expected outlier count, if any
    pick = int(np.argmax(n_out == typical)) if np.any(n_out == typical) else int(np.argmax(n_out))
    stacked = {k: np.stack([np.asarray(p[k]) for p in profs]) for k in profs[0]}  # (L, ...) per quantity
    if cfg.layers > 1:  # where the gate learned: each block's move from its start, and its gradient at the start
        stacked["w_moved"] = np.linalg.norm(run.params.w - run.params_init.w, axis=1)
        probe = sample_train(cfg, run.extras["patterns"], np.random.default_rng([cfg.seed, 5]), 4096)
        grads = REGISTRY.build(cfg).loss_and_grad(run.params_init, probe).grads
        stacked["grad_w_init"] = np.linalg.norm(grads["w"], axis=1)
    arrays = {"example_gates": G[:, pick], "example_outlier": batch.outlier[pick], **stacked}
    if cfg.layers == 1:  # the one-layer files keep their shapes
        arrays = {k: v[0] if k != "example_outlier" else v for k, v in arrays.items()}
    write_run(out, "fig4", arrays, {"figure": "Fig. 4 (arXiv 2510.00399)", "config": cfg.to_dict(),
                                    "status": run.status, "wall_time_s": run.wall_time})
    depth = f"{cfg.layers}-layer " if cfg.layers > 1 else ""
    title = (f"Fig. 4 reproduction: {depth}Mamba gates on test prompts with alpha={cfg.alpha} unseen outliers, "
             f"preset {cfg.preset} (kappa'_a={cfg.kappa_a_test:.3g}, {cfg.outlier_count} count), p_a={cfg.p_a}, "
             f"seed {cfg.seed}")
    save_figure(plot_gates(G[:, pick], batch.outlier[pick], stacked["gate_by_rank"], stacked["gate_rank_count"],
                           title), out / "fig4.png", pdf=args.pdf)
    rows = []
    for b, prof in enumerate(profs):
        where = f"layer {b + 1}: " if cfg.layers > 1 else ""
        ratio = prof["gate_clean"] / max(prof["gate_outlier"], 1e-300)
        rows += [(f"{where}mean gate, outlier examples", f"{prof['gate_outlier']:.3e}"),
                 (f"{where}mean gate, clean examples", f"{prof['gate_clean']:.3e}"),
                 (f"{where}clean / outlier", f"{ratio:.3g}")]
    if cfg.layers > 1:
        fmt = lambda a: " / ".join(f"{v:.3g}" for v in a)  # noqa: E731
        rows += [("per layer: ||w_k - w_k(0)|| at the end", fmt(stacked["w_moved"])),
                 ("per layer: ||grad of w_k|| at the start (4096 prompts)", fmt(stacked["grad_w_init"]))]
    print(format_table(rows, "Cor. 2 gates"))
    print(f"written to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
