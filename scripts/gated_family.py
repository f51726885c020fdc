#!/usr/bin/env python
"""The gated-mixer family of arXiv 2510.00399 App. E.6 on the outlier task: Mamba, Mamba-2, gated retention,
RetNet and GLA beside the linear and softmax Transformers, at one layer.

    python scripts/gated_family.py --out docs/figures/gated_family
    python scripts/gated_family.py --models mamba,gret --gate-tau 1 --out /tmp/gret_tau1   # a controlled run

Every mixer of --models is trained once per seed at Fig. 2's setting (the flags; default preset ``tuned``, the
one under which Fig. 2 reproduces) and once at Table 1's (p_a = 0.4, alpha = 0.5).  Reported, paper vs ours:
Fig. 2 (test error vs alpha, three label rules, random placement), Table 1's placements (R / FQ / CQ, flipped
labels), and Cor. 2's two statements measured for each gate (the gate on outlier vs clean examples; the clean
gate by rank).  Writes gated_family.npz, gated_family.json and gated_family.png to --out; each training run is
stored under <out>/cells as it finishes (a rerun resumes).
"""

from __future__ import annotations

import _bootstrap  # noqa: F401

import numpy as np

from mamba_dynamics.core.cli import (Parser, add_output_arguments, add_repro_arguments, check_repro_arguments,
                                     format_table, fraction_list, output_dir, name_list)
from mamba_dynamics.core.io import write_run
from mamba_dynamics.core.plotting import save_figure
from mamba_dynamics.outliers.cli import add_arguments as add_config_arguments, config_from_args
from mamba_dynamics.outliers.config import LABEL_RULES, MODELS
from mamba_dynamics.outliers.experiments import MIXERS, gate_family, gate_settings
from mamba_dynamics.outliers.plotting import plot_gate_family


def main(argv=None) -> int:
    parser = Parser(prog="gated_family.py", description=__doc__.split("\n\n")[0])
    add_config_arguments(parser, skip=("model", "alpha", "label_rule", "layers", "gate_tau", "decay"))
    add_output_arguments(parser, "gated_family")
    add_repro_arguments(parser, seeds=3)
    parser.add_argument("--alphas", type=fraction_list, default=fraction_list("0:0.9:0.1"), help="alpha grid")
    parser.add_argument("--rules", default=",".join(LABEL_RULES), help="label rules, comma-separated")
    parser.add_argument("--models", default=",".join(MIXERS), help="mixers, comma-separated [default: all]")
    # (dests apart from the config's fields: each applies to the mixers that read it, not to the base config)
    parser.add_argument("--gate-tau", dest="family_tau", type=float, default=16.0,
                        help="gate exponent tau of gret and gla")
    parser.add_argument("--decay", dest="family_decay", type=float, default=1.0 - 2.0 ** -5,
                        help="fixed decay gamma of retnet")
    args = parser.parse_args(argv)
    check_repro_arguments(parser, args)
    models = name_list(parser, args.models, MODELS, "--models", "model")
    rules = name_list(parser, args.rules, None, "--rules", "label rule")  # each checked by the config below
    defaults = {"preset": "tuned"} if args.preset is None else {}
    for r in rules:
        config_from_args(parser, args, label_rule=r, **defaults)
    base = config_from_args(parser, args, **defaults)
    for m in models:  # every mixer's config once, with the config's one-line message
        config_from_args(parser, args, model=m, **defaults, **gate_settings(m, args.family_tau, args.family_decay))
    out = output_dir(parser, args, "gated_family")
    seeds = list(range(base.seed, base.seed + args.seeds))
    res = gate_family(base, args.alphas, rules, seeds, args.n_eval, args.jobs, tuple(models),
                      not args.quiet, out, gate_tau=args.family_tau, decay=args.family_decay)
    arrays = {"alphas": np.asarray(args.alphas), "seeds": np.asarray(seeds)}
    for m in models:
        for r in rules:
            arrays[f"err_{m}_{r}"] = res["errors"][m][r]
        arrays[f"placement_acc_{m}"] = res["placements"][m]
        for k, v in res["gates"][m].items():
            arrays[f"gate_{k}_{m}"] = v
    write_run(out, "gated_family", arrays, {
        "figure": "the gated-mixer family of App. E.6 (arXiv 2510.00399): Fig. 2, Table 1's placements and Cor. 2, "
                  "one layer", "config": base.to_dict(), "placement_config": res["placement_config"].to_dict(),
        "models": models, "seeds": seeds, "rules": rules, "n_eval": args.n_eval, "gate_tau": args.family_tau,
        "decay": args.family_decay, "placements": ["R", "FQ", "CQ"],
        "wall_time_s": sum(r.wall_time for r in res["runs"]),
        "status": {f"{r.config.model} seed {r.config.seed} p_a {r.config.p_a}": r.status for r in res["runs"]}})
    save_figure(plot_gate_family(args.alphas, res, rules, base, seeds, args.family_tau, args.family_decay),
                out / "gated_family.png", pdf=args.pdf)
    rows = []
    for m in models:
        for r in rules:
            rows.append((f"{m:<7} {r:<8}", " ".join(f"{v:.3f}" for v in np.nanmean(res["errors"][m][r], 0))))
    print(format_table(rows, "mean test error at alpha = " + " ".join(f"{a:.2f}" for a in args.alphas)))
    rows = []
    for m in models:
        acc, g = res["placements"][m], res["gates"][m]
        ratio = g["outlier"] / g["clean"]
        rows.append((f"{m:<7}", "  ".join(f"{100 * v:5.1f}" for v in np.nanmean(acc, 0))
                     + f"    {np.nanmean(ratio):.3g} ({np.nanmin(ratio):.3g}..{np.nanmax(ratio):.3g})"))
    print(format_table(rows, "accuracy % at R / FQ / CQ (Table 1's setting)   gate outlier / clean (Cor. 2(i))"))
    print(f"written to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
