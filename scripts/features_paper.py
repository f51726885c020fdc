#!/usr/bin/env python
"""The feature-filtering paper's further experiments on its own model (Eqs. 5-6): Figs. 5, 6, 11-12, 13-18, and the
sensitivity of the conclusions to the step size and W^(0) scale the paper does not give.

    python scripts/features_paper.py --out docs/figures/features_paper
    python scripts/features_paper.py --study gating,models --seeds 2 --quiet --out /tmp/fp
    python scripts/features_paper.py --quick --seeds 1 --quiet --out /tmp/fp      # reduced sizes, minutes

Studies (:data:`mamba_dynamics.features.experiments.STUDIES`):
``gating`` (Figs. 11-12 and, from the same runs, Fig. 5): the gate learned vs fixed at w_Delta = 0, both regimes;
``models`` (Fig. 6): local concentration, selective SSM vs global vs windowed linear attention with the same head;
``gaps``: local concentration at (Delta L+, Delta L-) = (1, 4), (2, 5), (3, 6), gate learned vs fixed;
``dims`` (Figs. 13-18): majority voting at d = 32, 64, 128 and alpha_c = 0, 0.1, 0.2;
``sensitivity``: final error and alignments over eta x W^(0) scale, both regimes.
Writes one PNG per figure plus ``<study>.npz`` + ``<study>.json`` (curves and final values per run); every run is a
cell under ``<out>/cells`` and a rerun resumes.  Exit 2 on bad input.
"""

from __future__ import annotations

import _bootstrap  # noqa: F401

import numpy as np

from mamba_dynamics.core.cli import (Parser, add_output_arguments, add_repro_arguments, check_repro_arguments,
                                     format_table, output_dir)
from mamba_dynamics.core.io import write_run
from mamba_dynamics.core.plotting import save_figure
from mamba_dynamics.core.progress import progress_bar
from mamba_dynamics.features import plotting
from mamba_dynamics.features.config import FeaturesConfig
from mamba_dynamics.features.experiments import STUDIES, run_study, study_size

FINAL = ("test_err", "train_err", "cos_pos", "cos_neg", "cos_irr", "w_pos", "w_neg", "w_irr", "gate_rel", "gate_irr",
         "mlp_pos", "mlp_neg", "mlp_pos_max", "mlp_neg_max", "lucky_frac")


def _setting(runs: list) -> str:
    """One line per regime in ``runs``: the shared sizes and the regime's step size and steps."""
    lines = []
    for regime in dict.fromkeys(r["config"]["regime"] for r in runs):
        kw = next(r["config"] for r in runs if r["config"]["regime"] == regime)
        cfg = FeaturesConfig(**{k: v for k, v in kw.items() if k not in ("seed", "eta", "wbc0", "model", "window",
                                                                            "gate", "d", "alpha_c", "gap_near",
                                                                            "gap_far")})
        vary = sorted({k for r in runs if r["config"]["regime"] == regime for k, v in r["config"].items()
                       if k != "seed" and v != kw.get(k)} | {k for k in ("model", "gate", "window") if k in kw})
        fixed = (f"alpha_r={cfg.alpha_r}" if regime == "majority" else
                 f"Delta L+={kw.get('gap_near', cfg.gap_near)}, Delta L-={kw.get('gap_far', cfg.gap_far)}")
        lines.append(f"{regime}: d={kw.get('d', cfg.d)}, L={cfg.L}, {fixed}, tau={cfg.tau}, m={cfg.m}, "
                     f"N={cfg.n_train}, W^(0)={kw.get('wbc0', 1.0):g} I frozen, eta={kw.get('eta', cfg.eta):g}, "
                     f"{cfg.steps} steps" + (f"; varied: {', '.join(vary)}" if vary else ""))
    return "\n".join(lines)


def _finals(runs: list) -> dict:
    """Mean and std over seeds of the final values, per label."""
    out = {}
    for label in dict.fromkeys(r["label"] for r in runs):
        sel = [r for r in runs if r["label"] == label]
        out[label] = {k: {"mean": float(np.mean([r[k][-1] for r in sel])), "std": float(np.std([r[k][-1] for r in sel])),
                          "min_over_training": float(np.mean([np.min(r[k]) for r in sel])) if k == "test_err" else None}
                      for k in FINAL}
        out[label]["seeds"] = len(sel)
        out[label]["config"] = {k: v for k, v in sel[0]["config"].items() if k != "seed"}
    return out


def main(argv=None) -> int:
    parser = Parser(prog="features_paper.py", description=__doc__.split("\n\n")[0])
    add_repro_arguments(parser, seeds=3, n_eval=False)
    parser.add_argument("--study", default=",".join(STUDIES),
                        help=f"comma-separated studies among {', '.join(STUDIES)} [default: all]")
    parser.add_argument("--quick", action="store_true", help="reduced sizes (fewer steps, d = 32 only)")
    add_output_arguments(parser, "features-paper")
    args = parser.parse_args(argv)
    check_repro_arguments(parser, args)
    names = [n.strip() for n in args.study.split(",") if n.strip()]
    unknown = sorted(set(names) - set(STUDIES))
    if unknown or not names:
        parser.error(f"unknown study {', '.join(unknown) or repr(args.study)}; choose from {', '.join(STUDIES)}")
    out = output_dir(parser, args, "features-paper")
    seeds = {n: (1 if n == "sensitivity" else (min(args.seeds, 2) if n in ("dims", "gaps") else args.seeds))
             for n in names}
    bar = progress_bar(sum(study_size(n, seeds[n], args.quick) for n in names), "runs", enabled=not args.quiet)
    rows, written = [], []
    try:
        results = {n: run_study(n, seeds[n], out, args.jobs, bar, args.quick) for n in names}
    finally:
        bar.close()
    for name, runs in results.items():
        finals = _finals(runs)
        setting = _setting(runs)
        arrays = {f"{r['label']}/seed{r['seed']}/{k}": v for r in runs for k, v in r.items()
                  if isinstance(v, np.ndarray) and v.ndim >= 1}
        write_run(out, name, arrays, {"study": name, "seeds": seeds[name], "quick": args.quick, "final": finals,
                                      "setting": setting})
        figs = {"gating": [("gating_removed", plotting.plot_gating_removed), ("fig5_wo_alignment",
                                                                               plotting.plot_wo_alignment)],
                "models": [("fig6_locality_models", plotting.plot_locality_models)],
                "gaps": [("locality_gaps", plotting.plot_gaps)],
                "dims": [("dims_alpha_c", plotting.plot_dims)]}.get(name, [])
        for fname, fn in figs:
            save_figure(fn(runs, setting), out / f"{fname}.png", pdf=args.pdf)
            written.append(f"{fname}.png")
        if name == "sensitivity":
            sens = [dict(regime=v["config"]["regime"], eta=v["config"]["eta"], wbc0=v["config"]["wbc0"],
                         **{k: v[k]["mean"] for k in ("test_err", "cos_pos", "cos_neg", "cos_irr")})
                    for v in finals.values()]
            save_figure(plotting.plot_sensitivity(sens), out / "sensitivity.png", pdf=args.pdf)
            written.append("sensitivity.png")
        for label, v in finals.items():
            rows.append((f"{name}: {label}", f"test err {v['test_err']['mean']:.3f} +- {v['test_err']['std']:.3f}   "
                                             f"cos(o_+) {v['cos_pos']['mean']:+.2f}  cos(o_-) {v['cos_neg']['mean']:+.2f}  "
                                             f"cos(irr) {v['cos_irr']['mean']:+.2f}  lucky {v['lucky_frac']['mean']:.2f}"))
    print(format_table(rows, "final values, mean +- std over seeds"))
    print(f"written: {', '.join(written)} in {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
