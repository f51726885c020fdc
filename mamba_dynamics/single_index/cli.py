"""Command line of the single-index family (arXiv 2510.12026): one flag per :class:`SingleIndexConfig` field (the
Algorithm-1 models) and per :class:`NetworkConfig` field (the end-to-end networks), and the ``simulate.py --model
mamba-single-index|la-single-index|mamba-single-index-e2e|la-single-index-e2e`` entry."""

from __future__ import annotations

import argparse

import time

import numpy as np

from ..core.cli import (add_flags, build_config, fail, format_table, output_dir, positive_int_list,
                        requested_model, simulation_parser)
from ..core.io import write_run
from ..core.progress import progress_bar
from .config import END_TO_END, GATE, MODELS, NetworkConfig, SingleIndexConfig
from .experiments import krr_risk, simulate as simulate_risk
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


NETWORK_FLAGS = [
    (("--d",), "d", int, "ambient dimension d"),
    (("--r",), "r", int, "intrinsic dimension r = |I|"),
    (("--link",), "link", str, "link g_*: h2, h3, h4, h2+h3, h2+h4, herm:c0,c1,... or poly:a0,a1,..."),
    (("--tau",), "tau", float, "label noise tau"),
    (("--tokens",), "tokens", str, "hermite (tokens (phi(x), y), the paper's embedding) or raw (tokens (x, y))"),
    (("--state",), "state", int, "state size m_s (rows of W_B, W_C)"),
    (("--width",), "width", int, "MLP width m"),
    (("--N-min",), "N_min", int, "shortest training context (one N per step, log-uniform)"),
    (("--N-max",), "N_max", int, "longest training context"),
    (("--batch",), "batch", int, "prompts per step"),
    (("--queries",), "queries", int, "queries per training prompt"),
    (("--steps",), "steps", int, "optimiser steps"),
    (("--lr",), "lr", float, "learning rate"),
    (("--optimizer",), "optimizer", str, "adam or sgd"),
    (("--weight-decay",), "weight_decay", float, "decoupled weight decay"),
    (("--init-scale",), "init_scale", float, "W_B, W_C entries ~ N(0, s^2 / D)"),
    (("--rho0",), "rho0", float, "initial gate temperature (w_y = 1/rho0)"),
    (("--gate-offset0",), "gate_offset0", float, "initial gate bias -b (pre-activation w^T z + b - log N)"),
    (("--temperature",), "temperature", float, "softmax temperature tau of st-single-index-e2e (scores / tau)"),
    (("--log-every",), "log_every", int, "steps between logs of the tracked quantities"),
    (("--n-eval",), "n_eval", int, "prompts of the evaluation batch logged during training"),
    (("--n-test",), "n_test", int, "test prompts per context length"),
    (("--test-queries",), "test_queries", int, "queries per test prompt"),
    (("--seed",), "seed", int, "random seed"),
]


def add_network_arguments(parser: argparse.ArgumentParser, skip: tuple = ()) -> None:
    """One flag per :class:`NetworkConfig` field (except ``skip``)."""
    add_flags(parser, NETWORK_FLAGS, NetworkConfig(), "end-to-end network (docs/single_index.md)", skip)


def sweep_entry(model: str):
    """``(add_arguments, config_from_args, sweep)`` of an end-to-end model for the phase diagram (its config is a
    :class:`NetworkConfig`, its sweep :data:`experiments.NETWORK_SWEEP`); None for the Algorithm-1 models."""
    if model not in END_TO_END:
        return None
    from .experiments import NETWORK_SWEEP

    def add(parser, skip=()):
        add_network_arguments(parser, skip=tuple(skip) + ("n_eval",))  # the sweep's own --n-eval scores the cells

    def build(parser, args, **overrides):
        return build_config(parser, args, NetworkConfig, **overrides)

    return add, build, NETWORK_SWEEP


def add_arguments(parser: argparse.ArgumentParser, skip: tuple = ()) -> None:
    """One flag per config field (except ``skip``); unset flags keep the config default."""
    add_flags(parser, FLAGS, SingleIndexConfig(), "setting (paper symbols; docs/single_index.md)", skip)


def config_from_args(parser: argparse.ArgumentParser, args: argparse.Namespace, **overrides) -> SingleIndexConfig:
    """A validated config from parsed flags; a bad value ends the program via ``parser.error`` (exit 2)."""
    return build_config(parser, args, SingleIndexConfig, **overrides)


def simulate_network(argv: list, prog: str = "simulate.py") -> int:
    """``simulate.py --model mamba-|la-|st-single-index-e2e``: train the network end to end, then its
    in-context risk vs N (and KRR with ``--krr``); writes ``results.npz`` + ``results.json`` (what was trained is
    written also when the run diverged) and ``tracked.png``.  Exit 0, 1 (diverged or interrupted) or 2."""
    from .network_train import risk_curve, train_network

    def add_all(parser):
        parser.add_argument("--model", choices=list(END_TO_END), required=True,
                            help="end-to-end Mamba, linear attention or softmax attention")
        add_network_arguments(parser)
        parser.add_argument("--test-N", type=positive_int_list, default=[16, 64, 256, 1024],
                            help="context lengths N at test (comma-separated)")
        parser.add_argument("--krr", action="store_true", help="also score kernel ridge regression on x and on x_I")
        parser.add_argument("--krr-prompts", type=int, default=40, help="test prompts for KRR (O(N^3) each)")

    parser = simulation_parser(prog, "One-layer Mamba (or linear or softmax attention) + MLP trained end to end on "
                                     "single-index prompts (arXiv 2510.12026).", add_all, "<model>")
    args = parser.parse_args(argv)
    cfg = build_config(parser, args, NetworkConfig, gate=GATE[args.model])
    if args.krr_prompts < 1:
        parser.error("--krr-prompts must be a positive integer")
    out = output_dir(parser, args, args.model)
    result = train_network(cfg, show_progress=not args.quiet)
    arrays = result.arrays()
    curve, krr = {}, {}
    if result.status == "completed":
        curve = risk_curve(result.params, cfg, args.test_N)
        arrays.update({f"test_{k}": v for k, v in curve.items()})
        if args.krr:
            alg1 = SingleIndexConfig(d=cfg.d, r=cfg.r, link=cfg.link, tau=cfg.tau, seed=cfg.seed,
                                     queries=cfg.test_queries)
            for inputs in ("x", "x_I"):
                krr[inputs] = np.array([krr_risk(alg1, N, inputs, args.krr_prompts)["risk"] for N in args.test_N])
                arrays[f"test_krr_{inputs}"] = krr[inputs]
    sidecar = {"config": cfg.to_dict(), "seed": cfg.seed, "model": args.model, "status": result.status,
               "message": result.message, "steps_done": result.steps_done, "wall_time_s": result.wall_time,
               "summary": result.summary(),
               "test": {int(N): float(r) for N, r in zip(curve.get("N", []), curve.get("risk", []))}}
    write_run(out, "results", arrays, sidecar)
    if not args.no_plot and len(result.history["step"]) > 0:
        from ..core.plotting import save_figure
        from .plotting import plot_network_run

        save_figure(plot_network_run(result, curve, krr), out / "tracked.png", pdf=args.pdf)
    fin = result.final
    softmax = cfg.gate == "softmax"  # no query polynomial, no gate weights: those rows say so
    rows = [("model", f"{args.model} (d={cfg.d}, r={cfg.r}, link {cfg.link}, {cfg.tokens} tokens, D={cfg.D}"
                      + (f", temperature {cfg.temperature:g})" if softmax else ")")),
            ("training", f"{result.status}: {result.steps_done} {cfg.optimizer} steps, lr {cfg.lr:g}, "
                         f"N in [{cfg.N_min}, {cfg.N_max}], {result.wall_time:.1f} s"),
            ("tracked (last log)", f"eval risk {fin['eval_risk']:.3f}, share of W_B^T W_C on relevant "
                                   f"{fin['share_relevant']:.3f}, "
                                   + ("" if softmax else f"|cos(Q, beta)| {fin['cos_quad']:.3f}, ")
                                   + f"n_eff/N {fin['n_eff']:.3f}" + (" (1 / sum of squared softmax weights)"
                                                                      if softmax else "")),
            ("gate (last log)", "none: softmax attention (w, b unused)" if softmax else
             f"w_y {fin['w_label']:.3f}, b {fin['gate_bias']:.3f}, mean weight on relevant / "
             f"irrelevant h2(x_k) {fin['w_square_rel']:.3f} / {fin['w_square_irr']:.3f}")]
    for i, N in enumerate(curve.get("N", [])):
        se = curve["risk_prompts"][i].std() / np.sqrt(curve["risk_prompts"].shape[1])
        line = f"risk {curve['risk'][i]:.3f} +- {se:.3f}"
        if not softmax:
            line += f"   |cos(Q, beta)| {curve['cos_quad'][i]:.3f}"
        for inputs, vals in krr.items():
            line += f"   KRR({inputs}) {vals[i]:.3f}"
        rows.append((f"N = {N}", line))
    rows.append(("output", str(out)))
    print(format_table(rows, f"mamba_dynamics simulate: {args.model}, seed {cfg.seed}"))
    if result.status != "completed":
        fail(f"{prog}: {result.message}; results so far written to {out}", 1)
    return 0


def simulate(argv: list, prog: str = "simulate.py") -> int:
    """``simulate.py --model mamba-single-index|la-single-index``: Algorithm 1, then the in-context risk vs N;
    prints the table, writes ``results.npz`` + ``results.json`` and ``risk.png``.  Exit 0, 1 (non-finite risk) or
    2 (bad input).  The end-to-end models go to :func:`simulate_network`."""
    if requested_model(argv) in END_TO_END:
        return simulate_network(argv, prog)
    def add_all(parser):
        parser.add_argument("--model", choices=[m for m in MODELS if m not in END_TO_END], required=True,
                            help="gated Mamba or linear attention")
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


__all__ = ("FLAGS", "NETWORK_FLAGS", "MODELS", "add_arguments", "add_network_arguments", "config_from_args",
           "simulate", "simulate_network", "sweep_entry")
