"""Reproductions of the outlier-ICL paper's experiments (arXiv 2510.00399, Section 4) as functions.

The scripts in ``scripts/`` are thin wrappers around these; the tests call the same functions on reduced settings.
Runs over seeds go to worker processes (joblib) with BLAS and Numba pinned to one thread per worker.

Glossary: ``alphas`` = test outlier fractions alpha; ``rules`` = outlier label rules (A) flip, (B) targeted,
(C) random; ``placements`` = R / FQ / CQ; ``n_eval`` = test prompts per evaluated cell.
"""

from __future__ import annotations

import numpy as np

from .config import OutlierConfig
from .data import sample_test
from .models import error_01, forward
from .parallel import map_with_progress
from .training import RunResult, train


def train_many(cfgs: list[OutlierConfig], jobs: int = 1, show_progress: bool = False) -> list[RunResult]:
    """Train every config; ``jobs > 1`` runs them in that many processes (order of results = order of cfgs).
    ``show_progress`` shows a bar over runs on a terminal."""
    return map_with_progress(train, cfgs, jobs, "training runs", show_progress)


def evaluate(
    result: RunResult, alphas, rules=("flip",), placements=("R",), n_eval: int = 2000, l_ts: int | None = None,
) -> np.ndarray:
    """Test 0-1 error of a trained run on fresh test sets: array ``(len(rules), len(placements), len(alphas))``.

    The evaluation prompts come from a generator seeded by the run's seed, so the numbers are reproducible and
    the same for every model trained with that seed.
    """
    cfg = result.config
    out = np.empty((len(rules), len(placements), len(alphas)))
    for ir, rule in enumerate(rules):
        for ip, placement in enumerate(placements):
            rng = np.random.default_rng([cfg.seed, 1000 + ir, 100 + ip])
            for ia, alpha in enumerate(alphas):
                b = sample_test(cfg, result.patterns, rng, n=n_eval, alpha=float(alpha), label_rule=rule,
                                placement=placement, l=l_ts)
                out[ir, ip, ia] = error_01(forward(result.params, b.P, cfg.gated), b.z)
    return out


def error_vs_alpha(base: OutlierConfig, alphas, rules, seeds, n_eval: int = 2000, jobs: int = 1,
                   models=("mamba", "lt"), show_progress: bool = False) -> dict:
    """Fig. 2: ``{"errors": {model: {rule: (len(seeds), len(alphas))}}, "runs": [RunResult, ...]}``."""
    cfgs = [base.replace(model=m, seed=s) for m in models for s in seeds]
    runs = train_many(cfgs, jobs, show_progress)
    errors: dict = {m: {r: np.empty((len(seeds), len(alphas))) for r in rules} for m in models}
    for cfg, run in zip(cfgs, runs):
        e = evaluate(run, alphas, rules, ("R",), n_eval)
        for ir, rule in enumerate(rules):
            errors[cfg.model][rule][list(seeds).index(cfg.seed)] = e[ir, 0]
    return {"errors": errors, "runs": runs}


def placement_study(base: OutlierConfig, alphas, seeds, placements=("R", "FQ", "CQ"), rule: str = "flip",
                    n_eval: int = 2000, jobs: int = 1, models=("mamba", "lt"), show_progress: bool = False) -> dict:
    """Placement study: ``{"errors": {model: (len(seeds), len(placements), len(alphas))}, "runs": [...]}``."""
    cfgs = [base.replace(model=m, seed=s) for m in models for s in seeds]
    runs = train_many(cfgs, jobs, show_progress)
    errors = {m: np.empty((len(seeds), len(placements), len(alphas))) for m in models}
    for cfg, run in zip(cfgs, runs):
        errors[cfg.model][list(seeds).index(cfg.seed)] = evaluate(run, alphas, (rule,), placements, n_eval)[0]
    return {"errors": errors, "runs": runs}
