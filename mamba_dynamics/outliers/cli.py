"""Command line of the outlier-ICL family (arXiv 2510.00399): every :class:`OutlierConfig` field as a flag, and
the ``simulate.py --model mamba|lt`` entry.

Glossary: :data:`FLAGS` rows are ``(flags, field, type, help)`` (see :func:`mamba_dynamics.core.cli.add_flags`).
"""

from __future__ import annotations

import argparse

from ..core.cli import add_flags, build_config, output_dir, report_training_run, simulation_parser
from . import theory
from .config import MODELS, OutlierConfig
from .train import train

FLAGS = [
    (("--model",), "model", str, "model: mamba (eq. 3) or lt (linear Transformer, G == 1)"),
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

    result = train(cfg, show_progress=not args.quiet)
    if cfg.layers > 1:
        return _report_stack(result, args, out, prog)
    th = {
        "alpha_max": theory.alpha_max(cfg.model, cfg.p_a, cfg.l_tr, cfg.l_ts),
        "covered_by_theorem": theory.covered(cfg.model, cfg.alpha, cfg.p_a, cfg.l_tr, cfg.l_ts, cfg.M1),
        "conditions": [{"condition": n, "holds": h, "detail": d} for n, h, d in theory.conditions(cfg)],
        "iterations_scale": (theory.iterations_mamba(cfg.eta, cfg.p_a, cfg.beta, cfg.M1) if cfg.gated else
                             theory.iterations_lt(cfg.eta, cfg.p_a, cfg.beta, cfg.M1, cfg.l_tr)),
        "trained_checks": ([{"check": n, "holds": h, "detail": d} for n, h, d in theory.trained_checks(cfg, result.final)]
                           if "gate_by_rank" in result.final else []),
    }
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
            ("theory: conditions that fail", ", ".join(theory.failing(cfg)) or "none (of those encoded)"),
            ("theory: trained-model checks that fail (Cor. 1-2)",
             ", ".join(c["check"] for c in th["trained_checks"] if not c["holds"]) or "none")]
    from .plotting import plot_run

    return report_training_run(result, args, out, th, plot_run, rows,
                               f"mamba_dynamics simulate: {cfg.model}, seed {cfg.seed}", prog)


def _report_stack(result, args, out, prog: str) -> int:
    """Summary table, ``results.npz`` + ``.json`` and ``tracked.png`` of a deep stack's run (per-block Cor. 1-2
    quantities; the one-layer theorems do not cover stacks, so no theory section)."""
    from .plotting import plot_stack_run

    cfg, h = result.config, result.history
    fmt = lambda key, f: " / ".join(format(v, f) for v in h[key][-1])  # noqa: E731
    rows = [("model", f"{cfg.layers}-block {cfg.model} (norm {cfg.norm})"), ("status", result.status),
            ("steps done", str(result.steps_done)), ("wall time", f"{result.wall_time:.1f} s"),
            ("final train hinge loss", f"{h['train_loss'][-1]:.4g}"),
            ("test error, clean (alpha=0)", f"{h['test_err_clean'][-1]:.4f}"),
            (f"test error, alpha={cfg.alpha} ({cfg.label_rule}, {cfg.placement})", f"{h['test_err'][-1]:.4f}"),
            ("attention sum, same pattern, per block", fmt("attn_same_blocks", ".4g")),
            ("attention sum, other examples, per block", fmt("attn_other_blocks", ".4g")),
            ("mean gate, outlier examples, per block", fmt("gate_outlier_blocks", ".3e")),
            ("mean gate, clean examples, per block", fmt("gate_clean_blocks", ".3e")),
            ("residual stream norm / prompt's, per block", fmt("stream_norm_blocks", ".3g"))]
    th = {"note": "the paper's theorems are for one layer; a stack is measured, not bounded"}
    return report_training_run(result, args, out, th, plot_stack_run, rows,
                               f"mamba_dynamics simulate: {cfg.layers}-block {cfg.model}, seed {cfg.seed}", prog)


__all__ = ("FLAGS", "MODELS", "add_arguments", "config_from_args", "simulate")
