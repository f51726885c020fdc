"""SGD training of the outlier-ICL models on prompts with outliers (paper Algorithm 1), in the one loop.

Each step draws a fresh batch of ``B`` training prompts (tasks from ``T_tr``, length ``l_tr``, outliers with
probability ``p_a``) and takes one step ``Psi <- Psi - eta * grad`` of the hinge loss with the model's
hand-derived gradients (:meth:`~mamba_dynamics.core.model.Model.loss_and_grad`, the function the checker
verifies).  The linear Transformer has no gate, so ``w`` stays fixed.  Float64 throughout; the same seed gives
the same numbers.  The model (one layer or a stack of ``cfg.layers`` blocks) comes from
:data:`mamba_dynamics.outliers.models.REGISTRY`; the loop is :func:`mamba_dynamics.core.train.fit`.

Every ``log_every`` steps (and at the first and last step) the model's tracked quantities
(:meth:`~mamba_dynamics.outliers.models.OneLayer.tracked`) are measured on two fixed test sets drawn once: clean
prompts (``alpha = 0``) and prompts with unseen outliers (``cfg.alpha``, ``cfg.label_rule``, ``cfg.placement``).
Divergence guard: a non-finite loss or gradient, or a parameter norm above ``cfg.diverge_norm``, stops training;
the result keeps everything logged so far, with ``status = "diverged"`` and a message naming step and quantity.

Training to a target (``until = eps``, the iteration laws of Thms 1 and 3): the quantity the theorems bound, the
expected hinge loss over *all* tasks on prompts built like the training prompts (eq. 10), is measured on a fixed set
of :data:`N_LOSS` such prompts at every step up to 100 and then every 1 % of the steps done (``loss_all_tasks`` in
the history), and the run stops at the first logged step where it is ``<= eps``; that step is the measured ``T``.
"""

from __future__ import annotations

import time

import numpy as np

from ..core.losses import hinge_loss
from ..core.optim import Optimizer
from ..core.train import TrainResult, fit
from .config import OutlierConfig
from .data import Patterns, make_patterns, sample_test, sample_train, seed_streams
from .models import REGISTRY, TestSets


def test_sets(cfg: OutlierConfig, pat: Patterns, rng: np.random.Generator) -> TestSets:
    """The fixed clean (``alpha = 0``) and outlier test sets of a run, both of ``cfg.n_test`` prompts."""
    clean = sample_test(cfg, pat, rng, alpha=0.0)
    noisy = sample_test(cfg, pat, rng)
    return TestSets(clean, noisy)


#: prompts of the fixed eq.-10 set a run trained ``until`` a target loss is measured on
N_LOSS = 1024


def log_densely(k: int) -> bool:
    """The extra logs of a run trained to a target: every step up to 100, then every ``k // 100`` steps (the
    measured hitting time is within 1 % of the first step at which the target holds)."""
    return k <= 100 or k % (k // 100) == 0


def train(cfg: OutlierConfig, show_progress: bool = False, params=None, until: float | None = None) -> TrainResult:
    """Run Algorithm 1 for ``cfg.steps`` steps on the model of ``cfg`` (one layer, or ``cfg.layers`` blocks);
    never raises on divergence.  ``params``: start from these instead of the initialisation (copied).  ``until``:
    stop at the first logged step where eq. 10's loss (all tasks, training-type prompts) is ``<= until`` (see the
    module docstring; ``history["loss_all_tasks"]``, ``final["reached"]``).

    Returns a :class:`~mamba_dynamics.core.train.TrainResult` whose history holds ``step``, ``train_loss`` (mean
    batch loss since the previous log) and the model's tracked quantities: for one layer every key of
    :data:`~mamba_dynamics.outliers.metrics.SNAPSHOT_KEYS` and the ``(n_log, l_ts)`` Cor. 2 profiles of
    :data:`~mamba_dynamics.outliers.metrics.PROFILE_KEYS`; for a stack the scalars
    :data:`~mamba_dynamics.outliers.metrics.STACK_SCALAR_KEYS` and the per-block arrays ``(n_log, L)`` of
    :data:`~mamba_dynamics.outliers.metrics.STACK_BLOCK_KEYS`.  ``extras["patterns"]`` is the run's
    :class:`~mamba_dynamics.outliers.data.Patterns`."""
    t0 = time.perf_counter()
    model = REGISTRY.build(cfg)
    rng = seed_streams(cfg.seed)
    pat = make_patterns(cfg, rng["patterns"])
    params = model.init_params(rng["init"]) if params is None else params.copy()
    params_init = params.copy()
    tests = test_sets(cfg, pat, rng["test"])
    eq10 = None if until is None else sample_train(cfg, pat, rng["loss"], N_LOSS, tasks="all")
    last = {"loss_all_tasks": np.inf}

    def measure(step: int, window: np.ndarray) -> dict:
        row = {"train_loss": float(window.mean()) if len(window) else np.nan, **model.tracked(params, tests)}
        if eq10 is not None:
            row["loss_all_tasks"] = last["loss_all_tasks"] = hinge_loss(model.predict(params, eq10.P), eq10.z)
        return row

    stop = None if until is None else (lambda k: last["loss_all_tasks"] <= until)
    run = fit(model, params, lambda k: sample_train(cfg, pat, rng["train"]), Optimizer("sgd", cfg.eta), measure,
              steps=cfg.steps, log_every=cfg.log_every, diverge_norm=cfg.diverge_norm, show_progress=show_progress,
              shown={"loss": "train_loss", "err": "test_err"}, desc=f"{model.label} SGD", wall_start=t0,
              stop=stop, log_now=None if until is None else log_densely)
    final = {} if until is None else {"reached": bool(last["loss_all_tasks"] <= until)}
    return run.result(cfg, params_init, params, {"patterns": pat}, **final)
