"""Command line of the outlier-ICL family (arXiv 2510.00399): every :class:`OutlierConfig` field as a flag, and
the ``simulate.py --model mamba|lt`` entry.

Glossary: :data:`FLAGS` rows are ``(flags, field, type, help)`` (see :func:`mamba_dynamics.core.cli.add_flags`).
"""

from __future__ import annotations

import argparse

from ..core.cli import add_flags, build_config, output_dir, report_training_run, simulation_parser
from .config import MODELS, OutlierConfig
from .models import REGISTRY
from .train import train

FLAGS = [
    (("--model",), "model", str, "model: mamba (eq. 3), lt (linear Transformer, G == 1), st (softmax Transformer, "
                                 "App. B.1), or a gate of App. E.6: mamba2, gret, retnet, gla"),
    (("--preset",), "preset", str, "plain (the paper's text read plainly) or tuned (kappa'_a = kappa_a / L, K' = K, "
                                   "matching split, exact outlier count: the choices that make Fig. 2 come out as "
                                   "reported); flags given explicitly override it"),
    (("--d",), "d", int, "input dimension d"),
    (("--M1",), "M1", int, "number of relevant patterns M1"),
    (("--M2",), "M2", int, "number of irrelevant patterns M2"),
    (("--V",), "V", int, "number of training outlier patterns V"),
    (("--beta",), "beta", float, "norm beta of relevant/irrelevant patterns"),
    (("--kappa-a",), "kappa_a", float, "training outlier magnitude kappa_a"),
    (("--K",), "K", float, "irrelevant scale bound K (training)"),
    (("--train-outlier-frac", "--p-a"), "p_a", float, "training outlier probability p_a"),
    (("--l-tr",), "l_tr", int, "training prompt length l_tr"),
    (("--l-ts",), "l_ts", int, "testing prompt length l_ts"),
    (("--train-tasks",), "train_tasks", str, "training-task split T_tr: matching, ring, random or all "
                                             "(plain: random, tuned: matching)"),
    (("--outlier-frac", "--alpha"), "alpha", float, "test-time outlier fraction alpha"),
    (("--kappa-a-test",), "kappa_a_test", float, "test outlier magnitude kappa'_a (plain: kappa_a, tuned: kappa_a / L)"),
    (("--K-test",), "K_test", float, "irrelevant scale bound K' in test prompts (plain: 1.5, tuned: K)"),
    (("--test-orth",), "test_orth", float, "weight of the part of v' orthogonal to all patterns"),
    (("--label-rule",), "label_rule", str, "test outlier labels: flip, targeted or random"),
    (("--target-label",), "target_label", int, "label used by the targeted rule (+1 or -1)"),
    (("--placement",), "placement", str, "test outlier placement: R, FQ or CQ"),
    (("--outlier-count",), "outlier_count", str, "test outliers per prompt: exact (round(alpha l_ts)) or per-example "
                                                  "(each with probability alpha, Def. 2) (plain: per-example, tuned: "
                                                  "exact)"),
    (("--m",), "m", int, "rows m of W_B, W_C (default d+1)"),
    (("--layers",), "layers", int, "blocks in the stack (1 = the paper's one-layer model; Table 1: 3)"),
    (("--norm",), "norm", str, "input of blocks 2..layers: rms (RMSNorm of the residual stream) or none"),
    (("--temperature",), "temperature", float, "softmax temperature tau of st (scores / tau)"),
    (("--heads",), "heads", int, "attention heads of st (each reads m / heads coordinates; must divide m)"),
    (("--window",), "window", int, "st attends to the last k tokens only (0 = every earlier token)"),
    (("--gate-tau",), "gate_tau", float, "gate exponent tau of gret and gla: decay sigmoid(w^T p)^(1/tau)"),
    (("--decay",), "decay", float, "fixed decay gamma of retnet, in (0, 1)"),
    (("--delta",), "delta", float, "initial diagonal delta of W_B, W_C"),
    (("--eta",), "eta", float, "SGD step eta"),
    (("--batch",), "batch", int, "SGD batch size B"),
    (("--steps",), "steps", int, "SGD iterations T"),
    (("--seed",), "seed", int, "random seed"),
    (("--n-test",), "n_test", int, "prompts in each fixed test set"),
    (("--log-every",), "log_every", int, "log tracked quantities every this many steps"),
    (("--diverge-norm",), "diverge_norm", float, "stop as diverged when a parameter norm exceeds this"),
]


def add_arguments(parser: argparse.ArgumentParser, skip: tuple = ()) -> None:
    """One flag per config field (except ``skip``); unset flags keep the config default."""
    add_flags(parser, FLAGS, OutlierConfig(), "setting (paper symbols; defaults = paper Section 4)", skip,
              shown={name: "derived" for name in ("m", "kappa_a_test", "K_test", "train_tasks", "outlier_count")})


def config_from_args(parser: argparse.ArgumentParser, args: argparse.Namespace, **overrides) -> OutlierConfig:
    """A validated config from parsed flags; a bad value ends the program via ``parser.error`` (exit 2)."""
    return build_config(parser, args, OutlierConfig, **overrides)


def simulate(argv: list, prog: str = "simulate.py") -> int:
    """``simulate.py --model mamba|lt``: train with SGD (Algorithm 1), print the summary table, write
    ``results.npz`` + ``results.json`` and ``tracked.png``.  Exit status 0 done, 1 diverged or interrupted (what was
    computed is still written), 2 bad input."""
    parser = simulation_parser(prog, "One-layer Mamba (eq. 3) or the linear Transformer learning in context with "
                                     "outliers (arXiv 2510.00399).", add_arguments, "<model>")
    args = parser.parse_args(argv)
    cfg = config_from_args(parser, args)
    out = output_dir(parser, args, f"{cfg.model}")
    model = REGISTRY.build(cfg)
    result = train(cfg, show_progress=not args.quiet)
    rows, theory = model.summary(result)
    return report_training_run(result, args, out, theory, model.figure, rows,
                               f"mamba_dynamics simulate: {model.label}, seed {cfg.seed}", prog)


__all__ = ("FLAGS", "MODELS", "add_arguments", "config_from_args", "simulate")
