"""Gradient-descent training of the feature-filtering model (arXiv 2602.12499; docs/features.md).

A fixed training set of ``n_train`` sequences is drawn once; each step is full-batch GD (``batch = 0``, the
paper's algorithm) or SGD on ``batch`` sequences drawn without replacement, ``theta <- theta - eta * grad`` of the
hinge loss (F6) for ``w`` (or ``W``) and ``V`` (``a`` fixed), with the fast gradients of
:mod:`mamba_dynamics.features.gradients`.  Every ``log_every`` steps (and at steps 0 and T) the quantities of
:mod:`mamba_dynamics.features.metrics` are measured on a fixed test set.  ``iters_to_target`` is the first logged
step whose test error is ``<= target_err`` (NaN if never); ``stop_at_target`` ends the run there (scaling
studies).  Float64; the same seed gives the same numbers.  Divergence (non-finite loss or gradient, or a
parameter norm above ``diverge_norm``) stops the run with a message naming the step and the quantity; what was
logged is kept.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from ..progress import progress_bar
from ..training import divergence_problem, trajectory_arrays
from . import data
from .config import FeaturesConfig
from .gradients import loss_and_grad, predict
from .metrics import KEYS, snapshot
from .model import Params, init_params


@dataclass
class FeaturesResult:
    """Outcome of :func:`train`. history: ``step``, ``train_loss``, ``train_err``, ``test_err``, ``margin`` and
    every key of :data:`metrics.KEYS`, each ``(n_log,)``; loss_per_step ``(steps_done,)``."""

    config: FeaturesConfig
    status: str
    message: str
    steps_done: int
    history: dict
    loss_per_step: np.ndarray
    params_init: Params
    params: Params
    basis: np.ndarray
    iters_to_target: float = float("nan")
    wall_time: float = 0.0
    final: dict = field(default_factory=dict)

    def arrays(self) -> dict:
        out = trajectory_arrays(self)
        out["basis"] = self.basis
        return out

    def summary(self) -> dict:
        out = {k: float(v[-1]) for k, v in self.history.items() if len(v)}
        out["iters_to_target"] = self.iters_to_target
        return out


def seed_streams(seed: int) -> dict:
    names = ("basis", "init", "train", "test", "batches")
    return {n: np.random.default_rng(c) for n, c in zip(names, np.random.SeedSequence(seed).spawn(len(names)))}


def train(cfg: FeaturesConfig, show_progress: bool = False, stop_at_target: bool = False) -> FeaturesResult:
    """Train for ``cfg.steps`` steps (or until the target error with ``stop_at_target``); never raises on
    divergence."""
    t0 = time.perf_counter()
    rng = seed_streams(cfg.seed)
    O = data.make_basis(cfg.d, rng["basis"])
    params = init_params(cfg, rng["init"])
    params_init = params.copy()
    train_set = data.sample(cfg, O, cfg.n_train, rng["train"])
    test_set = data.sample(cfg, O, cfg.n_test, rng["test"])
    gated = cfg.gated
    mixer = "w" if gated else "W"

    history = {k: [] for k in ("step", "train_loss", "train_err", "test_err", "margin", *KEYS)}
    losses = np.empty(cfg.steps)
    status, message, hit = "completed", "", float("nan")

    def log(step: int, F_train: np.ndarray | None = None) -> None:
        F = predict(params, train_set.X, gated) if F_train is None else F_train
        history["step"].append(step)
        history["train_loss"].append(float(np.mean(np.maximum(0.0, 1.0 - train_set.y * F))))
        history["train_err"].append(float(np.mean(train_set.y * F <= 0)))
        history["margin"].append(float(np.min(train_set.y * F)))
        for k, v in snapshot(params, test_set, O, gated).items():
            history[k].append(float(v))

    log(0)
    if history["test_err"][-1] <= cfg.target_err:
        hit = 0.0
    bar = progress_bar(total=cfg.steps, desc=f"{cfg.model} {cfg.regime} GD", enabled=show_progress)
    step = 0
    try:
        for step in range(1, cfg.steps + 1):
            if cfg.batch:
                idx = rng["batches"].choice(cfg.n_train, size=cfg.batch, replace=False)
                X, y = train_set.X[idx], train_set.y[idx]
            else:
                X, y = train_set.X, train_set.y
            loss, grads, _ = loss_and_grad(params, X, y, gated)
            losses[step - 1] = loss
            getattr(params, mixer)[...] -= cfg.eta * grads[mixer]
            params.V -= cfg.eta * grads["V"]
            problem = divergence_problem(step, loss, grads, {k: getattr(params, k) for k in grads},
                                         cfg.diverge_norm)
            if problem:
                status, message = "diverged", problem
                break
            if step % cfg.log_every == 0 or step == cfg.steps:
                log(step)
                bar.set_postfix(loss=f"{history['train_loss'][-1]:.3f}", err=f"{history['test_err'][-1]:.3f}")
                if np.isnan(hit) and history["test_err"][-1] <= cfg.target_err:
                    hit = float(step)
                    if stop_at_target:
                        bar.update(1)
                        break
            bar.update(1)
    except KeyboardInterrupt:
        status, message = "interrupted", f"interrupted at step {step}"
        step -= 1
    finally:
        bar.close()
    steps_done = step if status == "completed" else max(step - (status == "diverged"), 0)
    return FeaturesResult(
        config=cfg, status=status, message=message, steps_done=steps_done,
        history={k: np.asarray(v, dtype=np.float64) for k, v in history.items()},
        loss_per_step=losses[:steps_done].copy(), params_init=params_init, params=params, basis=O,
        iters_to_target=hit, wall_time=time.perf_counter() - t0,
    )
