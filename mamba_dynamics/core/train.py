"""The one training loop every gradient-trained model runs, its divergence guard, its log and its result type.

:func:`fit` is the loop of every family: each step draws a batch (``batches(k)``), asks the model for its loss and
gradients (:meth:`~mamba_dynamics.core.model.Model.loss_and_grad`, the function the gradient checker verifies),
and hands the gradients of the model's trained blocks to an optimiser (:class:`~mamba_dynamics.core.optim.Optimizer`:
SGD for the papers' Algorithm 1 and GD, Adam for the end-to-end networks).  A step whose loss is not finite
updates nothing; the divergence guard (:func:`divergence_problem`) then stops the run with a message naming the
step and the quantity, and everything logged so far is kept.

The tracked quantities are logged in one place, :class:`Tracker`: at step 0, every ``log_every`` steps, at the
last step and wherever ``log_now(k)`` asks, a family's ``measure(k, window)`` returns one row (``window`` = the
per-step losses since the previous log), which becomes one row of ``history`` and, at the end, ``final``.
:func:`run_loop` underneath owns the step counter, the per-step losses, the early stop, Ctrl-C and the progress
bar.  The family then packs everything into one :class:`TrainResult` (:meth:`Fitted.result`).  Pretraining by
closed-form stages (the single-index Algorithm 1: one gradient step, then ridge regression) is not iterative and
has its own code.

Glossary: ``status`` = ``completed`` / ``diverged`` / ``interrupted``; ``history`` = logged quantities, one row
per logged step (``history["step"]`` ``(n_log,)``); ``final`` = the quantities of the last logged step.
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from .progress import progress_bar


class ParamBlocks:
    """Mixin for a family's parameter dataclass whose fields are the named parameter arrays (blocks)."""

    def copy(self):
        """A deep copy (every block copied)."""
        return type(self)(**{f.name: getattr(self, f.name).copy() for f in dataclasses.fields(self)})

    def as_arrays(self, prefix: str = "") -> dict:
        """``{prefix + block name: array}`` for every block, in field order."""
        return {prefix + f.name: getattr(self, f.name) for f in dataclasses.fields(self)}


def divergence_problem(step: int, loss: float, grads: dict, params: dict, limit: float) -> str | None:
    """Why a run must stop at ``step``, or None: a non-finite loss or gradient, or a parameter norm above
    ``limit``.  ``grads`` and ``params`` map block names to arrays.  Called every step, so it takes the cheap
    route first: a finite sum means finite entries (the element-wise test runs only when the sum is not finite,
    which a sum of huge finite entries can also be), and the norm is ``sqrt(v . v)``, what ``np.linalg.norm``
    computes, without its wrapper."""
    if not math.isfinite(loss):
        return f"diverged at step {step}: training loss is {loss}"
    with np.errstate(over="ignore", invalid="ignore"):
        for name, g in grads.items():
            if not math.isfinite(np.add.reduce(g, axis=None)) and not np.isfinite(g).all():
                return f"diverged at step {step}: gradient of {name} is not finite"
    for name, p in params.items():
        v = p.ravel()
        with np.errstate(over="ignore"):  # an overflowing norm is the divergence being reported, not a warning
            norm = math.sqrt(v.dot(v))
        if not norm <= limit:
            return f"diverged at step {step}: ||{name}|| = {norm:.3g} exceeds {limit:.3g}"
    return None


@dataclass
class LoopOutcome:
    """What :func:`run_loop` reports: status, message, completed steps, per-step losses ``(steps_done,)``."""

    status: str
    message: str
    steps_done: int
    losses: np.ndarray


def run_loop(steps: int, step: Callable[[int], tuple], log: Callable[[int, np.ndarray], dict], log_every: int,
             diverge_norm: float, desc: str = "training", show_progress: bool = False,
             stop: Callable[[int], bool] | None = None, log_now: Callable[[int], bool] | None = None) -> LoopOutcome:
    """Run ``step(1..steps)``, logging at 0, every ``log_every`` steps, at ``steps`` and at any step where
    ``log_now(k)`` is true (a cheap check between logs); never raises on divergence or Ctrl-C (they end the loop
    with that status).  ``stop(k)``, checked after each log, ends the loop early as completed.  ``log`` returns a
    dict of numbers shown on the progress bar."""
    losses = np.empty(steps)
    status, message, since = "completed", "", 0
    log(0, losses[:0])
    bar = progress_bar(total=steps, desc=desc, enabled=show_progress)
    k = 0
    try:
        for k in range(1, steps + 1):
            loss, grads, params = step(k)
            losses[k - 1] = loss
            problem = divergence_problem(k, loss, grads, params, diverge_norm)
            if problem:
                status, message = "diverged", problem
                break
            if k % log_every == 0 or k == steps or (log_now is not None and log_now(k)):
                shown = log(k, losses[since:k])
                since = k
                bar.set_postfix(**{name: f"{v:.3f}" for name, v in shown.items()})
                if stop is not None and stop(k):
                    bar.update(1)
                    break
            bar.update(1)
    except KeyboardInterrupt:
        status, message = "interrupted", f"interrupted at step {k}"
        k -= 1
    finally:
        bar.close()
    done = k if status == "completed" else max(k - (status == "diverged"), 0)
    return LoopOutcome(status, message, done, losses[:done].copy())


class Tracker:
    """The one log of tracked quantities: ``record(k, window)`` calls ``measure(k, window)`` (a dict of numbers
    or arrays, the same keys every time) and appends its values, after the step, to :attr:`rows`; ``shown`` maps
    progress-bar labels to keys (``{"loss": "train_loss"}``)."""

    def __init__(self, measure: Callable[[int, np.ndarray], dict], shown: dict):
        self.measure = measure
        self.shown = shown
        self.rows: dict = {"step": []}
        self.last: dict = {}

    def record(self, step: int, window: np.ndarray) -> dict:
        row = self.measure(step, window)
        self.rows["step"].append(step)
        for key, value in row.items():
            self.rows.setdefault(key, []).append(value)
        self.last = row
        return {label: row[key] for label, key in self.shown.items()}

    def history(self) -> dict:
        """The logged rows as float64 arrays (:func:`stack_history`)."""
        return stack_history(self.rows)


@dataclass
class Fitted:
    """What :func:`fit` returns: the loop's outcome and the tracker's log."""

    outcome: LoopOutcome
    history: dict
    last: dict
    wall_start: float

    def result(self, cfg, params_init, params, extras: dict | None = None, **final) -> "TrainResult":
        """The run's :class:`TrainResult`: ``final`` = the last logged row, plus the keywords given."""
        out = self.outcome
        return TrainResult(config=cfg, status=out.status, message=out.message, steps_done=out.steps_done,
                           history=self.history, loss_per_step=out.losses, params_init=params_init, params=params,
                           final={**self.last, **final}, wall_time=time.perf_counter() - self.wall_start,
                           extras=dict(extras or {}))


def fit(model, params, batches: Callable[[int], object], optimizer, measure: Callable[[int, np.ndarray], dict],
        *, steps: int, log_every: int, diverge_norm: float, show_progress: bool = False, shown: dict | None = None,
        desc: str = "", stop: Callable[[int], bool] | None = None,
        log_now: Callable[[int], bool] | None = None, wall_start: float | None = None) -> Fitted:
    """Train ``params`` (updated in place) of ``model`` for ``steps`` steps; never raises on divergence or Ctrl-C.

    ``batches(k)`` gives step ``k``'s batch; ``optimizer.step(blocks, grads)`` updates the model's
    :attr:`~mamba_dynamics.core.model.Model.trained` blocks; ``measure(k, window)`` is the family's row of tracked
    quantities (:class:`Tracker`); ``shown``: progress-bar labels -> keys; ``stop(k)`` (after a log) ends the run
    early as completed; ``log_now(k)`` asks for a log between the regular ones.  The guard sees every gradient the
    model returned and the blocks of those names.  The loop runs under ``model.blas_threads`` BLAS threads when
    the model sets them."""
    t0 = time.perf_counter() if wall_start is None else wall_start
    blocks = {name: getattr(params, name) for name in model.trained}
    tracker = Tracker(measure, shown or {})

    def step(k: int):
        res = model.loss_and_grad(params, batches(k))
        if math.isfinite(res.loss):
            optimizer.step(blocks, res.grads)
        arrays = params.as_arrays()
        return res.loss, res.grads, {name: a for name, a in arrays.items() if name in res.grads}

    def loop():
        return run_loop(steps, step, tracker.record, log_every, diverge_norm, desc or f"{model.label} training",
                        show_progress, stop=stop, log_now=log_now)

    if model.blas_threads is None:
        outcome = loop()
    else:
        from threadpoolctl import threadpool_limits

        with threadpool_limits(model.blas_threads):
            outcome = loop()
    return Fitted(outcome, tracker.history(), dict(tracker.last), t0)


def stack_history(history: dict) -> dict:
    """Lists of logged values -> float64 arrays (one row per logged step)."""
    return {k: np.asarray(v, dtype=np.float64) for k, v in history.items()}


@dataclass
class TrainResult:
    """Outcome of a family's ``train``: the same fields for every model.

    history: ``step`` ``(n_log,)`` plus one row per logged step of each tracked quantity (scalars ``(n_log,)``,
    profiles ``(n_log, k)``); loss_per_step: ``(steps_done,)``; params_init / params: the family's parameter
    container (with ``as_arrays(prefix)``); final: every quantity of the last logged step (scalars and arrays);
    extras: fixed objects the run drew and that later evaluation needs (an ndarray, or an object with
    ``as_arrays(prefix)``), saved with the run under their name.
    """

    config: object
    status: str
    message: str
    steps_done: int
    history: dict
    loss_per_step: np.ndarray
    params_init: object
    params: object
    final: dict = field(default_factory=dict)
    wall_time: float = 0.0
    extras: dict = field(default_factory=dict)

    def arrays(self) -> dict:
        """Every array of the run, flat, for ``np.savez``: ``hist_<key>``, ``loss_per_step``, ``init_<block>``,
        ``final_<block>``, ``final_<quantity>`` and the extras."""
        out = trajectory_arrays(self)
        for k, v in self.final.items():
            out[f"final_{k}"] = np.asarray(v)
        for name, obj in self.extras.items():
            out.update(obj.as_arrays(f"{name}_") if hasattr(obj, "as_arrays") else {name: np.asarray(obj)})
        return out

    def summary(self) -> dict:
        """The scalar quantities of the last logged step (for tables and the JSON sidecar)."""
        return {k: float(v) for k, v in self.final.items() if np.ndim(v) == 0}


def trajectory_arrays(result: TrainResult) -> dict:
    """``hist_<key>`` for each logged quantity, ``loss_per_step`` and the parameters before (``init_*``) and after
    (``final_*``) training."""
    out = {f"hist_{k}": v for k, v in result.history.items()}
    out["loss_per_step"] = result.loss_per_step
    out.update(result.params_init.as_arrays("init_"))
    out.update(result.params.as_arrays("final_"))
    return out


__all__ = ("ParamBlocks", "divergence_problem", "run_loop", "LoopOutcome", "Tracker", "Fitted", "fit", "TrainResult",
           "trajectory_arrays", "stack_history")
