"""Gradient-descent training of the feature-filtering model (arXiv 2602.12499; docs/features.md).

A fixed training set of ``n_train`` sequences is drawn once; each step is full-batch GD (``batch = 0``, the
paper's algorithm) or SGD on ``batch`` sequences drawn without replacement, ``theta <- theta - eta * grad`` of the
hinge loss for the model's trained blocks (``a`` fixed), with its hand-derived gradients (the function the checker
verifies), in the one loop (:func:`mamba_dynamics.core.train.fit`).  The model (one layer or a stack of
``cfg.layers`` blocks) comes from :data:`mamba_dynamics.features.models.REGISTRY`.  Every ``log_every`` steps
(and at steps 0 and T) the training loss, errors and margin and the model's tracked quantities
(:mod:`mamba_dynamics.features.metrics`) are measured on the training set and a fixed test set.
``iters_to_target`` is the first logged step whose test error is ``<= target_err`` (NaN if never);
``stop_at_target`` ends the run there (scaling studies), and then the test error alone is also checked after
every step, with a full log at the step that reaches the target, so ``iters_to_target`` is the same for every
``log_every``.  Float64; the same seed gives the
same numbers.  Divergence (non-finite loss or gradient, or a parameter norm above ``diverge_norm``) stops the run
with a message naming the step and the quantity; what was logged is kept.
"""

from __future__ import annotations

import time

import numpy as np

from ..core.losses import error_01, hinge_loss
from ..core.optim import Optimizer
from ..core.train import TrainResult, fit
from . import data
from .config import FeaturesConfig
from .data import Sequences, seed_streams
from .models import REGISTRY, Evaluation


def _batch(cfg: FeaturesConfig, train_set: Sequences, rng: np.random.Generator) -> Sequences:
    """One step's batch: the whole training set (full-batch GD, ``batch = 0``) or ``batch`` sequences drawn
    without replacement."""
    if cfg.batch:
        return train_set.take(rng.choice(cfg.n_train, size=cfg.batch, replace=False))
    return train_set


def train(cfg: FeaturesConfig, show_progress: bool = False, stop_at_target: bool = False) -> TrainResult:
    """Train the model of ``cfg`` (one layer, or ``cfg.layers`` blocks) for ``cfg.steps`` steps (or until the
    target error with ``stop_at_target``); never raises on divergence.

    Returns a :class:`~mamba_dynamics.core.train.TrainResult`: history ``step``, ``train_loss``, ``train_err``,
    ``margin`` and the model's tracked quantities (one layer: ``test_err`` and every key of
    :data:`~mamba_dynamics.features.metrics.KEYS`, each ``(n_log,)``, and the profiles of
    :data:`~mamba_dynamics.features.metrics.PROFILE_KEYS`; a stack: :data:`~mamba_dynamics.features.metrics
    .STACK_KEYS` and the per-block arrays ``(n_log, L)`` of :data:`~mamba_dynamics.features.metrics
    .STACK_BLOCK_KEYS`); ``final`` adds ``iters_to_target`` (NaN if never reached); ``extras["basis"]`` is the
    pattern basis ``(d, d)``."""
    t0 = time.perf_counter()
    model = REGISTRY.build(cfg)
    rng = seed_streams(cfg.seed)
    O = data.make_basis(cfg.d, rng["basis"])
    params = model.init_params(rng["init"])
    params_init = params.copy()
    train_set = data.sample(cfg, O, cfg.n_train, rng["train"])
    test_set = data.sample(cfg, O, cfg.n_test, rng["test"])
    evaluation = Evaluation(test_set, O)
    hit = [float("nan")]  # the first logged step whose test error is at or below the target

    def measure(step: int, window: np.ndarray) -> dict:
        F = model.predict(params, train_set.X)
        row = {"train_loss": hinge_loss(F, train_set.y), "train_err": error_01(F, train_set.y),
               "margin": float(np.min(train_set.y * F))}
        for k, v in model.tracked(params, evaluation).items():
            row[k] = np.array(v, dtype=np.float64) if np.ndim(v) else float(v)
        row["test_loss"] = hinge_loss(model.predict(params, test_set.X), test_set.y)  # the paper's success test
        if np.isnan(hit[0]) and row["test_err"] <= cfg.target_err:
            hit[0] = float(step)
        return row

    def target_now(k: int) -> bool:
        """Between logs, with ``stop_at_target``: whether the test error (alone, the same computation as the
        log's) is already at or below the target."""
        if not (stop_at_target and np.isnan(hit[0])):
            return False
        return error_01(model.predict(params, test_set.X), test_set.y) <= cfg.target_err

    run = fit(model, params, lambda k: _batch(cfg, train_set, rng["batches"]), Optimizer("sgd", cfg.eta), measure,
              steps=cfg.steps, log_every=cfg.log_every, diverge_norm=cfg.diverge_norm, show_progress=show_progress,
              shown={"loss": "train_loss", "err": "test_err"}, desc=f"{model.label} {cfg.regime} GD",
              stop=lambda k: stop_at_target and hit[0] == k, log_now=target_now, wall_start=t0)
    return run.result(cfg, params_init, params, {"basis": O}, iters_to_target=hit[0])
