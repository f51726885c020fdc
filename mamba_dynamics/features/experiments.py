"""Reproductions of the feature-filtering paper (arXiv 2602.12499) as functions, and the family's sweep adapter
(:data:`SWEEP`) for phase diagrams.  The scripts in ``scripts/`` are thin wrappers around these.

* :func:`alignment_runs`: both models in both regimes over seeds (Figs. 2 and 4, SSM vs linear attention).
* :func:`scaling_plan` / :func:`run_scaling`: iterations to a target test error along four one-parameter sweeps
  (Thms 1-2; Figs. 1 and 3), each run a resumable cell.

Glossary: ``gap`` = alpha_r - alpha_c; ``delta`` = (1/2)^{Delta L+} - (1/2)^{Delta L-}; ``T`` ``(seeds, k)`` =
iterations to the target (NaN = not reached within the step budget).
"""

from __future__ import annotations

import numpy as np

from ..core.cells import CellStore, cell_key
from ..core.parallel import map_with_progress
from ..core.sweeps import SweepFamily
from .config import MODELS, REGIMES, FeaturesConfig
from .train import train

#: Test error that counts as reached, and the step budget, per regime (scaling sweeps).
TARGET = {"majority": 0.01, "locality": 0.25}
MAX_STEPS = {"majority": 1500, "locality": 2000}


def _history(cfg: FeaturesConfig) -> dict:
    r = train(cfg)
    return {"model": cfg.model, "regime": cfg.regime, "seed": cfg.seed, "history": dict(r.history),
            "status": r.status}


def alignment_runs(seeds: int, jobs: int = 0, show_progress: bool = False) -> list:
    """Train ``ssm`` and ``lt-mlp`` in both regimes (defaults of :class:`FeaturesConfig`) for seeds ``0..seeds-1``;
    a list of dicts with ``model``, ``regime``, ``seed``, ``history``, ``status``."""
    cfgs = [FeaturesConfig(model=m, regime=r, seed=s) for r in REGIMES for m in MODELS for s in range(seeds)]
    return map_with_progress(_history, cfgs, jobs, "runs", show_progress)


def scaling_plan(quick: bool) -> list[dict]:
    """The four sweeps: name, regime, varied quantity, x values and one config (as keywords) per x."""
    maj = dict(regime="majority", n_test=500, log_every=1, target_err=TARGET["majority"], steps=MAX_STEPS["majority"])
    loc = dict(regime="locality", n_test=500, log_every=1, target_err=TARGET["locality"], steps=MAX_STEPS["locality"])
    alphas = [0.2, 0.3, 0.6] if quick else [0.2, 0.25, 0.3, 0.4, 0.6]
    Ls = [10, 20, 40] if quick else [10, 20, 30, 40, 60]
    pairs = [(1, 3), (2, 4), (3, 5)] if quick else [(1, 3), (2, 4), (3, 5), (4, 6)]
    Lloc = [8, 12, 24] if quick else [8, 12, 16, 24, 32]
    return [
        {"name": "majority_gap", "regime": "majority", "var": "gap", "xlabel": "alpha_r - alpha_c",
         "cfgs": [dict(maj, L=20, alpha_r=a, alpha_c=0.1) for a in alphas], "x": [a - 0.1 for a in alphas]},
        {"name": "majority_L", "regime": "majority", "var": "L", "xlabel": "L",
         "cfgs": [dict(maj, L=L, alpha_r=0.3, alpha_c=0.1) for L in Ls], "x": Ls},
        {"name": "locality_delta", "regime": "locality", "var": "delta",
         "xlabel": "delta = (1/2)^{Delta L+} - (1/2)^{Delta L-}",
         "cfgs": [dict(loc, L=16, gap_near=a, gap_far=b) for a, b in pairs],
         "x": [0.5**a - 0.5**b for a, b in pairs]},
        {"name": "locality_L", "regime": "locality", "var": "L", "xlabel": "L",
         "cfgs": [dict(loc, L=L, gap_near=1, gap_far=4) for L in Lloc], "x": Lloc},
    ]


def iterations_to_target(kw: dict) -> dict:
    """One scaling cell: train ``FeaturesConfig(**kw)`` until the target error; ``{"T": iterations or NaN}``."""
    return {"T": np.array(train(FeaturesConfig(**kw), stop_at_target=True).final["iters_to_target"])}


def run_scaling(plan: list[dict], seeds: int, out, jobs: int = 0, bar=None) -> dict:
    """Iterations ``T`` ``(seeds, k)`` per sweep name; every run is a cell under ``<out>/cells`` (resumable)."""
    items = [dict(c, seed=s) for sw in plan for c in sw["cfgs"] for s in range(seeds)]
    keys = [cell_key({"scaling": kw}) for kw in items]
    done = CellStore(out / "cells", "npz").run(list(zip(keys, items)), iterations_to_target, jobs, bar)
    flat = [float(done[k]["T"]) for k in keys]
    out_T, i = {}, 0
    for sw in plan:
        k = len(sw["cfgs"])
        out_T[sw["name"]] = np.array(flat[i:i + k * seeds], dtype=float).reshape(k, seeds).T
        i += k * seeds
    return out_T


# ------------------------------------------------------------------------------------------------------------
# phase diagrams (mamba_dynamics.core.sweeps)
# ------------------------------------------------------------------------------------------------------------

#: Metrics recorded per cell (any can colour a phase diagram).
METRICS = ("test_err", "train_loss", "iters_to_target", "cos_pos", "cos_neg", "cos_irr", "w_pos", "w_neg",
           "w_irr", "gate_rel", "gate_irr", "rel_share", "mlp_pos", "mlp_neg")
DEFAULT_GRIDS = {
    "alpha_r": "0.2:0.6:0.05", "alpha_c": "0:0.1:0.025", "L": "10,12,16,20,24,32,40", "d": "5,10,20,40",
    "gap_near": "1,2,3,4", "gap_far": "2,3,4,5,6,8", "tau": "0:0.5:0.1", "eta": "geom:0.5:8:5",
    "n_train": "100,200,400,800,1600", "m": "10,20,40,80", "model": "ssm,lt-mlp", "regime": "majority,locality",
}


def sweep_group(train_cfg: FeaturesConfig, tests: list, n_eval: int) -> list:
    """Train once (``n_eval`` test sequences); the final tracked quantities and ``iters_to_target`` for the
    (only) cell; raises if training did not complete."""
    run = train(train_cfg.replace(n_test=n_eval))
    if run.status != "completed":
        raise RuntimeError(run.message)
    metrics = {k: float(run.final[k]) for k in METRICS}
    return [dict(metrics) for _ in tests]


def _cost(cfg: FeaturesConfig, n_cells: int, n_eval: int) -> float:
    return cfg.steps * (cfg.n_train + n_eval) * cfg.L * cfg.d * (1 if cfg.gated else cfg.L)


def _probe(cfg: FeaturesConfig) -> FeaturesConfig:
    return cfg.replace(steps=min(cfg.steps, 20))


SWEEP = SweepFamily(
    name="features", config_cls=FeaturesConfig, run_group=sweep_group, metrics=METRICS,
    must_be_finite=("test_err", "train_loss"), test_fields=frozenset(),
    not_axes=frozenset({"seed", "log_every", "diverge_norm", "n_test"}), default_grids=DEFAULT_GRIDS,
    cost=_cost, probe=_probe,
    lower_is_better=("test_err", "train_loss", "iters_to_target"),
)
