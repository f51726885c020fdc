"""The one training loop every gradient-trained model runs, its divergence guard and its result type.

:func:`run_loop` owns what all families share: the step counter, the per-step losses, logging at step 0, every
``log_every`` steps and at the last step, the divergence guard (:func:`divergence_problem`), an optional early stop,
Ctrl-C, and the progress bar.  A family supplies two closures: ``step(k)`` draws its batch, computes the loss and
gradients with its checked kernel, updates its parameters and returns ``(loss, grads, params)`` (dicts of arrays
by block name, for the guard); ``log(k, window)`` measures its tracked quantities (``window`` = the per-step
losses since the previous log) and returns a few numbers for the progress bar.

The family then packs everything into one :class:`TrainResult`.  Pretraining by closed-form stages (the
single-index Algorithm 1) is not SGD and has its own code.

Glossary: ``status`` = ``completed`` / ``diverged`` / ``interrupted``; ``history`` = logged quantities, one row
per logged step (``history["step"]`` ``(n_log,)``); ``final`` = the quantities of the last logged step.
"""

from __future__ import annotations

import dataclasses
import math
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


__all__ = ("ParamBlocks", "divergence_problem", "run_loop", "LoopOutcome", "TrainResult", "trajectory_arrays", "stack_history")
