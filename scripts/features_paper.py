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
``sensitivity``: final error and alignments over eta x W^(0) scale, both regimes;
``fixed_sigma``: gating removed at each fixed gate sigma = 0.1 .. 0.9 (not only w = 0), pairs (1, 4), (2, 5), (3, 6),
next to the learned gate and the derived optimum sigma*;
``trajectory``: the learned gate over 4x longer runs against sigma*, with each block's first step size;
``paper_protocol``: local concentration at d = 32, m = 50 (``--preset paper``) at (1, 4) and (3, 6), every model,
``--seeds`` trials each, reported as the paper does (success = test hinge loss < 1e-3, means over successes) and
over every trial.
Writes one PNG per figure plus ``<study>.npz`` + ``<study>.json`` (curves and final values per run); every run is a
cell under ``<out>/cells`` and a rerun resumes.  Exit 2 on bad input.
"""

from __future__ import annotations

import _bootstrap  # noqa: F401

import numpy as np

from mamba_dynamics.core.cli import (Parser, add_output_arguments, add_repro_arguments, check_largest,
                                     check_repro_arguments, format_table, names_from, output_dir)
from mamba_dynamics.core.io import write_run
from mamba_dynamics.core.plotting import save_figure
from mamba_dynamics.core.progress import progress_bar
from mamba_dynamics.features.config import FeaturesConfig
from mamba_dynamics.features.experiments import (STUDIES, block_steps, protocol_summary, run_study, study_configs,
                                                 study_finals, study_seeds, study_setting, study_size)
from mamba_dynamics.features.plotting import study_figures


def main(argv=None) -> int:
    parser = Parser(prog="features_paper.py", description=__doc__.split("\n\n")[0])
    add_repro_arguments(parser, seeds=3, n_eval=False)
    parser.add_argument("--study", default=",".join(STUDIES),
                        help=f"comma-separated studies among {', '.join(STUDIES)} [default: all]")
    parser.add_argument("--quick", action="store_true", help="reduced sizes (fewer steps, d = 32 only)")
    add_output_arguments(parser, "features-paper")
    args = parser.parse_args(argv)
    check_repro_arguments(parser, args)
    names = names_from(parser, args.study, STUDIES, "study")
    check_largest(parser, args, [c for n in names for c in study_configs(n, args.quick)],
                  "the largest run of these studies")
    out = output_dir(parser, args, "features-paper")
    seeds = {n: study_seeds(n, args.seeds) for n in names}
    bar = progress_bar(sum(study_size(n, seeds[n], args.quick) for n in names), "runs", enabled=not args.quiet)
    rows, written = [], []
    try:
        results = {n: run_study(n, seeds[n], out, args.jobs, bar, args.quick) for n in names}
    finally:
        bar.close()
    for name, runs in results.items():
        finals, setting = study_finals(runs), study_setting(runs)
        arrays = {f"{r['label']}/seed{r['seed']}/{k}": v for r in runs for k, v in r.items()
                  if isinstance(v, np.ndarray) and v.ndim >= 1}
        extra = {}
        if name == "trajectory":  # each block's first step, at the start of every run of the study
            extra["block_steps"] = {label: block_steps(FeaturesConfig(**{k: v for k, v in r["config"].items()
                                                                          if k != "seed"}))
                                    for label, r in {r["label"]: r for r in runs}.items()}
        if name == "paper_protocol":  # the paper's reporting: success rate, means over successes only
            extra["protocol"] = protocol_summary(runs)
            for label, v in extra["protocol"].items():
                rows.append((f"{name}: {label}", f"success {v['successes']}/{v['trials']}   test err, all trials "
                                                 f"{v['test_err_all']:.3f}   over successes "
                                                 f"{v['test_err_successes']:.3f}"))
        write_run(out, name, arrays, {"study": name, "seeds": seeds[name], "quick": args.quick, "final": finals,
                                      "setting": setting, **extra})
        for stem, fig in study_figures(name, runs, setting, finals).items():
            save_figure(fig, out / f"{stem}.png", pdf=args.pdf)
            written.append(f"{stem}.png")
        for label, v in finals.items():
            rows.append((f"{name}: {label}", f"test err {v['test_err']['mean']:.3f} +- {v['test_err']['std']:.3f}   "
                                             f"cos(o_+) {v['cos_pos']['mean']:+.2f}  cos(o_-) {v['cos_neg']['mean']:+.2f}  "
                                             f"cos(irr) {v['cos_irr']['mean']:+.2f}  lucky {v['lucky_frac']['mean']:.2f}"))
    print(format_table(rows, "final values, mean +- std over seeds"))
    print(f"written: {', '.join(written)} in {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
