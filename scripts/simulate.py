#!/usr/bin/env python
"""Simulate one model of the package: outlier-robust ICL (arXiv 2510.00399), feature filtering (2602.12499) or
in-context single-index learning (2510.12026).

    python scripts/simulate.py --model mamba --outlier-frac 0.4
    python scripts/simulate.py --model lt --outlier-frac 0.7 --label-rule random --out runs/lt07
    python scripts/simulate.py --model ssm --regime majority
    python scripts/simulate.py --model lt-mlp --regime locality --eta 20
    python scripts/simulate.py --model mamba-single-index --d 16 --r 8 --link h2
    python scripts/simulate.py --model mamba-single-index --link h4 --stage1 ideal --rho 32 --match-context \
        --test-N 1024,4096,16384,65536

Models: ``mamba`` / ``lt`` (one-layer Mamba / linear Transformer on ICL prompts with outliers; flags below) and
``ssm`` / ``lt-mlp`` (selective SSM / linear attention + two-layer MLP on majority-voting or local-concentration
sequences; ``--model ssm --help`` lists their flags) and ``mamba-single-index`` / ``la-single-index`` (gated Mamba
readout / linear attention + MLP pretrained by Algorithm 1, scored in context on Gaussian single-index prompts;
``--model mamba-single-index --help``).

Trains with SGD (Algorithm 1), tracks the quantities of Theorems 1-4 and Corollaries 1-2, prints a summary and
writes ``results.npz`` + ``results.json`` and ``tracked.png`` to ``--out``.  Exit status: 0 done, 1 diverged or
interrupted (what was computed is still written), 2 bad input.
"""

from __future__ import annotations

import _bootstrap  # noqa: F401

import sys
import time

from mamba_dynamics import theory
from mamba_dynamics.cli import (Parser, add_config_arguments, add_output_arguments, config_from_args, fail,
                                format_table, output_dir)
from mamba_dynamics.io import write_run
from mamba_dynamics.training import train


OUTLIER_MODELS = ("mamba", "lt")
FEATURE_MODELS = ("ssm", "lt-mlp")
SINGLE_INDEX_MODELS = ("mamba-single-index", "la-single-index")
ALL_MODELS = OUTLIER_MODELS + FEATURE_MODELS + SINGLE_INDEX_MODELS


def requested_model(argv: list) -> str | None:
    """The value of ``--model`` in ``argv`` (either ``--model X`` or ``--model=X``), or None."""
    for i, arg in enumerate(argv):
        if arg == "--model" and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith("--model="):
            return arg.split("=", 1)[1]
    return None


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    model = requested_model(argv)
    if model in FEATURE_MODELS:
        return simulate_features(argv)
    if model in SINGLE_INDEX_MODELS:
        return simulate_single_index(argv)
    parser = Parser(prog="simulate.py", description=__doc__.split("\n\n")[0])
    if model is not None and model not in OUTLIER_MODELS:
        parser.error(f"unknown model {model!r}; choose one of {', '.join(ALL_MODELS)}")
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


def simulate_features(argv: list) -> int:
    """``--model ssm`` / ``lt-mlp``: train on majority-voting or local-concentration data (arXiv 2602.12499)."""
    from mamba_dynamics.features import theory as ftheory
    from mamba_dynamics.features.cli import add_arguments, config_from_args as features_config
    from mamba_dynamics.features.training import train as train_features

    parser = Parser(prog="simulate.py", description="Selective SSM (or linear attention) + two-layer MLP filtering "
                                                   "relevant features (arXiv 2602.12499).")
    add_arguments(parser)
    add_output_arguments(parser, "<model>-<regime>")
    parser.add_argument("--no-plot", action="store_true", help="skip the figure")
    args = parser.parse_args(argv)
    cfg = features_config(parser, args)
    out = output_dir(args, f"{cfg.model}-{cfg.regime}")

    result = train_features(cfg, show_progress=not args.quiet)
    th = ftheory.predicted(cfg)
    sidecar = {"config": cfg.to_dict(), "seed": cfg.seed, "status": result.status, "message": result.message,
               "steps_done": result.steps_done, "wall_time_s": result.wall_time, "summary": result.summary(),
               "theory": th}
    write_run(out, "results", result.arrays(), sidecar)
    if not args.no_plot and len(result.history["step"]) > 0:
        from mamba_dynamics.features.plotting import plot_features_run
        from mamba_dynamics.plotting import save_figure

        save_figure(plot_features_run(result), out / "tracked.png", pdf=args.pdf)

    h = result.history
    mixer = "w" if cfg.gated else "W"
    hit = result.iters_to_target
    rows = [("model, regime", f"{cfg.model}, {cfg.regime}"), ("status", result.status),
            ("steps done", str(result.steps_done)), ("wall time", f"{result.wall_time:.1f} s"),
            ("final train hinge loss", f"{h['train_loss'][-1]:.4g}"),
            ("train error / test error", f"{h['train_err'][-1]:.4f} / {h['test_err'][-1]:.4f}"),
            (f"iterations to test error <= {cfg.target_err}", "not reached" if hit != hit else f"{hit:.0f}"),
            (f"<{mixer}, o_+>, <{mixer}, o_->" if cfg.gated else "o_+^T W o_+, o_-^T W o_-",
             f"{h['w_pos'][-1]:.4g}, {h['w_neg'][-1]:.4g}"),
            ("irrelevant: mean, max |.|", f"{h['w_irr'][-1]:.4g}, {h['w_irr_abs'][-1]:.4g}"),
            ("cos with o_+, o_-, irrelevant (mean)",
             f"{h['cos_pos'][-1]:.3f}, {h['cos_neg'][-1]:.3f}, {h['cos_irr'][-1]:.3f}")]
    if cfg.gated:
        rows.append(("mean gate: relevant, irrelevant tokens", f"{h['gate_rel'][-1]:.3g}, {h['gate_irr'][-1]:.3g}"))
    rows += [("share of output on o_+, o_-", f"{h['rel_share'][-1]:.3f}"),
             ("MLP neurons: cos(v, o_+) (a>0), cos(v, o_-) (a<0)", f"{h['mlp_pos'][-1]:.3f}, {h['mlp_neg'][-1]:.3f}"),
             ("signal (alpha_r - alpha_c or delta)", f"{th['signal']:.4g}"),
             ("output", str(out))]
    print(format_table(rows, f"mamba_dynamics simulate: {cfg.model} on {cfg.regime} data, seed {cfg.seed}"))
    if result.status != "completed":
        fail(f"simulate.py: {result.message}; results so far written to {out}", 1)
    return 0


def simulate_single_index(argv: list) -> int:
    """``--model mamba-single-index`` / ``la-single-index``: Algorithm 1, then the in-context risk vs N."""
    import numpy as np

    from mamba_dynamics.progress import progress_bar
    from mamba_dynamics.single_index.cli import MODELS, add_arguments, config_from_args as si_config, positive_int_list
    from mamba_dynamics.single_index.evaluate import simulate
    from mamba_dynamics.single_index.hermite import generative_exponent, information_exponent, parse_link

    parser = Parser(prog="simulate.py", description="Gated Mamba readout (or linear attention) + MLP, pretrained "
                                                   "by Algorithm 1, learning single-index targets in context "
                                                   "(arXiv 2510.12026).")
    parser.add_argument("--model", choices=list(MODELS), required=True, help="gated Mamba or linear attention")
    add_arguments(parser)
    parser.add_argument("--test-N", type=positive_int_list, default=[64, 256, 1024, 4096],
                        help="context lengths N at test (comma-separated)")
    parser.add_argument("--match-context", action="store_true",
                        help="pretrain at every test N (N_pt = N) instead of once at --N-pt")
    parser.add_argument("--krr", action="store_true", help="also score kernel ridge regression on x and on x_I")
    parser.add_argument("--krr-prompts", type=int, default=50, help="test prompts for KRR (O(N^3) each)")
    parser.add_argument("--krr-max-N", type=int, default=1024, help="largest N at which KRR is run")
    add_output_arguments(parser, "<model>")
    parser.add_argument("--no-plot", action="store_true", help="skip the figure")
    args = parser.parse_args(argv)
    cfg = si_config(parser, args, gate=MODELS[args.model])
    if args.krr_prompts < 1 or args.krr_max_N < 1:
        parser.error("--krr-prompts and --krr-max-N must be positive integers")
    out = output_dir(args, args.model)

    krr = ("x", "x_I") if args.krr else ()
    steps = len(args.test_N) * (1 + len(krr))
    bar = progress_bar(steps, "N", enabled=not args.quiet)
    t0 = time.perf_counter()
    try:
        res = simulate(cfg, args.test_N, krr, args.krr_prompts, args.krr_max_N, args.match_context, bar)
    except FloatingPointError as exc:
        fail(f"simulate.py: {exc}", 1)
    finally:
        bar.close()
    wall = time.perf_counter() - t0
    stats = res.pop("stats")
    coefs = parse_link(cfg.link)
    ie, ge = information_exponent(coefs), generative_exponent(coefs)
    sidecar = {"config": cfg.to_dict(), "seed": cfg.seed, "model": args.model, "test_N": args.test_N,
               "match_context": args.match_context, "wall_time_s": wall, "pretraining": stats,
               "link_exponents": {"information": ie, "generative": ge},
               "summary": {int(N): {"risk": float(r), "n_eff": float(n), "cos_quad": float(c)}
                           for N, r, n, c in zip(res["N"], res["risk"], res["n_eff"], res["cos_quad"])}}
    write_run(out, "results", res, sidecar)
    if not args.no_plot:
        from mamba_dynamics.plotting import save_figure
        from mamba_dynamics.single_index.plotting import plot_single_run

        save_figure(plot_single_run(res, cfg, "mamba" if cfg.gated else "la"), out / "risk.png", pdf=args.pdf)

    rows = [("model", f"{args.model} (d={cfg.d}, r={cfg.r}, link {cfg.link}: ie={ie}, ge={ge})"),
            ("Stage I", f"{cfg.stage1}; share of gamma on relevant features {stats['share_relevant']:.3f}"),
            ("pretraining context", "N_pt = N (per test N)" if args.match_context else f"N_pt = {cfg.N_pt}"),
            ("wall time", f"{wall:.1f} s")]
    for i, N in enumerate(res["N"]):
        se = res["risk_prompts"][i].std() / np.sqrt(res["risk_prompts"].shape[1])
        line = (f"risk {res['risk'][i]:.3f} +- {se:.3f}   n_eff {res['n_eff'][i]:.0f}   "
                f"|cos(Q, beta)| {res['cos_quad'][i]:.3f}")
        for key in ("krr_x", "krr_x_I"):
            if key in res and np.isfinite(res[key][i]):
                line += f"   {key.replace('krr_', 'KRR(')}) {res[key][i]:.3f}"
        rows.append((f"N = {N}", line))
    rows.append(("output", str(out)))
    print(format_table(rows, f"mamba_dynamics simulate: {args.model}, seed {cfg.seed}"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
