"""SGD training of one-layer Mamba / the linear Transformer on ICL prompts with outliers (paper Algorithm 1).

Each step draws a fresh batch of ``B`` training prompts (tasks from ``T_tr``, length ``l_tr``, outliers with
probability ``p_a``) and takes one step ``Psi <- Psi - eta * grad`` of the hinge loss with the hand-derived
Numba gradients (:mod:`mamba_dynamics.outliers.gradients`, the kernel the checker verifies).  The linear Transformer has no gate, so ``w`` stays fixed.
Float64 throughout; the same seed gives the same numbers.

Every ``log_every`` steps (and at the first and last step) :func:`mamba_dynamics.outliers.metrics.snapshot` is measured on
two fixed test sets drawn once: clean prompts (``alpha = 0``) and prompts with unseen outliers (``cfg.alpha``,
``cfg.label_rule``, ``cfg.placement``).

The loop is the core one (:func:`mamba_dynamics.core.train.run_loop`).  Divergence guard: a non-finite loss or gradient, or a parameter norm above ``cfg.diverge_norm``, stops training;
the result keeps everything logged so far, with ``status = "diverged"`` and a message naming step and quantity.
"""

from __future__ import annotations

import time

import numpy as np

from ..core.train import TrainResult, run_loop, stack_history
from . import gradients, stack
from .config import OutlierConfig
from .data import Patterns, PromptBatch, make_patterns, sample_test, sample_train, seed_streams
from .metrics import SNAPSHOT_KEYS, STACK_BLOCK_KEYS, STACK_SCALAR_KEYS, snapshot_with_profile, stack_snapshot
from .model import Params, init_params

PROFILE_KEYS = ("gate_by_rank", "gate_by_pos_clean", "gate_by_pos_outlier")


def test_sets(cfg: OutlierConfig, pat: Patterns, rng: np.random.Generator) -> tuple[PromptBatch, PromptBatch]:
    """The fixed clean (``alpha = 0``) and outlier test sets of a run, both of ``cfg.n_test`` prompts."""
    clean = sample_test(cfg, pat, rng, alpha=0.0)
    noisy = sample_test(cfg, pat, rng)
    return clean, noisy


def train(cfg: OutlierConfig, show_progress: bool = False, params: Params | None = None) -> TrainResult:
    """Run Algorithm 1 for ``cfg.steps`` steps; never raises on divergence.  ``cfg.layers > 1`` trains the deep
    stack (:func:`train_stack`).

    Returns a :class:`~mamba_dynamics.core.train.TrainResult` whose history holds ``step``, ``train_loss`` (mean
    batch loss since the previous log), every key of :data:`~mamba_dynamics.outliers.metrics.SNAPSHOT_KEYS` and
    the ``(n_log, l_ts)`` Cor. 2 profiles of :data:`PROFILE_KEYS`; ``extras["patterns"]`` is the run's
    :class:`~mamba_dynamics.outliers.data.Patterns`."""
    if cfg.layers > 1:
        return train_stack(cfg, show_progress, params)
    t0 = time.perf_counter()
    rng = seed_streams(cfg.seed)
    pat = make_patterns(cfg, rng["patterns"])
    params = init_params(cfg, rng["init"]) if params is None else params.copy()
    params_init = params.copy()
    clean, noisy = test_sets(cfg, pat, rng["test"])
    gated = cfg.gated
    history = {k: [] for k in ("step", "train_loss", *SNAPSHOT_KEYS, *PROFILE_KEYS)}
    last: dict = {}

    def log(step: int, window: np.ndarray) -> dict:
        history["step"].append(step)
        history["train_loss"].append(float(window.mean()) if len(window) else np.nan)
        scalars, prof = snapshot_with_profile(params, clean, noisy, gated)
        for k, v in scalars.items():
            history[k].append(v)
        for k in PROFILE_KEYS:  # Cor. 2 decay with distance, at every logged step
            history[k].append(prof[k])
        last.clear()
        last.update({k: history[k][-1] for k in ("train_loss", *SNAPSHOT_KEYS)}, **prof)
        return {"loss": history["train_loss"][-1], "err": history["test_err"][-1]}

    def step(k: int):
        batch = sample_train(cfg, pat, rng["train"])
        res = gradients.loss_and_grad(params.W_B, params.W_C, params.w, batch.P, batch.z, gated)
        params.W_B -= cfg.eta * res.grads["W_B"]
        params.W_C -= cfg.eta * res.grads["W_C"]
        if gated:
            params.w -= cfg.eta * res.grads["w"]
        return res.loss, res.grads, params.as_arrays()

    out = run_loop(cfg.steps, step, log, cfg.log_every, cfg.diverge_norm, f"{cfg.model} SGD", show_progress)
    return TrainResult(config=cfg, status=out.status, message=out.message, steps_done=out.steps_done,
                       history=stack_history(history), loss_per_step=out.losses, params_init=params_init,
                       params=params, final=dict(last), wall_time=time.perf_counter() - t0, extras={"patterns": pat})


def train_stack(cfg: OutlierConfig, show_progress: bool = False,
                params: stack.StackParams | None = None) -> TrainResult:
    """Algorithm 1 on the ``cfg.layers``-block stack (:mod:`mamba_dynamics.outliers.stack`): the same data
    streams, batches, step size and loop as :func:`train`, every block's ``W_B, W_C`` (and ``w`` for Mamba)
    updated from the hand-derived backward pass.  History: ``step``, ``train_loss``, the scalars
    :data:`~mamba_dynamics.outliers.metrics.STACK_SCALAR_KEYS` and the per-block arrays ``(n_log, L)`` of
    :data:`~mamba_dynamics.outliers.metrics.STACK_BLOCK_KEYS`.  BLAS runs on one thread (the products are small:
    more threads cost more than they give, docs/performance.md)."""
    from threadpoolctl import threadpool_limits

    t0 = time.perf_counter()
    rng = seed_streams(cfg.seed)
    pat = make_patterns(cfg, rng["patterns"])
    params = stack.init_stack_params(cfg, rng["init"]) if params is None else params.copy()
    params_init = params.copy()
    clean, noisy = test_sets(cfg, pat, rng["test"])
    gated = cfg.gated
    history = {k: [] for k in ("step", "train_loss", *STACK_SCALAR_KEYS, *STACK_BLOCK_KEYS)}
    last: dict = {}

    def log(step: int, window: np.ndarray) -> dict:
        history["step"].append(step)
        history["train_loss"].append(float(window.mean()) if len(window) else np.nan)
        for k, v in stack_snapshot(params, clean, noisy, gated, cfg.norm).items():
            history[k].append(v)
        last.clear()
        last.update({k: history[k][-1] for k in ("train_loss", *STACK_SCALAR_KEYS, *STACK_BLOCK_KEYS)})
        return {"loss": history["train_loss"][-1], "err": history["test_err"][-1]}

    def step(k: int):
        batch = sample_train(cfg, pat, rng["train"])
        res = stack.loss_and_grad(params.W_B, params.W_C, params.w, batch.P, batch.z, gated, norm=cfg.norm)
        params.W_B -= cfg.eta * res.grads["W_B"]
        params.W_C -= cfg.eta * res.grads["W_C"]
        if gated:
            params.w -= cfg.eta * res.grads["w"]
        return res.loss, res.grads, params.as_arrays()

    with threadpool_limits(1):
        out = run_loop(cfg.steps, step, log, cfg.log_every, cfg.diverge_norm,
                       f"{cfg.layers}-block {cfg.model} SGD", show_progress)
    return TrainResult(config=cfg, status=out.status, message=out.message, steps_done=out.steps_done,
                       history=stack_history(history), loss_per_step=out.losses, params_init=params_init,
                       params=params, final=dict(last), wall_time=time.perf_counter() - t0, extras={"patterns": pat})
