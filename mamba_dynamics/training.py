"""SGD training of one-layer Mamba / the linear Transformer on ICL prompts with outliers (paper Algorithm 1).

Each step draws a fresh batch of ``B`` training prompts (tasks from ``T_tr``, length ``l_tr``, outliers with
probability ``p_a``) and takes one step ``Psi <- Psi - eta * grad`` of the hinge loss with the hand-derived
Numba gradients (:mod:`mamba_dynamics.gradients`).  The linear Transformer has no gate, so ``w`` stays fixed.
Float64 throughout; the same seed gives the same numbers.

Every ``log_every`` steps (and at the first and last step) :func:`mamba_dynamics.metrics.snapshot` is measured on
two fixed test sets drawn once: clean prompts (``alpha = 0``) and prompts with unseen outliers (``cfg.alpha``,
``cfg.label_rule``, ``cfg.placement``).

Divergence guard: a non-finite loss or gradient, or a parameter norm above ``cfg.diverge_norm``, stops training;
the result keeps everything logged so far, with ``status = "diverged"`` and a message naming step and quantity.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from .config import OutlierConfig
from .data import Patterns, PromptBatch, make_patterns, sample_test, sample_train, seed_streams
from .gradients import loss_and_grad
from .metrics import SNAPSHOT_KEYS, snapshot_with_profile
from .models import Params, init_params
from .progress import progress_bar

PROFILE_KEYS = ("gate_by_rank", "gate_by_pos_clean", "gate_by_pos_outlier")


def trajectory_arrays(result) -> dict:
    """The arrays every training run saves, flat for ``np.savez``: ``hist_<key>`` for each logged quantity,
    ``loss_per_step`` and the parameters before (``init_*``) and after (``final_*``) training; ``result`` has
    ``history``, ``loss_per_step``, ``params_init`` and ``params`` (with ``as_arrays(prefix)``)."""
    out = {f"hist_{k}": v for k, v in result.history.items()}
    out["loss_per_step"] = result.loss_per_step
    out.update(result.params_init.as_arrays("init_"))
    out.update(result.params.as_arrays("final_"))
    return out


@dataclass
class RunResult:
    """Outcome of :func:`train`.

    history: ``step`` ``(n_log,)`` plus one ``(n_log,)`` array per key of
    :data:`mamba_dynamics.metrics.SNAPSHOT_KEYS` and ``train_loss`` (mean batch loss since the previous log), and
    ``(n_log, l_ts)`` arrays ``gate_by_rank``, ``gate_by_pos_clean``, ``gate_by_pos_outlier`` (Cor. 2 profiles);
    loss_per_step: ``(steps_done,)``; final: last snapshot plus the gate profiles of Cor. 2.
    """

    config: OutlierConfig
    status: str
    message: str
    steps_done: int
    history: dict
    loss_per_step: np.ndarray
    params_init: Params
    params: Params
    final: dict = field(default_factory=dict)
    wall_time: float = 0.0
    patterns: Patterns | None = None

    def arrays(self) -> dict:
        """Every array of the run, flat, for ``np.savez``."""
        out = trajectory_arrays(self)
        for k, v in self.final.items():
            out[f"final_{k}"] = np.asarray(v)
        if self.patterns is not None:
            for k in ("mu", "nu", "vstar", "vtest"):
                out[f"pattern_{k}"] = getattr(self.patterns, k)
        return out

    def summary(self) -> dict:
        """Scalars of the final state (for tables and JSON)."""
        return {k: float(v) for k, v in self.final.items() if np.ndim(v) == 0}


def test_sets(cfg: OutlierConfig, pat: Patterns, rng: np.random.Generator) -> tuple[PromptBatch, PromptBatch]:
    """The fixed clean (``alpha = 0``) and outlier test sets of a run, both of ``cfg.n_test`` prompts."""
    clean = sample_test(cfg, pat, rng, alpha=0.0)
    noisy = sample_test(cfg, pat, rng)
    return clean, noisy


def divergence_problem(step: int, loss: float, grads: dict, params: dict, limit: float) -> str | None:
    """Why a run must stop at ``step``, or None: a non-finite loss or gradient, or a parameter norm above
    ``limit``.  ``grads`` and ``params`` map block names to arrays (shared by every training loop)."""
    if not np.isfinite(loss):
        return f"diverged at step {step}: training loss is {loss}"
    for name, g in grads.items():
        if not np.all(np.isfinite(g)):
            return f"diverged at step {step}: gradient of {name} is not finite"
    for name, p in params.items():
        norm = float(np.linalg.norm(p))
        if not norm <= limit:
            return f"diverged at step {step}: ||{name}|| = {norm:.3g} exceeds {limit:.3g}"
    return None


def train(cfg: OutlierConfig, show_progress: bool = False, params: Params | None = None) -> RunResult:
    """Run Algorithm 1 for ``cfg.steps`` steps and return a :class:`RunResult` (never raises on divergence)."""
    t0 = time.perf_counter()
    rng = seed_streams(cfg.seed)
    pat = make_patterns(cfg, rng["patterns"])
    params = init_params(cfg, rng["init"]) if params is None else params.copy()
    params_init = params.copy()
    clean, noisy = test_sets(cfg, pat, rng["test"])
    gated = cfg.gated

    history = {k: [] for k in ("step", "train_loss", *SNAPSHOT_KEYS, *PROFILE_KEYS)}
    losses = np.empty(cfg.steps)
    status, message, since = "completed", "", 0
    last_profile: dict = {}

    def log(step: int) -> None:
        history["step"].append(step)
        window = losses[since:step]
        history["train_loss"].append(float(window.mean()) if len(window) else np.nan)
        scalars, prof = snapshot_with_profile(params, clean, noisy, gated)
        for k, v in scalars.items():
            history[k].append(v)
        for k in PROFILE_KEYS:  # Cor. 2 decay with distance, at every logged step
            history[k].append(prof[k])
        last_profile.clear()
        last_profile.update(prof)

    log(0)
    bar = progress_bar(total=cfg.steps, desc=f"{cfg.model} SGD", enabled=show_progress)
    step = 0
    try:
        for step in range(1, cfg.steps + 1):
            batch = sample_train(cfg, pat, rng["train"])
            res = loss_and_grad(params.W_B, params.W_C, params.w, batch.P, batch.z, gated)
            losses[step - 1] = res.loss
            params.W_B -= cfg.eta * res.gW_B
            params.W_C -= cfg.eta * res.gW_C
            if gated:
                params.w -= cfg.eta * res.gw
            problem = divergence_problem(step, res.loss, {"W_B": res.gW_B, "W_C": res.gW_C, "w": res.gw},
                                         {"W_B": params.W_B, "W_C": params.W_C, "w": params.w}, cfg.diverge_norm)
            if problem:
                status, message = "diverged", problem
                break
            if step % cfg.log_every == 0 or step == cfg.steps:
                log(step)
                since = step
                bar.set_postfix(loss=f"{history['train_loss'][-1]:.3f}", err=f"{history['test_err'][-1]:.3f}")
            bar.update(1)
    except KeyboardInterrupt:
        status, message = "interrupted", f"interrupted at step {step}"
        step -= 1
    finally:
        bar.close()
    steps_done = step if status == "completed" else max(step - (status == "diverged"), 0)

    final: dict = {}
    if status == "completed":
        final = {k: history[k][-1] for k in ("train_loss", *SNAPSHOT_KEYS)}
        final.update(last_profile)  # the last step is always logged
    return RunResult(
        config=cfg,
        status=status,
        message=message,
        steps_done=steps_done,
        history={k: np.asarray(v, dtype=np.float64) for k, v in history.items()},
        loss_per_step=losses[:steps_done].copy(),
        params_init=params_init,
        params=params,
        final=final,
        wall_time=time.perf_counter() - t0,
        patterns=pat,
    )
