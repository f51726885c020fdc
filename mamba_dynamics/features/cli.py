"""Command line of the feature-filtering family (arXiv 2602.12499): one flag per :class:`FeaturesConfig` field, and
the ``simulate.py --model ssm|lt-mlp`` entry."""

from __future__ import annotations

import argparse

from ..core.cli import add_flags, build_config, output_dir, report_training_run, simulation_parser
from .config import PRESETS, MODELS, REGIME_DEFAULTS, FeaturesConfig
from .models import REGISTRY
from .train import train

# (flags, field, type, help)
FLAGS = [
    (("--model",), "model", str, "ssm (selective SSM + MLP), lt-mlp (linear attention + MLP) or st-mlp (softmax "
                                 "attention + MLP)"),
    (("--regime",), "regime", str, "majority (majority voting) or locality (local concentration)"),
    (("--reading",), "reading", str, "paper (Eq. 5 mixer with W_B, W_C + Eq. 6 head) or gate-only (the earlier "
                                     "reading: no content factor, half/half head)"),
    (("--wbc",), "wbc", str, "frozen (W_B, W_C kept at W^(0), as in the analysis) or trained"),
    (("--wbc0",), "wbc0", float, "scale delta of W_B^(0) = W_C^(0) = delta I (not given by the paper)"),
    (("--preset",), "preset", str, "default (d = 10, m = 40) or paper (the paper's d = 32, m = 50; --d, --m override)"),
    (("--gate",), "gate", str, "learned (w_Delta trained) or fixed (w_Delta = 0, every gate 1/2: gating removed)"),
    (("--gate-sigma",), "gate_sigma", float, "the fixed gate's value sigma in (0, 1) (--gate fixed; default 1/2)"),
    (("--gate-type",), "gate_type", str, "the Eq. 5 mixer's gate: mamba (the paper's), or App. E.6's mamba2, gret "
                                         "(gated retention), retnet or gla (vector gate; ssm, paper reading)"),
    (("--gate-tau",), "gate_tau", float, "gate exponent tau of --gate-type gret and gla: decay "
                                         "sigmoid(w^T x)^(1/tau)"),
    (("--decay",), "decay", float, "fixed decay gamma of --gate-type retnet, in (0, 1)"),
    (("--window",), "window", int, "lt-mlp / st-mlp attention window (0 = global causal attention)"),
    (("--temperature",), "temperature", float, "st-mlp softmax temperature tau (scores / tau)"),
    (("--heads",), "heads", int, "st-mlp attention heads (each reads d / heads coordinates; must divide d)"),
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
    shown.update({name: ", ".join(f"{p} {v[name]}" for p, v in PRESETS.items()) for name in PRESETS["default"]})
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
    model = REGISTRY.build(cfg)
    result = train(cfg, show_progress=not args.quiet)
    rows, theory = model.summary(result)
    return report_training_run(result, args, out, theory, model.figure, rows,
                               f"mamba_dynamics simulate: {model.label} on {cfg.regime} data, seed {cfg.seed}", prog)


__all__ = ("FLAGS", "MODELS", "add_arguments", "config_from_args", "simulate")
