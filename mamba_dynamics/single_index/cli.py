"""Command-line flags of the single-index simulator: one flag per :class:`SingleIndexConfig` field."""

from __future__ import annotations

import argparse

from ..cli import build_config
from .config import SingleIndexConfig

MODELS = {"mamba-single-index": "mamba", "la-single-index": "constant"}

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
    (("--stage1",), "stage1", str, "gradient (Algorithm 1's step) or ideal (gamma* = 1 on relevant features)"),
    (("--width",), "width", int, "MLP width m"),
    (("--bias-range",), "bias_range", float, "Stage-II MLP biases b_j ~ U[-B, B]"),
    (("--lam2",), "lam2", float, "Stage-II ridge lambda_2 [default: chosen on held-out prompts]"),
    (("--queries",), "queries", int, "queries scored per prompt (Stage II and test)"),
    (("--n-test",), "n_test", int, "test prompts per context length"),
    (("--seed",), "seed", int, "random seed"),
]


def add_arguments(parser: argparse.ArgumentParser, skip: tuple = ()) -> None:
    """One flag per config field (except ``skip``); unset flags keep the config default."""
    defaults = SingleIndexConfig()
    group = parser.add_argument_group("setting (paper symbols; docs/single_index.md)")
    for flags, name, typ, text in FLAGS:
        if name in skip:
            continue
        shown = getattr(defaults, name)
        group.add_argument(*flags, dest=name, type=typ, default=None,
                           help=text if "[default" in text else f"{text} [default: {shown}]")


def config_from_args(parser: argparse.ArgumentParser, args: argparse.Namespace, **overrides) -> SingleIndexConfig:
    """A validated config from parsed flags; a bad value ends the program via ``parser.error`` (exit 2)."""
    return build_config(parser, args, SingleIndexConfig, **overrides)


def positive_int_list(text: str) -> list[int]:
    """argparse type: comma-separated positive integers (context lengths)."""
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected integers like 64,256,1024, got {text!r}") from None
    if not values or any(v < 1 for v in values):
        raise argparse.ArgumentTypeError(f"must be positive integers, got {text!r}")
    return values
