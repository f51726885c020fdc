"""Reproductions of the feature-filtering paper (arXiv 2602.12499) as functions, and the family's sweep adapter
(:data:`SWEEP`) for phase diagrams.  The scripts in ``scripts/`` are thin wrappers around these.

* :func:`alignment_runs`: both models in both regimes over seeds (Figs. 2 and 4, SSM vs linear attention).
* :func:`scaling_plan` / :func:`run_scaling`: iterations to a target test error along four one-parameter sweeps
  (Thms 1-2; Figs. 1 and 3), each run a resumable cell.

* :data:`STUDIES` / :func:`run_study`: the paper's further experiments on its own model (Eqs. 5-6): gating removed
  (Figs. 11-12), local concentration for Mamba vs global vs windowed linear attention (Fig. 6), larger d with
  varying alpha_c (Figs. 13-18), and the sensitivity of the conclusions to the step size and ``W^(0)`` scale the
  paper does not give.  Each run is a resumable cell.

Glossary: ``gap`` = alpha_r - alpha_c; ``delta`` = (1/2)^{Delta L+} - (1/2)^{Delta L-}; ``T`` ``(seeds, k)`` =
iterations to the target (NaN = not reached within the step budget).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..core.cells import CellStore, cell_key
from ..core.parallel import map_with_progress
from ..core.sweeps import SweepFamily
from .config import MODELS, PAPER_SUCCESS_LOSS, REGIMES, FeaturesConfig
from .train import train

#: Test error that counts as reached, and the step budget, per regime (scaling sweeps).
TARGET = {"majority": 0.01, "locality": 0.25}
MAX_STEPS = {"majority": 1500, "locality": 1000}


def _history(cfg: FeaturesConfig) -> dict:
    r = train(cfg)
    return {"model": cfg.model, "regime": cfg.regime, "seed": cfg.seed, "history": dict(r.history),
            "status": r.status}


def alignment_runs(seeds: int, jobs: int = 0, show_progress: bool = False) -> list:
    """Train ``ssm`` and ``lt-mlp`` in both regimes (defaults of :class:`FeaturesConfig`) for seeds ``0..seeds-1``;
    a list of dicts with ``model``, ``regime``, ``seed``, ``history``, ``status``."""
    cfgs = [FeaturesConfig(model=m, regime=r, seed=s) for r in REGIMES for m in MODELS for s in range(seeds)]
    return map_with_progress(_history, cfgs, jobs, "runs", show_progress)


#: Step size of the majority-voting iteration sweeps: at the default eta = 2 the largest gaps converge in 1-2
#: steps, too few for integer counts to resolve a slope; iterations scale as 1/eta, so a smaller step only
#: stretches the counts (docs/features.md).
SCALING_ETA_MAJORITY = 0.5


def scaling_plan(quick: bool) -> list[dict]:
    """The iteration sweeps: name, regime, varied quantity, x values and one config (as keywords) per x; the four
    of the theorems (gate learned) and three with the gate fixed (``<name>_gate_fixed``, ``gate = "fixed"``)."""
    # full logs every 25 steps: with stop_at_target the test error alone is checked after every step, so the
    # iteration counts are those of log_every = 1 (features.train)
    maj = dict(regime="majority", n_test=500, log_every=25, target_err=TARGET["majority"],
               steps=MAX_STEPS["majority"], eta=SCALING_ETA_MAJORITY)
    loc = dict(regime="locality", n_test=500, log_every=25, target_err=TARGET["locality"], steps=MAX_STEPS["locality"])
    gaps = [0.2, 0.3, 0.6] if quick else [0.2, 0.25, 0.3, 0.4, 0.5, 0.6]
    Ls = [10, 20, 40] if quick else [10, 20, 30, 40, 50, 60, 80]  # alpha_r L and alpha_c L whole: the gap is exactly 0.2
    pairs = [(1, 3), (2, 4), (3, 5)] if quick else [(1, 2), (1, 3), (1, 5), (2, 4), (2, 6)]
    Lloc = [8, 12, 24] if quick else [8, 12, 16, 24]
    loc = dict(loc, steps=MAX_STEPS["locality"])
    plan = [
        {"name": "majority_gap", "regime": "majority", "var": "gap", "xlabel": "alpha_r - alpha_c",
         "cfgs": [dict(maj, L=20, alpha_r=a, alpha_c=0.1) for a in gaps], "x": [round(a - 0.1, 10) for a in gaps]},
        {"name": "majority_L", "regime": "majority", "var": "L", "xlabel": "L",
         "cfgs": [dict(maj, L=L, alpha_r=0.3, alpha_c=0.1) for L in Ls], "x": Ls},
        {"name": "locality_delta", "regime": "locality", "var": "delta",
         "xlabel": "delta = (1/2)^{Delta L+} - (1/2)^{Delta L-}",
         "cfgs": [dict(loc, L=16, gap_near=a, gap_far=b) for a, b in pairs],
         "x": [0.5**a - 0.5**b for a, b in pairs]},
        {"name": "locality_L", "regime": "locality", "var": "L", "xlabel": "L",
         "cfgs": [dict(loc, L=L, gap_near=1, gap_far=4) for L in Lloc], "x": Lloc},
    ]
    # the same sweeps with the gate removed (w = 0): how much of each law the head alone produces
    fixed = [dict(sw, name=f"{sw['name']}_gate_fixed", gate="fixed",
                  cfgs=[dict(c, gate="fixed") for c in sw["cfgs"]]) for sw in plan if sw["name"] != "majority_L"]
    # (run by name: the script's default leaves out the locality *_gate_fixed sweeps, see DEFAULT_SWEEPS)
    return plan + fixed


#: Sweeps the scaling script runs by default (the gate-fixed locality sweeps are available by name: the gating
#: study already shows the fixed gate learning that regime, and each of their runs costs a full step budget).
DEFAULT_SWEEPS = ("majority_gap", "majority_L", "locality_delta", "locality_L", "majority_gap_gate_fixed", "samples")


#: Sample-complexity sweep: test error after a fixed budget of GD steps on N training sequences, for several d
#: (majority voting, L = 20, alpha_r - alpha_c = 0.1: 4 relevant against 2 confusing tokens; at the 0.2 gap of the
#: other sweeps 8 sequences already give zero error at every d, so nothing can be fitted).  Thm 1 predicts
#: ``N_min ~ d`` at fixed gap and eta.
SAMPLE_TARGET = 0.05


def sample_plan(quick: bool, d=None) -> dict:
    """Grid of the sample-complexity sweep: ``d`` values (``d`` overrides them, e.g. the paper's 32, 64, 128),
    ``N`` values and the shared config keywords."""
    ds = list(d) if d else ([8, 32] if quick else [8, 16, 32, 64])
    return {"d": ds, "N": [4, 16, 64] if quick else [2, 4, 8, 16, 32, 64, 128],
            "base": dict(regime="majority", L=20, alpha_r=0.2, alpha_c=0.1, steps=100 if quick else 300, log_every=50,
                         n_test=1000)}


def final_test_error(kw: dict) -> dict:
    """One sample-complexity cell: the final test error of ``FeaturesConfig(**kw)``."""
    return {"err": np.array(train(FeaturesConfig(**kw)).history["test_err"][-1])}


def run_samples(plan: dict, seeds: int, out, jobs: int = 0, bar=None) -> np.ndarray:
    """Final test errors ``(len(d), len(N), seeds)`` of the sample-complexity sweep (cells under ``<out>/cells``)."""
    items = [dict(plan["base"], d=d, n_train=n, seed=s) for d in plan["d"] for n in plan["N"] for s in range(seeds)]
    keys = [cell_key({"samples": kw}) for kw in items]
    done = CellStore(out / "cells", "npz").run(list(zip(keys, items)), final_test_error, jobs, bar)
    return np.array([float(done[k]["err"]) for k in keys]).reshape(len(plan["d"]), len(plan["N"]), seeds)


def n_min(N, err, target: float = SAMPLE_TARGET) -> float:
    """Smallest N at which the test error ``err`` ``(len(N),)`` reaches ``target`` and stays there for every
    larger N of the grid, interpolated in log N between the neighbouring grid points (NaN if never)."""
    N, err = np.asarray(N, float), np.asarray(err, float)
    above = np.flatnonzero(err > target)
    if len(above) == 0:
        return float(N[0])
    i = above[-1]
    if i == len(N) - 1:
        return float("nan")
    e0, e1 = err[i], err[i + 1]
    frac = (e0 - target) / (e0 - e1)
    return float(np.exp(np.log(N[i]) + frac * (np.log(N[i + 1]) - np.log(N[i]))))


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
# the paper's further experiments (Figs. 5, 6, 11-18) and the sensitivity to the open choices
# ------------------------------------------------------------------------------------------------------------

#: Steps of the local-concentration studies (the regime converges slowly; docs/features.md).
LOCALITY_STEPS = 1000
#: Window of the local linear attention in Fig. 6 (the near pair, Delta L^+ = 1, fits; the far pair does not).
LOCAL_WINDOW = 3
#: Curves kept from every study run, ``(n_log,)`` each (plus ``w_proj`` ``(n_log, d)``).
STUDY_KEYS = ("step", "test_err", "test_loss", "train_err", "train_loss", "cos_pos", "cos_neg", "cos_irr",
              "cos_irr_min", "w_pos", "w_neg", "w_irr", "gate_rel", "gate_irr", "beta_next", "mlp_pos", "mlp_neg",
              "mlp_pos_max", "mlp_neg_max", "lucky_frac", "w_proj", "attn_rel", "attn_near")


def _study_runs(name: str, quick: bool) -> list[tuple[str, dict]]:
    """``(label, config keywords)`` of one study (before seeds)."""
    small = dict(n_train=300, n_test=300) if quick else {}
    loc = dict(regime="locality", steps=300 if quick else LOCALITY_STEPS, log_every=10 if quick else 25, **small)
    maj = dict(regime="majority", log_every=5, **small)
    if name == "gating":  # Figs. 11-12: Delta fixed (w = 0, every gate 1/2) vs learned, both regimes
        return [(f"{r} {g}", dict(base, gate=g)) for r, base in (("majority", maj), ("locality", loc))
                for g in ("learned", "fixed")]
    if name == "models":  # Fig. 6: local concentration, Mamba vs global vs windowed attention (linear and softmax)
        return [("ssm, gate learned", dict(loc, gate="learned")), ("ssm, gate fixed", dict(loc, gate="fixed")),
                ("lt-mlp global", dict(loc, model="lt-mlp")),
                (f"lt-mlp window {LOCAL_WINDOW}", dict(loc, model="lt-mlp", window=LOCAL_WINDOW)),
                ("st-mlp global", dict(loc, model="st-mlp")),
                (f"st-mlp window {LOCAL_WINDOW}", dict(loc, model="st-mlp", window=LOCAL_WINDOW))]
    if name == "dims":  # Figs. 13-18: d in {32, 64, 128}, varying alpha_c (majority voting, L = 20)
        ds = (32,) if quick else (32, 64, 128)
        return [(f"d={d} alpha_c={ac}", dict(maj, d=d, L=20, alpha_r=0.3, alpha_c=ac, steps=100 if quick else 200,
                                             log_every=5)) for d in ds for ac in (0.0, 0.1, 0.2)]
    if name == "gaps":  # local concentration at other pair distances (Lemma 4.2 has (1/2)^(Delta L^+ - 2))
        pairs = ((1, 4), (2, 5)) if quick else ((1, 4), (2, 5), (3, 6))
        return [(f"gaps {a},{b} {g}", dict(loc, gap_near=a, gap_far=b, gate=g)) for a, b in pairs
                for g in ("learned", "fixed")]
    if name == "fixed_sigma":  # Figs. 11-12 over the fixed gate's value (the paper does not give it), and learned
        pairs = ((1, 4),) if quick else SIGN_PAIRS
        sigmas = (0.1, 0.5, 0.9) if quick else FIXED_SIGMAS
        return [(f"gaps {a},{b} fixed sigma={sg:g}", dict(loc, gap_near=a, gap_far=b, gate="fixed", gate_sigma=sg))
                for a, b in pairs for sg in sigmas] + \
               [(f"gaps {a},{b} learned", dict(loc, gap_near=a, gap_far=b)) for a, b in pairs]
    if name == "trajectory":  # why the learned gate fails: 4x longer runs, the irrelevant gate against sigma*
        pairs = ((1, 4),) if quick else ((1, 4), (3, 6))
        steps = 600 if quick else TRAJECTORY_STEPS
        return [(f"gaps {a},{b} learned, {steps} steps", dict(loc, gap_near=a, gap_far=b, steps=steps,
                                                              log_every=max(steps // 80, 1))) for a, b in pairs]
    if name == "paper_protocol":  # Figs. 4, 6, 11-12 under the paper's protocol (d = 32, m = 50, many trials)
        pairs = ((1, 4),) if quick else ((1, 4), (3, 6))
        ploc = dict(loc, preset="paper")
        models = (("ssm, gate learned", {}), ("ssm, gate fixed", dict(gate="fixed")),
                  ("lt-mlp global", dict(model="lt-mlp")), (f"lt-mlp window {LOCAL_WINDOW}",
                                                            dict(model="lt-mlp", window=LOCAL_WINDOW)),
                  ("st-mlp global", dict(model="st-mlp")))
        return [(f"gaps {a},{b} {label}", dict(ploc, gap_near=a, gap_far=b, **kw)) for a, b in pairs
                for label, kw in (models[:2] if quick else models)]
    if name == "sensitivity":  # the open choices: step size and W^(0) scale, both regimes
        etas = {"majority": (0.5, 2.0, 8.0), "locality": (5.0, 20.0, 80.0)}
        return [(f"{r} eta={e} wbc0={s}", dict(base, eta=e, wbc0=s)) for r, base in (("majority", maj), ("locality", loc))
                for e in etas[r] for s in (0.5, 1.0, 2.0)]
    raise ValueError(f"unknown study {name!r}")


STUDIES = ("gating", "models", "gaps", "dims", "sensitivity", "fixed_sigma", "trajectory", "paper_protocol")
#: the pair distances of the gate studies: Delta L+ = 1 (the sign law's opening gate) and two where it predicts
#: Lemma 4.2's closing one (features.theory.irrelevant_push)
SIGN_PAIRS = ((1, 4), (2, 5), (3, 6))
#: the fixed gate values swept (gating removed at every Delta, not only at w = 0)
FIXED_SIGMAS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
#: steps of the trajectory study (4x the locality default)
TRAJECTORY_STEPS = 4000


def block_steps(cfg: FeaturesConfig, seed: int = 0) -> dict:
    """The first SGD step's size per trained block at initialisation: ``eta ||grad||`` for ``w`` (which starts at
    0) and ``eta ||grad|| / ||block||`` for the others, on the run's own training set: how fast each block moves
    at the start (the trajectory study's evidence)."""
    from .data import make_basis, sample, seed_streams
    from .models import REGISTRY

    model = REGISTRY.build(cfg.replace(seed=seed))
    rng = seed_streams(seed)
    O = make_basis(cfg.d, rng["basis"])
    params = model.init_params(rng["init"])
    batch = sample(cfg, O, cfg.n_train, rng["train"])
    grads = model.loss_and_grad(params, batch).grads
    out = {}
    for name, g in grads.items():
        size = cfg.eta * float(np.linalg.norm(g))
        norm = float(np.linalg.norm(getattr(params, name)))
        out[name] = size if name == "w" or norm == 0 else size / norm
    return out


#: the Eq. 5 mixer's gates compared (2510.00399 App. E.6 in 2602.12499's model) and what each run keeps
GATE_TYPES_COMPARED = ("mamba", "mamba2", "gret", "retnet", "gla")
GATE_KEYS = ("test_err", "cos_pos", "cos_neg", "cos_irr", "w_irr", "gate_rel", "gate_irr", "iters_to_target")


def gate_cell(kw: dict) -> dict:
    """One run of the gate comparison: the final values of :data:`GATE_KEYS` of ``FeaturesConfig(**kw)``."""
    r = train(FeaturesConfig(**kw))
    out = {k: np.array(float(r.final[k])) for k in GATE_KEYS}
    out["status_ok"] = np.array(r.status == "completed")
    return out


def gate_family(regimes, gate_types, seeds, out, jobs: int = 0, bar=None, base: dict | None = None) -> dict:
    """The Eq. 5 model (``ssm``, paper reading, ``W_B``, ``W_C`` frozen) with each gate of ``gate_types`` in each
    regime (the regime's defaults and ``base``), for ``seeds``: ``{(regime, gate_type): {key: (seeds,)}}`` over
    :data:`GATE_KEYS` (cells under ``<out>/cells``, resumable)."""
    items = [dict(base or {}, model="ssm", regime=r, gate_type=g, seed=s) for r in regimes for g in gate_types
             for s in seeds]
    keys = [cell_key({"gate_family": kw}) for kw in items]
    done = CellStore(Path(out) / "cells", "npz").run(list(zip(keys, items)), gate_cell, jobs, bar)
    res = {}
    for kw, k in zip(items, keys):
        cell = res.setdefault((kw["regime"], kw["gate_type"]), {name: [] for name in GATE_KEYS + ("status_ok",)})
        for name in GATE_KEYS + ("status_ok",):
            cell[name].append(float(done[k][name]))
    return {key: {name: np.array(v) for name, v in cell.items()} for key, cell in res.items()}


def study_cell(kw: dict) -> dict:
    """One study run: train ``FeaturesConfig(**kw)``; the curves of :data:`STUDY_KEYS` and the final scalars."""
    r = train(FeaturesConfig(**kw))
    out = {k: np.asarray(r.history[k], dtype=np.float64) for k in STUDY_KEYS}
    out["status_ok"] = np.array(r.status == "completed")
    return out


def run_study(name: str, seeds: int, out, jobs: int = 0, bar=None, quick: bool = False) -> list[dict]:
    """Every run of study ``name`` for seeds ``0..seeds-1`` (cells under ``<out>/cells``, resumable): a list of
    ``{"label", "config", "seed", **curves}``."""
    runs = [(label, dict(kw, seed=s)) for label, kw in _study_runs(name, quick) for s in range(seeds)]
    keys = [cell_key({"study": kw}) for _, kw in runs]
    done = CellStore(out / "cells", "npz").run(list(zip(keys, [kw for _, kw in runs])), study_cell, jobs, bar)
    return [dict(done[k], label=label, config=kw, seed=kw["seed"]) for k, (label, kw) in zip(keys, runs)]


def study_configs(name: str, quick: bool = False) -> list[FeaturesConfig]:
    """The configs of study ``name`` (one seed), e.g. to check the largest against the memory limit first."""
    return [FeaturesConfig(**kw) for _, kw in _study_runs(name, quick)]


def scaling_configs(plan: list[dict], samples: dict | None) -> list[FeaturesConfig]:
    """The configs of the iteration sweeps ``plan`` and the sample-complexity grid ``samples`` (one seed)."""
    cfgs = [FeaturesConfig(**kw) for sw in plan for kw in sw["cfgs"]]
    if samples is not None:
        cfgs += [FeaturesConfig(**dict(samples["base"], d=d, n_train=n)) for d in samples["d"] for n in samples["N"]]
    return cfgs


def study_size(name: str, seeds: int, quick: bool = False) -> int:
    return len(_study_runs(name, quick)) * seeds


def study_seeds(name: str, seeds: int) -> int:
    """How many seeds study ``name`` runs when ``seeds`` are asked for: the sensitivity grid one (it is a grid of
    18 settings), the larger-d and pair-distance studies at most two (their runs are the longest), the others
    all."""
    if name == "sensitivity":
        return 1
    return min(seeds, 2) if name in ("dims", "gaps", "fixed_sigma", "trajectory") else seeds  # paper_protocol: all


#: the final values a study reports per label (mean and std over seeds)
STUDY_FINAL = ("test_err", "train_err", "cos_pos", "cos_neg", "cos_irr", "w_pos", "w_neg", "w_irr", "gate_rel",
               "gate_irr", "mlp_pos", "mlp_neg", "mlp_pos_max", "mlp_neg_max", "lucky_frac")


def study_setting(runs: list) -> str:
    """One line per regime in ``runs`` (:func:`run_study`): the shared sizes and the regime's step size and
    steps, and which fields the study varies (the figures' subtitle and the sidecar's ``setting``)."""
    lines = []
    for regime in dict.fromkeys(r["config"]["regime"] for r in runs):
        kw = next(r["config"] for r in runs if r["config"]["regime"] == regime)
        cfg = FeaturesConfig(**{k: v for k, v in kw.items() if k not in ("seed", "eta", "wbc0", "model", "window",
                                                                            "gate", "d", "alpha_c", "gap_near",
                                                                            "gap_far", "gate_sigma", "preset")})
        vary = sorted({k for r in runs if r["config"]["regime"] == regime for k, v in r["config"].items()
                       if k != "seed" and v != kw.get(k)} | {k for k in ("model", "gate", "window") if k in kw})
        fixed = (f"alpha_r={cfg.alpha_r}" if regime == "majority" else
                 f"Delta L+={kw.get('gap_near', cfg.gap_near)}, Delta L-={kw.get('gap_far', cfg.gap_far)}")
        full = FeaturesConfig(**{k: v for k, v in kw.items() if k != "seed"})
        lines.append(f"{regime}: d={full.d}, L={cfg.L}, {fixed}, tau={cfg.tau}, m={full.m}, "
                     f"N={cfg.n_train}, W^(0)={kw.get('wbc0', 1.0):g} I frozen, eta={kw.get('eta', cfg.eta):g}, "
                     f"{cfg.steps} steps" + (f"; varied: {', '.join(vary)}" if vary else ""))
    return "\n".join(lines)


def protocol_summary(runs: list, success_loss: float = PAPER_SUCCESS_LOSS) -> dict:
    """The paper's way of reporting (means over the successful trials only, success = final test hinge loss below
    ``success_loss``), per label: ``trials``, ``successes``, ``success_rate``, ``test_err_successes`` (mean over the
    successes, NaN with none) and, for comparison, ``test_err_all`` (mean over every trial)."""
    out = {}
    for label in dict.fromkeys(r["label"] for r in runs):
        mine = [r for r in runs if r["label"] == label]
        ok = [float(r["test_loss"][-1]) < success_loss for r in mine]
        errs = np.array([float(r["test_err"][-1]) for r in mine])
        out[label] = {"trials": len(mine), "successes": int(sum(ok)), "success_rate": float(np.mean(ok)),
                      "test_err_successes": float(errs[np.array(ok)].mean()) if any(ok) else float("nan"),
                      "test_err_all": float(errs.mean()), "test_err_std": float(errs.std()),
                      "test_loss_all": float(np.mean([float(r["test_loss"][-1]) for r in mine]))}
    return out


def study_finals(runs: list) -> dict:
    """Per label of ``runs``: mean and std over seeds of every :data:`STUDY_FINAL` value at the end of training
    (and the test error's minimum over training), the number of seeds and the label's config."""
    out = {}
    for label in dict.fromkeys(r["label"] for r in runs):
        sel = [r for r in runs if r["label"] == label]
        out[label] = {k: {"mean": float(np.mean([r[k][-1] for r in sel])), "std": float(np.std([r[k][-1] for r in sel])),
                          "min_over_training": float(np.mean([np.min(r[k]) for r in sel])) if k == "test_err" else None}
                      for k in STUDY_FINAL}
        out[label]["seeds"] = len(sel)
        out[label]["config"] = {k: v for k, v in sel[0]["config"].items() if k != "seed"}
    return out


# ------------------------------------------------------------------------------------------------------------
# phase diagrams (mamba_dynamics.core.sweeps)
# ------------------------------------------------------------------------------------------------------------

#: Metrics recorded per cell (any can colour a phase diagram).
METRICS = ("test_err", "train_loss", "iters_to_target", "cos_pos", "cos_neg", "cos_irr", "w_pos", "w_neg",
           "w_irr", "gate_rel", "gate_irr", "rel_share", "mlp_pos", "mlp_neg")
DEFAULT_GRIDS = {
    "alpha_r": "0.2:0.6:0.05", "alpha_c": "0:0.1:0.025", "L": "10,12,16,20,24,32,40", "d": "5,10,20,40",
    "gap_near": "1,2,3,4", "gap_far": "2,3,4,5,6,8", "tau": "0:0.5:0.1", "eta": "geom:0.5:8:5",
    "n_train": "100,200,400,800,1600", "m": "10,20,40,80", "model": "ssm,lt-mlp,st-mlp", "gate_sigma": "0.1:0.9:0.1",
    "regime": "majority,locality",
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


def _outside(base: FeaturesConfig, changes: dict) -> str | None:
    """Local concentration is defined for ``gap_near < gap_far`` only: such cells of a (gap_near, gap_far) grid are
    left blank."""
    if base.regime != "locality":
        return None
    near, far = changes.get("gap_near", base.gap_near), changes.get("gap_far", base.gap_far)
    return None if near < far else f"local concentration needs gap_near < gap_far (got {near}, {far})"


SWEEP = SweepFamily(
    name="features", config_cls=FeaturesConfig, run_group=sweep_group, metrics=METRICS,
    must_be_finite=("test_err", "train_loss"), test_fields=frozenset(),
    not_axes=frozenset({"seed", "log_every", "diverge_norm", "n_test"}), default_grids=DEFAULT_GRIDS,
    cost=_cost, probe=_probe,
    lower_is_better=("test_err", "train_loss", "iters_to_target"), outside=_outside,
)


# ------------------------------------------------------------------------------------------- Table 3: deep stacks

#: Table 3 of the paper (a 5-block Mamba): cos(W_O, relevant), cos(w_Delta, relevant), cos(w_Delta, irrelevant)
PAPER_TABLE3 = {"W_O_rel": 0.73, "w_rel": 0.53, "w_irr": 0.0}
TABLE3_KEYS = ("test_err", "mlp_rel", "mlp_pos", "mlp_neg", "cos_rel_blocks", "cos_irr_blocks", "cos_irr_abs_blocks")


def table3_cell(kw: dict) -> dict:
    """One stack run (``FeaturesConfig.from_dict(kw)``): the Table 3 quantities at the end of training, as arrays."""
    from .train import train

    run = train(FeaturesConfig.from_dict(kw))
    out = {k: np.asarray(run.final[k], dtype=np.float64) for k in TABLE3_KEYS}
    out["completed"] = np.asarray(run.status == "completed")
    out["train_err"] = np.asarray(run.final["train_err"], dtype=np.float64)
    return out


def table3(base: FeaturesConfig, dims, steps, seeds, out, jobs: int = 0, bar=None) -> dict:
    """Table 3 over ``dims`` x ``steps`` x ``seeds`` (one stack run each, resumable under ``<out>/cells``):
    ``{(d, steps): [cell result per seed]}``."""
    items = [dict(base.to_dict(), d=d, steps=T, seed=s) for d in dims for T in steps for s in seeds]
    keys = [cell_key({"table3": kw}) for kw in items]
    done = CellStore(Path(out) / "cells", "npz").run(list(zip(keys, items)), table3_cell, jobs, bar)
    res: dict = {}
    for kw, key in zip(items, keys):
        res.setdefault((kw["d"], kw["steps"]), []).append(done[key])
    return res
