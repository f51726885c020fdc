"""Command-line flags of the feature-filtering simulator: one flag per :class:`FeaturesConfig` field."""

from __future__ import annotations

import argparse

from ..cli import build_config
from .config import REGIME_DEFAULTS, FeaturesConfig

# (flags, field, type, help)
FLAGS = [
    (("--model",), "model", str, "ssm (selective SSM + MLP) or lt-mlp (linear attention + MLP)"),
    (("--regime",), "regime", str, "majority (majority voting) or locality (local concentration)"),
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
]


def add_arguments(parser: argparse.ArgumentParser, skip: tuple = ()) -> None:
    """One flag per config field (except ``skip``); unset flags keep the config default."""
    defaults = FeaturesConfig()
    group = parser.add_argument_group("setting (paper symbols; docs/features.md)")
    for flags, name, typ, text in FLAGS:
        if name in skip:
            continue
        shown = getattr(defaults, name)
        if name in REGIME_DEFAULTS["majority"]:
            shown = ", ".join(f"{r} {v[name]}" for r, v in REGIME_DEFAULTS.items())
        group.add_argument(*flags, dest=name, type=typ, default=None, help=f"{text} [default: {shown}]")


def config_from_args(parser: argparse.ArgumentParser, args: argparse.Namespace, **overrides) -> FeaturesConfig:
    """A validated config from parsed flags; a bad value ends the program via ``parser.error`` (exit 2)."""
    return build_config(parser, args, FeaturesConfig, **overrides)
