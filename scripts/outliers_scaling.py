#!/usr/bin/env python
"""The iteration laws of arXiv 2510.00399 measured: Thm 1 (Mamba), Thm 3 (linear Transformer), Remark 4, Cor. 2(i).

    python scripts/outliers_scaling.py --out docs/figures/outliers_scaling
    python scripts/outliers_scaling.py --quick --seeds 2 --quiet --out /tmp/os      # two values per law

Thm 1: T_M = Theta(eta^-1 (1 - p_a)^-1 beta^-2 M1) iterations bring Mamba's expected hinge loss over all tasks (eq.
10, prompts built like the training prompts) to eps; Thm 3: T_T = Theta(eta^-1 (1 - p_a)^-1 beta^-2 l_tr^-1 M1) for
the linear Transformer; Remark 4: T_M = Theta(l_tr) T_T; Cor. 2(i): at T_M the gate on outlier examples is
O(poly(M1)^-1).  One field is varied at a time around the study's setting
(:data:`mamba_dynamics.outliers.experiments.LAW_BASE`; every setting flag overrides it), each run stops when eq.
10's loss on a fixed set of 1024 prompts first reaches --eps (measured at every step up to 100, then every 1 %), and
the hitting times are fitted by power laws with 95 % intervals against the predicted exponents.  Writes scaling.npz
+ scaling.json (every hitting time, fits, predictions, verdicts, the configs) and scaling.png; each run is a cell
under <out>/cells (a rerun resumes).  Exit 2 on bad input.
"""

from __future__ import annotations

import _bootstrap  # noqa: F401

import numpy as np

from mamba_dynamics.core.cli import (Parser, add_output_arguments, add_repro_arguments, check_largest,
                                     check_repro_arguments, format_table, names_from, output_dir)
from mamba_dynamics.core.fits import fit_per_seed_grid, geometric_mean, verdict
from mamba_dynamics.core.io import write_run
from mamba_dynamics.core.plotting import plot_power_laws, save_figure
from mamba_dynamics.core.progress import progress_bar
from mamba_dynamics.outliers.cli import add_arguments as add_config_arguments, config_from_args
from mamba_dynamics.outliers.experiments import (LAW_BASE, LAW_GRIDS, LAW_GRIDS_QUICK, LAW_TARGET, iteration_laws,
                                                 law_configs)
from mamba_dynamics.outliers.plotting import MODEL_COLOR, MODEL_LABEL
from mamba_dynamics.outliers.theory import ITERATION_EXPONENTS, law_variable

MODELS = ("mamba", "lt")
XLABEL = {"p_a": r"$1 - p_a$ (clean fraction of training examples)", "beta": r"pattern norm $\beta$",
          "M1": r"relevant patterns $M_1$", "l_tr": r"training prompt length $l_{tr}$", "eta": r"SGD step $\eta$"}


def main(argv=None) -> int:
    parser = Parser(prog="outliers_scaling.py", description=__doc__.split("\n\n")[0])
    add_config_arguments(parser, skip=("model", "seed"))
    add_repro_arguments(parser, seeds=5, n_eval=False)
    parser.add_argument("--eps", type=float, default=LAW_TARGET,
                        help=f"target of eq. 10's expected hinge loss [default: {LAW_TARGET}]")
    parser.add_argument("--laws", default=",".join(LAW_GRIDS),
                        help=f"comma-separated fields to vary, of {', '.join(LAW_GRIDS)} [default: all]")
    parser.add_argument("--quick", action="store_true", help="two values per field")
    add_output_arguments(parser, "outliers-scaling")
    args = parser.parse_args(argv)
    check_repro_arguments(parser, args)
    if not 0 < args.eps < 1:
        parser.error(f"--eps must lie in (0, 1) (a hinge loss below the loss at zero output), got {args.eps}")
    laws = names_from(parser, args.laws, LAW_GRIDS, "law field")
    base = config_from_args(parser, args, **{k: v for k, v in LAW_BASE.items() if getattr(args, k, None) is None})
    grids = {f: (LAW_GRIDS_QUICK if args.quick else LAW_GRIDS)[f] for f in laws}
    seeds = tuple(range(args.seeds))
    try:  # every swept value must make a valid config (e.g. M1 + M2 + V <= d): one line, exit 2
        cfgs = [c for f, v in grids.items() for c in law_configs(base, f, v, MODELS, seeds[:1])]
    except ValueError as exc:
        parser.error(str(exc))
    check_largest(parser, args, cfgs, "the largest run of these laws")
    out = output_dir(parser, args, "outliers-scaling")
    n_runs = len({(f, v) for f, vs in grids.items() for v in vs}) * len(MODELS) * len(seeds)
    bar = progress_bar(n_runs, "runs", enabled=not args.quiet)
    try:
        res = iteration_laws(base, grids, args.eps, seeds, MODELS, args.jobs, bar, out)
    finally:
        bar.close()

    arrays, fits, panels, rows = {"seeds": np.asarray(seeds)}, {}, [], []
    ylabel = f"iterations to eq. 10 hinge loss <= {args.eps:g}"

    def record(name, x, T, predicted, claim):
        fit = fit_per_seed_grid(x, T)
        v = verdict(fit, predicted) if predicted is not None else (
            "decreasing" if fit["hi"] < 0 else "not shown decreasing" if fit["hi"] == fit["hi"] else "no fit")
        fits[name] = {"claim": claim, "fitted": fit["slope"], "ci95": [fit["lo"], fit["hi"]], "points": fit["n"],
                      "predicted": predicted, "verdict": v, "not_reached": fit["not_reached"],
                      "geometric_mean": [float(g) for g in geometric_mean(T)]}
        pred = "any < 0" if predicted is None else f"{predicted:+g}"
        rows.append((name, f"fitted {fit['slope']:+.2f} [{fit['lo']:+.2f}, {fit['hi']:+.2f}]  predicted {pred}  "
                           f"-> {v}" + (f"  ({fit['not_reached']} not reached)" if fit["not_reached"] else "")))

    for field, values in grids.items():
        x = np.array([law_variable(field, v) for v in values])
        arrays[f"{field}_values"], arrays[f"{field}_x"] = np.asarray(values, float), x
        for m in MODELS:
            arrays[f"{field}_T_{m}"] = res["T"][field][m]
            arrays[f"{field}_gate_outlier_{m}"] = res["gate_outlier"][field][m]
            arrays[f"{field}_gate_clean_{m}"] = res["gate_clean"][field][m]
            thm = "Thm 1 eq. 9" if m == "mamba" else "Thm 3 eq. 14"
            record(f"{m}: T vs {'1 - p_a' if field == 'p_a' else field}", x, res["T"][field][m],
                   ITERATION_EXPONENTS[m][field], thm)
        panels.append({"title": f"vs {'1 - p_a' if field == 'p_a' else field} (Thm 1 / Thm 3)", "xlabel": XLABEL[field],
                       "curves": {m: (x, res["T"][field][m]) for m in MODELS},
                       "predicted": {m: ITERATION_EXPONENTS[m][field] for m in MODELS}})
    if "l_tr" in grids:
        x = arrays["l_tr_x"]
        ratio = res["T"]["l_tr"]["mamba"] / res["T"]["l_tr"]["lt"]  # paired by seed
        arrays["remark4_ratio"] = ratio
        slope = ITERATION_EXPONENTS["mamba"]["l_tr"] - ITERATION_EXPONENTS["lt"]["l_tr"]
        record("Remark 4: T_M / T_T vs l_tr", x, ratio, slope, "Remark 4")
        panels.append({"title": "Remark 4: T_M / T_T vs l_tr (paired by seed)", "xlabel": XLABEL["l_tr"],
                       "ylabel": "T_M / T_T", "curves": {"ratio": (x, ratio)}, "predicted": {"ratio": slope}})
    if "M1" in grids:
        x = arrays["M1_x"]
        g = res["gate_outlier"]["M1"]["mamba"]
        record("Cor. 2(i): Mamba's outlier gate at T_M vs M1", x, g, None, "Cor. 2(i) eq. 17")
        panels.append({"title": "Cor. 2(i): Mamba's mean gate on outlier examples at T_M\n"
                                "(predicted O(poly(M1)^-1), degree not given: no line)",
                       "xlabel": XLABEL["M1"], "ylabel": "mean gate G_i on outlier test examples",
                       "curves": {"mamba": (x, g)}, "predicted": {"mamba": None}})
    labels = {**MODEL_LABEL, "ratio": "T_M / T_T"}
    title = (f"Iteration laws of arXiv 2510.00399 (Thm 1 eq. 9, Thm 3 eq. 14), one quantity varied at a time around "
             f"p_a={base.p_a:g}, beta={base.beta:g}, M1={base.M1}, l_tr={base.l_tr}, eta={base.eta:g}; delta={base.delta:g}, "
             f"tasks {base.train_tasks}, batch {base.batch}, {len(seeds)} seeds")
    save_figure(plot_power_laws(panels, {**MODEL_COLOR, "ratio": "tab:purple"}, labels, ylabel, title),
                out / "scaling.png", pdf=args.pdf)
    write_run(out, "scaling", arrays, {
        "claims": "Thm 1 eq. 9, Thm 3 eq. 14, Remark 4, Cor. 2(i) of arXiv 2510.00399", "eps": args.eps,
        "seeds": list(seeds), "quick": args.quick, "grids": {f: list(v) for f, v in grids.items()},
        "base": base.to_dict(), "fits": fits, "status": res["status"],
        "predicted_exponents": ITERATION_EXPONENTS})
    print(format_table(rows, f"iteration laws (eq. 10 hinge loss <= {args.eps:g}; {len(seeds)} seeds; 95% intervals)"))
    print(f"written: {out / 'scaling.png'}, {out / 'scaling.npz'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
