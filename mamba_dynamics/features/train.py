"""Gradient-descent training of the feature-filtering model (arXiv 2602.12499; docs/features.md).

A fixed training set of ``n_train`` sequences is drawn once; each step is full-batch GD (``batch = 0``, the
paper's algorithm) or SGD on ``batch`` sequences drawn without replacement, ``theta <- theta - eta * grad`` of the
hinge loss for the blocks of :func:`trained_blocks` (``a`` fixed), with the fast gradients of
:mod:`mamba_dynamics.features.gradients` (the kernel the checker verifies), in the core loop
(:func:`mamba_dynamics.core.train.run_loop`).  Every ``log_every`` steps (and at steps 0 and T) the quantities of
:mod:`mamba_dynamics.features.metrics` are measured on a fixed test set.  ``iters_to_target`` is the first logged
step whose test error is ``<= target_err`` (NaN if never); ``stop_at_target`` ends the run there (scaling
studies), and then the test error alone is also checked after every step, with a full log at the step that
reaches the target, so ``iters_to_target`` is the same for every ``log_every``.  Float64; the same seed gives the
same numbers.  Divergence (non-finite loss or gradient, or a parameter norm above ``diverge_norm``) stops the run
with a message naming the step and the quantity; what was logged is kept.
"""

from __future__ import annotations

import time

import numpy as np

from ..core.losses import error_01, hinge_loss
from ..core.seeds import seed_streams as _streams
from ..core.train import TrainResult, run_loop, stack_history
from . import data, gradients, stack
from .config import FeaturesConfig
from .metrics import KEYS, PROFILE_KEYS, STACK_BLOCK_KEYS, STACK_KEYS, snapshot, stack_snapshot
from .model import init_params

#: Named random streams of one run.
STREAMS = ("basis", "init", "train", "test", "batches")


def seed_streams(seed: int) -> dict:
    return _streams(seed, STREAMS)


def trained_blocks(cfg: FeaturesConfig) -> tuple:
    """The parameter blocks gradient descent updates: ``w`` (SSM, unless the gate is fixed), ``W_B``, ``W_C``
    (SSM, paper reading, ``wbc = trained``), ``W`` (attention) and ``V`` (always); ``a`` is never trained."""
    if not cfg.gated:
        return ("W", "V")
    blocks = () if cfg.gate == "fixed" else ("w",)
    if cfg.content and cfg.wbc == "trained":
        blocks += ("W_B", "W_C")
    return blocks + ("V",)


def _batch(cfg: FeaturesConfig, train_set, rng: np.random.Generator) -> tuple:
    """One step's ``(X, y)``: the whole training set (full-batch GD, ``batch = 0``) or ``batch`` sequences drawn
    without replacement."""
    if cfg.batch:
        idx = rng.choice(cfg.n_train, size=cfg.batch, replace=False)
        return train_set.X[idx], train_set.y[idx]
    return train_set.X, train_set.y


def _result(cfg: FeaturesConfig, out, history: dict, hit: float, params_init, params, t0: float,
            O: np.ndarray) -> TrainResult:
    """Pack a finished loop (``out`` from :func:`~mamba_dynamics.core.train.run_loop`) into the result: the
    stacked history, ``final`` (the last logged values and ``iters_to_target = hit``) and the basis in
    ``extras``."""
    hist = stack_history(history)
    final = {k: v[-1] for k, v in hist.items() if len(v)}
    final["iters_to_target"] = hit
    return TrainResult(config=cfg, status=out.status, message=out.message, steps_done=out.steps_done,
                       history=hist, loss_per_step=out.losses, params_init=params_init, params=params,
                       final=final, wall_time=time.perf_counter() - t0, extras={"basis": O})


def train(cfg: FeaturesConfig, show_progress: bool = False, stop_at_target: bool = False) -> TrainResult:
    """Train for ``cfg.steps`` steps (or until the target error with ``stop_at_target``); never raises on
    divergence.

    Returns a :class:`~mamba_dynamics.core.train.TrainResult`: history ``step``, ``train_loss``, ``train_err``,
    ``test_err``, ``margin`` and every key of :data:`~mamba_dynamics.features.metrics.KEYS`, each ``(n_log,)``;
    ``final`` adds ``iters_to_target`` (NaN if never reached); ``extras["basis"]`` is the pattern basis ``(d, d)``.
    ``cfg.layers > 1`` trains the deep stack (:func:`train_stack`)."""
    if cfg.layers > 1:
        return train_stack(cfg, show_progress)
    t0 = time.perf_counter()
    rng = seed_streams(cfg.seed)
    O = data.make_basis(cfg.d, rng["basis"])
    params = init_params(cfg, rng["init"])
    params_init = params.copy()
    train_set = data.sample(cfg, O, cfg.n_train, rng["train"])
    test_set = data.sample(cfg, O, cfg.n_test, rng["test"])
    gated = cfg.gated
    arch = dict(content=cfg.content and gated, window=cfg.window)  # the mixer's options (gradients, metrics)
    trained = trained_blocks(cfg)
    history = {k: [] for k in ("step", "train_loss", "train_err", "test_err", "margin", *KEYS, *PROFILE_KEYS)}
    hit = [float("nan")]

    def log(step: int, window: np.ndarray) -> dict:
        F = gradients.predict(params, train_set.X, gated, **arch)
        history["step"].append(step)
        history["train_loss"].append(hinge_loss(F, train_set.y))
        history["train_err"].append(error_01(F, train_set.y))
        history["margin"].append(float(np.min(train_set.y * F)))
        for k, v in snapshot(params, test_set, O, gated, **arch).items():
            history[k].append(np.array(v, dtype=np.float64) if k in PROFILE_KEYS else float(v))
        if step == 0 and history["test_err"][-1] <= cfg.target_err:
            hit[0] = 0.0
        return {"loss": history["train_loss"][-1], "err": history["test_err"][-1]}

    def reached(step: int) -> bool:
        if np.isnan(hit[0]) and history["test_err"][-1] <= cfg.target_err:
            hit[0] = float(step)
            return stop_at_target
        return False

    def target_now(k: int) -> bool:
        """Between logs, with ``stop_at_target``: whether the test error (alone, the same computation as the
        log's) is already at or below the target."""
        if not (stop_at_target and np.isnan(hit[0])):
            return False
        F = gradients.predict(params, test_set.X, gated, **arch)
        return error_01(F, test_set.y) <= cfg.target_err

    def step(k: int):
        X, y = _batch(cfg, train_set, rng["batches"])
        loss, grads, _ = gradients.loss_and_grad(params, X, y, gated, want_wbc="W_B" in trained, **arch)
        for name in trained:
            getattr(params, name)[...] -= cfg.eta * grads[name]
        return loss, grads, {k: getattr(params, k) for k in grads}

    out = run_loop(cfg.steps, step, log, cfg.log_every, cfg.diverge_norm, f"{cfg.model} {cfg.regime} GD",
                   show_progress, stop=reached, log_now=target_now)
    return _result(cfg, out, history, hit[0], params_init, params, t0, O)


def train_stack(cfg: FeaturesConfig, show_progress: bool = False) -> TrainResult:
    """The same data, steps and loop as :func:`train` on the ``cfg.layers``-block stack
    (:mod:`mamba_dynamics.features.stack`): every block's ``w`` and the head ``V`` trained (and ``W_B``, ``W_C``
    with ``wbc = trained``).  History: ``step``, ``train_loss``, ``train_err``, the scalars of
    :data:`~mamba_dynamics.features.metrics.STACK_KEYS` and the per-block arrays ``(n_log, L)`` of
    :data:`~mamba_dynamics.features.metrics.STACK_BLOCK_KEYS`; ``final`` adds ``iters_to_target``."""
    from threadpoolctl import threadpool_limits

    t0 = time.perf_counter()
    rng = seed_streams(cfg.seed)
    O = data.make_basis(cfg.d, rng["basis"])
    params = stack.init_stack_params(cfg, rng["init"])
    params_init = params.copy()
    train_set = data.sample(cfg, O, cfg.n_train, rng["train"])
    test_set = data.sample(cfg, O, cfg.n_test, rng["test"])
    trained = ("w", "W_B", "W_C", "V") if cfg.wbc == "trained" else ("w", "V")
    history = {k: [] for k in ("step", "train_loss", "train_err", *STACK_KEYS, *STACK_BLOCK_KEYS)}
    hit = [float("nan")]

    def log(step: int, window: np.ndarray) -> dict:
        F = stack.predict(params, train_set.X, cfg.norm)
        history["step"].append(step)
        history["train_loss"].append(hinge_loss(F, train_set.y))
        history["train_err"].append(error_01(F, train_set.y))
        for k, v in stack_snapshot(params, test_set, O, cfg.norm).items():
            history[k].append(v)
        if np.isnan(hit[0]) and history["test_err"][-1] <= cfg.target_err:
            hit[0] = float(step)
        return {"loss": history["train_loss"][-1], "err": history["test_err"][-1]}

    def step(k: int):
        X, y = _batch(cfg, train_set, rng["batches"])
        res = stack.loss_and_grad(params, X, y, cfg.norm, want_wbc="W_B" in trained)
        for name in trained:
            getattr(params, name)[...] -= cfg.eta * res.grads[name]
        return res.loss, {k: res.grads[k] for k in trained}, {k: getattr(params, k) for k in trained}

    with threadpool_limits(1):
        out = run_loop(cfg.steps, step, log, cfg.log_every, cfg.diverge_norm,
                       f"{cfg.layers}-block {cfg.model} {cfg.regime} GD", show_progress)
    return _result(cfg, out, history, hit[0], params_init, params, t0, O)
