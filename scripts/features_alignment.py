#!/usr/bin/env python
"""Gating alignment in both regimes (paper Figs. 2 and 4) and the SSM vs linear-attention comparison.

    python scripts/features_alignment.py --out docs/figures/features_alignment
    python scripts/features_alignment.py --seeds 2 --quiet --out /tmp/fa

Trains the selective SSM + MLP and the linear attention + MLP on majority-voting and local-concentration data
(defaults of :class:`mamba_dynamics.features.config.FeaturesConfig` per regime), ``--seeds`` seeds each, in
parallel.  Writes ``alignment.npz`` + ``alignment.json`` (curves, per-seed final values, measured claims) and
``alignment.png``; prints the final cosines and test errors.  Exit 2 on bad input.
"""

from __future__ import annotations

import _bootstrap  # noqa: F401

import numpy as np

from mamba_dynamics.core.cli import (Parser, add_output_arguments, add_repro_arguments, check_largest,
                                     check_repro_arguments,
                                format_table, output_dir)
from mamba_dynamics.core.io import write_run
from mamba_dynamics.features.config import MODELS, REGIMES, FeaturesConfig
from mamba_dynamics.features.experiments import alignment_runs


def main(argv=None) -> int:
    parser = Parser(prog="features_alignment.py", description=__doc__.split("\n\n")[0])
    add_repro_arguments(parser, seeds=3, n_eval=False)
    add_output_arguments(parser, "features-alignment")
    args = parser.parse_args(argv)
    check_repro_arguments(parser, args)
    check_largest(parser, args, [FeaturesConfig(regime=r, model=m) for r in REGIMES for m in MODELS],
                  "the largest run of this study")
    out = output_dir(parser, args, "features-alignment")
    runs = alignment_runs(args.seeds, args.jobs, not args.quiet)

    arrays, curves, errors, settings, claims, rows = {}, {}, {}, {}, {}, []
    for regime in REGIMES:
        cfg = FeaturesConfig(regime=regime)
        settings[regime] = (f"Eqs. 5-6 model; d={cfg.d}, L={cfg.L}, N={cfg.n_train}, eta={cfg.eta}, " +
                            (f"alpha_r={cfg.alpha_r}, alpha_c={cfg.alpha_c}" if regime == "majority" else
                             f"Delta L+={cfg.gap_near}, Delta L-={cfg.gap_far}"))
        errors[regime] = {}
        for model in MODELS:
            sel = [r for r in runs if r["regime"] == regime and r["model"] == model]
            step = sel[0]["history"]["step"]
            stack = {k: np.stack([r["history"][k] for r in sel]) for k in sel[0]["history"] if k != "step"}
            for k, v in stack.items():
                arrays[f"{regime}_{model}_{k}"] = v
            arrays[f"{regime}_{model}_step"] = step
            errors[regime][model] = (step, stack["test_err"])
            if model == "ssm":
                curves[regime] = {"step": step, **{k: stack[k] for k in ("cos_pos", "cos_neg", "cos_irr",
                                                                           "cos_irr_min")}}
            fin = {k: float(np.mean(v[:, -1])) for k, v in stack.items()}
            claims[f"{regime}/{model}"] = fin
            rows.append((f"{regime:>8} {model:<6}",
                         f"test err {fin['test_err']:.3f}   cos(o_+) {fin['cos_pos']:+.3f}   cos(o_-) "
                         f"{fin['cos_neg']:+.3f}   cos(irr) {fin['cos_irr']:+.3f}   <.,o_j> irr {fin['w_irr']:+.3f}"))
    from mamba_dynamics.core.plotting import save_figure
    from mamba_dynamics.features.plotting import plot_alignment

    save_figure(plot_alignment(curves, errors, settings), out / "alignment.png", pdf=args.pdf)
    write_run(out, "alignment", arrays, {"seeds": args.seeds, "settings": settings, "final_means": claims,
                                         "status": [r["status"] for r in runs]})
    print(format_table(rows, f"final values, mean over {args.seeds} seeds"))
    print(f"written: {out / 'alignment.png'}, {out / 'alignment.npz'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
