"""Command line of the feature-filtering family (arXiv 2602.12499): one flag per :class:`FeaturesConfig` field, and
the ``simulate.py --model ssm|lt-mlp`` entry."""

from __future__ import annotations

import argparse

from ..core.cli import add_flags, build_config, output_dir, report_training_run, simulation_parser
from . import theory
from .config import MODELS, REGIME_DEFAULTS, FeaturesConfig
from .train import train

# (flags, field, type, help)
FLAGS = [
    (("--model",), "model", str, "ssm (selective SSM + MLP) or lt-mlp (linear attention + MLP)"),
    (("--regime",), "regime", str, "majority (majority voting) or locality (local concentration)"),
    (("--reading",), "reading", str, "paper (Eq. 5 mixer with W_B, W_C + Eq. 6 head) or gate-only (the earlier "
                                     "reading: no content factor, half/half head)"),
    (("--wbc",), "wbc", str, "frozen (W_B, W_C kept at W^(0), as in the analysis) or trained"),
    (("--wbc0",), "wbc0", float, "scale delta of W_B^(0) = W_C^(0) = delta I (not given by the paper)"),
    (("--gate",), "gate", str, "learned (w_Delta trained) or fixed (w_Delta = 0, every gate 1/2: gating removed)"),
    (("--window",), "window", int, "lt-mlp attention window (0 = global causal attention)"),
    (("--d",), "d", int, "token dimension d (patterns o_+, o_-, o_3..o_d)"),
    (("--L",), "L", int, "tokens per sequence L"),
    (("--alpha-r",), "alpha_r", float, "fraction of relevant tokens alpha_r (majority)"),
    (("--alpha-c",), "alpha_c", float, "fraction of confusing tokens alpha_c (majority)"),
    (("--gap-near",), "gap_near", int, "distance Delta L^+ of the label's pair (locality)"),
    (("--gap-far",), "gap_far", int, "distance Delta L^- of the other pair (locality)"),
    (("--tau",), "tau", float, "token noise level tau (xi ~ N(0, tau^2/d I))"),
    (("--m",), "m", int, "MLP width m"),
    (("--v0",), "v0", float, "std of the initial MLP weights"),
    (("--eta",), "eta", float, "step size eta"),
    (("--n-train",), "n_train", int, "training sequences N"),
    (("--batch",), "batch", int, "SGD batch (0 = full-batch GD)"),
    (("--steps",), "steps", int, "iterations T"),
    (("--n-test",), "n_test", int, "test sequences"),
    (("--target-err",), "target_err", float, "test error that counts as converged"),
    (("--log-every",), "log_every", int, "log tracked quantities every this many steps"),
    (("--diverge-norm",), "diverge_norm", float, "stop as diverged when a parameter norm exceeds this"),
    (("--seed",), "seed", int, "random seed"),
    (("--layers",), "layers", int, "blocks in the stack (1 = the paper's model; Table 3: 5; ssm, paper reading)"),
    (("--norm",), "norm", str, "input of blocks 2..layers: rms (RMSNorm of the residual stream) or none"),
]


def add_arguments(parser: argparse.ArgumentParser, skip: tuple = ()) -> None:
    """One flag per config field (except ``skip``); unset flags keep the config default."""
    shown = {name: ", ".join(f"{r} {v[name]}" for r, v in REGIME_DEFAULTS.items()) for name in REGIME_DEFAULTS["majority"]}
    add_flags(parser, FLAGS, FeaturesConfig(), "setting (paper symbols; docs/features.md)", skip, shown)


def config_from_args(parser: argparse.ArgumentParser, args: argparse.Namespace, **overrides) -> FeaturesConfig:
    """A validated config from parsed flags; a bad value ends the program via ``parser.error`` (exit 2)."""
    return build_config(parser, args, FeaturesConfig, **overrides)


def simulate(argv: list, prog: str = "simulate.py") -> int:
    """``simulate.py --model ssm|lt-mlp``: train on majority-voting or local-concentration data, print the
    summary, write ``results.npz`` + ``results.json`` and ``tracked.png``.  Exit 0 done, 1 diverged, 2 bad input."""
    parser = simulation_parser(prog, "Selective SSM (or linear attention) + two-layer MLP filtering relevant "
                                     "features (arXiv 2602.12499).", add_arguments, "<model>-<regime>")
    args = parser.parse_args(argv)
    cfg = config_from_args(parser, args)
    out = output_dir(parser, args, f"{cfg.model}-{cfg.regime}")

    result = train(cfg, show_progress=not args.quiet)
    if cfg.layers > 1:
        return _report_stack(result, args, out, prog)
    th = theory.predicted(cfg)
    h = result.history
    mixer = "w" if cfg.gated else "W"
    hit = result.final["iters_to_target"]
    what = {"ssm": f"Eq. 5 mixer (W_B, W_C {cfg.wbc}, W^(0) = {cfg.wbc0:g} I), gate {cfg.gate}, Eq. 6 head"
                   if cfg.content else f"gate-only reading, gate {cfg.gate}",
            "lt-mlp": f"linear attention ({'window ' + str(cfg.window) if cfg.window else 'global'}), "
                      f"{'Eq. 6' if cfg.content else 'half/half'} head"}[cfg.model]
    rows = [("model, regime", f"{cfg.model}, {cfg.regime}"), ("model reading", what), ("status", result.status),
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
             ("W_O rows: cos with o_+ (v>0), with o_- (v<0)", f"{h['mlp_pos'][-1]:.3f}, {h['mlp_neg'][-1]:.3f}"),
             ("lucky neurons (Fig. 5)", f"{h['lucky_frac'][-1]:.2f}"),
             ("signal (alpha_r - alpha_c or delta)", f"{th['signal']:.4g}")]
    from .plotting import plot_features_run

    return report_training_run(result, args, out, th, plot_features_run, rows,
                               f"mamba_dynamics simulate: {cfg.model} on {cfg.regime} data, seed {cfg.seed}", prog)


def _report_stack(result, args, out, prog: str) -> int:
    """Summary table, ``results.npz`` + ``.json`` and ``tracked.png`` of a deep stack's run (per-block gating
    alignment, the head's alignment; Table 3 of the paper)."""
    from .plotting import plot_features_stack_run

    cfg, h = result.config, result.history
    fmt = lambda key: " / ".join(f"{v:.3f}" for v in h[key][-1])  # noqa: E731
    hit = result.final["iters_to_target"]
    rows = [("model, regime", f"{cfg.layers}-block {cfg.model} (norm {cfg.norm}), {cfg.regime}"),
            ("status", result.status), ("steps done", str(result.steps_done)),
            ("wall time", f"{result.wall_time:.1f} s"), ("final train hinge loss", f"{h['train_loss'][-1]:.4g}"),
            ("train error / test error", f"{h['train_err'][-1]:.4f} / {h['test_err'][-1]:.4f}"),
            (f"iterations to test error <= {cfg.target_err}", "not reached" if hit != hit else f"{hit:.0f}"),
            ("cos(w_k, o_+) per block", fmt("cos_pos_blocks")), ("cos(w_k, o_-) per block", fmt("cos_neg_blocks")),
            ("cos(w_k, relevant plane) per block", fmt("cos_rel_blocks")),
            ("mean cos(w_k, o_j), irrelevant j, per block", fmt("cos_irr_blocks")),
            ("W_O rows: cos with relevant plane (mean)", f"{h['mlp_rel'][-1]:.3f}"),
            ("W_O rows: cos with o_+ (v>0), o_- (v<0)", f"{h['mlp_pos'][-1]:.3f}, {h['mlp_neg'][-1]:.3f}")]
    th = {"note": "the paper's theorems are for one layer; a stack is measured, not bounded"}
    return report_training_run(result, args, out, th, plot_features_stack_run, rows,
                               f"mamba_dynamics simulate: {cfg.layers}-block {cfg.model} on {cfg.regime} data, "
                               f"seed {cfg.seed}", prog)


__all__ = ("FLAGS", "MODELS", "add_arguments", "config_from_args", "simulate")
