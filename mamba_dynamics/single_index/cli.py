"""Command line of the single-index family (arXiv 2510.12026): one flag per :class:`SingleIndexConfig` field, and
the ``simulate.py --model mamba-single-index|la-single-index`` entry."""

from __future__ import annotations

import argparse

import time

import numpy as np

from ..core.cli import (add_flags, build_config, fail, format_table, output_dir, positive_int_list,
                        simulation_parser)
from ..core.io import write_run
from ..core.progress import progress_bar
from .config import GATE, MODELS, SingleIndexConfig
from .experiments import simulate as simulate_risk
from .hermite import generative_exponent, information_exponent, parse_link

# (flags, field, type, help)
FLAGS = [
    (("--d",), "d", int, "ambient dimension d"),
    (("--r",), "r", int, "intrinsic dimension r = |I| (beta lives on the sphere of r fixed coordinates)"),
    (("--link",), "link", str, "link g_*: h2, h3, h4, h2+h3, h2+h4, herm:c0,c1,... or poly:a0,a1,..."),
    (("--tau",), "tau", float, "label noise tau (zeta ~ Unif{-tau, +tau})"),
    (("--rho",), "rho", float, "gate temperature rho (gate sigma(y/rho + b))"),
    (("--gate-bias",), "gate_bias", float, "fixed gate bias b [default: -log N - gate offset]"),
    (("--gate-offset",), "gate_offset", float, "c in the default gate bias b = -log N - c"),
    (("--N-pt",), "N_pt", int, "pretraining context length N_pt"),
    (("--T1",), "T1", int, "Stage-I prompts T1"),
    (("--T2",), "T2", int, "Stage-II prompts T2"),
    (("--stage1",), "stage1", str, "gradient (Algorithm 1's step), ideal (gamma* = 1 on relevant features) or "
                                   "ideal-linear (on the relevant linear features alone)"),
    (("--width",), "width", int, "MLP width m"),
    (("--bias-range",), "bias_range", float, "Stage-II MLP biases b_j ~ U[-B, B]"),
    (("--lam2",), "lam2", float, "Stage-II ridge lambda_2 [default: chosen on held-out prompts]"),
    (("--queries",), "queries", int, "queries scored per prompt (Stage II and test)"),
    (("--n-test",), "n_test", int, "test prompts per context length"),
    (("--seed",), "seed", int, "random seed"),
]


def add_arguments(parser: argparse.ArgumentParser, skip: tuple = ()) -> None:
    """One flag per config field (except ``skip``); unset flags keep the config default."""
    add_flags(parser, FLAGS, SingleIndexConfig(), "setting (paper symbols; docs/single_index.md)", skip)


def config_from_args(parser: argparse.ArgumentParser, args: argparse.Namespace, **overrides) -> SingleIndexConfig:
    """A validated config from parsed flags; a bad value ends the program via ``parser.error`` (exit 2)."""
    return build_config(parser, args, SingleIndexConfig, **overrides)


def simulate(argv: list, prog: str = "simulate.py") -> int:
    """``simulate.py --model mamba-single-index|la-single-index``: Algorithm 1, then the in-context risk vs N;
    prints the table, writes ``results.npz`` + ``results.json`` and ``risk.png``.  Exit 0, 1 (non-finite risk) or
    2 (bad input)."""
    def add_all(parser):
        parser.add_argument("--model", choices=list(MODELS), required=True, help="gated Mamba or linear attention")
        add_arguments(parser)
        parser.add_argument("--test-N", type=positive_int_list, default=[64, 256, 1024, 4096],
                            help="context lengths N at test (comma-separated)")
        parser.add_argument("--match-context", action="store_true",
                            help="pretrain at every test N (N_pt = N) instead of once at --N-pt")
        parser.add_argument("--krr", action="store_true", help="also score kernel ridge regression on x and on x_I")
        parser.add_argument("--krr-prompts", type=int, default=50, help="test prompts for KRR (O(N^3) each)")
        parser.add_argument("--krr-max-N", type=int, default=1024, help="largest N at which KRR is run")

    parser = simulation_parser(prog, "Gated Mamba readout (or linear attention) + MLP, pretrained by Algorithm 1, "
                                     "learning single-index targets in context (arXiv 2510.12026).", add_all, "<model>")
    args = parser.parse_args(argv)
    cfg = config_from_args(parser, args, gate=GATE[args.model])
    if args.krr_prompts < 1 or args.krr_max_N < 1:
        parser.error("--krr-prompts and --krr-max-N must be positive integers")
    out = output_dir(parser, args, args.model)

    krr = ("x", "x_I") if args.krr else ()
    bar = progress_bar(len(args.test_N) * (1 + len(krr)), "N", enabled=not args.quiet)
    t0 = time.perf_counter()
    try:
        res = simulate_risk(cfg, args.test_N, krr, args.krr_prompts, args.krr_max_N, args.match_context, bar)
    except FloatingPointError as exc:
        fail(f"{prog}: {exc}", 1)
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
        from ..core.plotting import save_figure
        from .plotting import plot_single_run

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


__all__ = ("FLAGS", "MODELS", "add_arguments", "config_from_args", "simulate")
