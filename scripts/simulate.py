#!/usr/bin/env python
"""Simulate one-layer Mamba or the linear Transformer learning in context with outliers (arXiv 2510.00399).

    python scripts/simulate.py --model mamba --outlier-frac 0.4
    python scripts/simulate.py --model lt --outlier-frac 0.7 --label-rule random --out runs/lt07

Trains with SGD (Algorithm 1), tracks the quantities of Theorems 1-4 and Corollaries 1-2, prints a summary and
writes ``results.npz`` + ``results.json`` and ``tracked.png`` to ``--out``.  Exit status: 0 done, 1 diverged or
interrupted (what was computed is still written), 2 bad input.
"""

from __future__ import annotations

import _bootstrap  # noqa: F401

from mamba_dynamics import theory
from mamba_dynamics.cli import (Parser, add_config_arguments, add_output_arguments, config_from_args, fail,
                                format_table, output_dir)
from mamba_dynamics.io import write_run
from mamba_dynamics.training import train


def main(argv=None) -> int:
    parser = Parser(prog="simulate.py", description=__doc__.split("\n\n")[0])
    add_config_arguments(parser)
    add_output_arguments(parser, "<model>")
    parser.add_argument("--no-plot", action="store_true", help="skip the figure")
    args = parser.parse_args(argv)
    cfg = config_from_args(parser, args)
    out = output_dir(args, f"{cfg.model}")

    result = train(cfg, show_progress=not args.quiet)
    th = {
        "alpha_max": theory.alpha_max(cfg.model, cfg.p_a, cfg.l_tr, cfg.l_ts),
        "covered_by_theorem": theory.covered(cfg.model, cfg.alpha, cfg.p_a, cfg.l_tr, cfg.l_ts, cfg.M1),
        "iterations_scale": (theory.iterations_mamba(cfg.eta, cfg.p_a, cfg.beta, cfg.M1) if cfg.gated else
                             theory.iterations_lt(cfg.eta, cfg.p_a, cfg.beta, cfg.M1, cfg.l_tr)),
    }
    sidecar = {"config": cfg.to_dict(), "seed": cfg.seed, "status": result.status, "message": result.message,
               "steps_done": result.steps_done, "wall_time_s": result.wall_time, "summary": result.summary(),
               "theory": th}
    write_run(out, "results", result.arrays(), sidecar)
    if not args.no_plot and len(result.history["step"]) > 0:
        from mamba_dynamics.plotting import plot_run, save_figure

        save_figure(plot_run(result), out / "tracked.png", pdf=args.pdf)

    h = result.history
    rows = [("model", cfg.model), ("status", result.status), ("steps done", str(result.steps_done)),
            ("wall time", f"{result.wall_time:.1f} s"),
            ("final train hinge loss", f"{h['train_loss'][-1]:.4g}"),
            ("test error, clean (alpha=0)", f"{h['test_err_clean'][-1]:.4f}"),
            (f"test error, alpha={cfg.alpha} ({cfg.label_rule}, {cfg.placement})", f"{h['test_err'][-1]:.4f}"),
            ("attention sum, same pattern (Cor. 1)", f"{h['attn_same'][-1]:.4g}"),
            ("attention sum, other examples (Cor. 1)", f"{h['attn_other'][-1]:.4g}"),
            ("mean gate, outlier examples (Cor. 2)", f"{h['gate_outlier'][-1]:.3e}"),
            ("mean gate, clean examples (Cor. 2)", f"{h['gate_clean'][-1]:.3e}"),
            ("||W_B||, ||W_C||, ||w||", f"{h['norm_W_B'][-1]:.3f}, {h['norm_W_C'][-1]:.3f}, {h['norm_w'][-1]:.3f}"),
            ("theory: largest alpha covered", f"{th['alpha_max']:.3g} (Thm {2 if cfg.gated else 4})"),
            ("theory: this alpha covered", str(th["covered_by_theorem"])),
            ("output", str(out))]
    print(format_table(rows, f"mamba_dynamics simulate: {cfg.model}, seed {cfg.seed}"))
    if result.status != "completed":
        fail(f"simulate.py: {result.message}; results so far written to {out}", 1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
