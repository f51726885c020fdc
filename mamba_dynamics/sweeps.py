"""Parameter sweeps over two config fields: grids, resumable execution, one dataset per sweep.

A sweep is a :class:`SweepSpec`: a base :class:`OutlierConfig`, an x and a y :class:`Axis` (any two config
fields), seeds and the number of evaluation prompts.  Work is split into *groups*: one training run (a training
config and a seed) and every grid cell it serves.  Fields that only change the *test* distribution
(:data:`TEST_FIELDS`, e.g. ``alpha`` or ``l_ts``) do not need a new training run, so an ``alpha x l_ts`` diagram
trains once per seed and evaluates 100 cells.

Reliability:

* each finished group is written atomically to ``<out>/cells/<key>.json`` as soon as it completes; ``key`` hashes
  everything the result depends on (config, cells, evaluation size, package version), so rerunning the same command skips finished groups (also after ``kill -9``)
  and produces the identical dataset;
* a group that fails (divergence, NaN, any exception) is recorded with its error message and the sweep goes on;
* groups run in worker processes (:func:`mamba_dynamics.parallel.map_processes`) with BLAS and Numba pinned to
  one thread each, or on an existing
  Dask cluster (``scheduler="tcp://HOST:PORT"``, needs the ``distributed`` extra); results always come back to
  this process, which does all the writing.

Glossary: ``x``/``y`` = the two axes; ``cell`` = one grid point ``(iy, ix)``; ``metrics`` = the keys of
:data:`METRICS`; dataset arrays have shape ``(ny, nx, n_seeds)``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .cli import raw_values
from .config import ConfigError, OutlierConfig
from .data import sample_test
from .io import run_metadata, save_json, save_npz
from .metrics import SNAPSHOT_KEYS, snapshot
from .parallel import call_pinned, map_processes
from .progress import progress_bar
from .training import train

#: Fields that change only the test distribution: cells differing only in these share one training run.
TEST_FIELDS = frozenset({"alpha", "l_ts", "label_rule", "placement", "kappa_a_test", "K_test", "test_orth",
                         "test_coefs", "target_label", "n_test"})
#: Metrics recorded per cell (any can colour a phase diagram).
METRICS = ("train_loss", *SNAPSHOT_KEYS)
#: Metrics whose NaN/inf marks a failed cell (gate and attention means may be NaN when a class is empty, e.g.
#: ``gate_outlier`` at ``alpha = 0``).
MUST_BE_FINITE = ("train_loss", "test_err", "test_err_clean", "norm_W_B", "norm_W_C", "norm_w")
#: Fields that cannot be an axis.
NOT_AXES = frozenset({"seed", "test_coefs", "log_every", "diverge_norm", "n_test"})
#: Grid used when an axis is given without values.
DEFAULT_GRIDS = {
    "alpha": "0:0.9:0.1", "p_a": "0:0.9:0.1", "l_ts": "10:100:10", "l_tr": "5:50:5", "K": "0:0.5:0.05",
    "kappa_a": "1:10:1", "kappa_a_test": "2:20:2", "K_test": "0:1:0.1", "beta": "1:10:1", "eta": "geom:0.01:1:10",
    "batch": "8,16,32,64,128,256", "steps": "250:2500:250", "M1": "2,3,4,5,6,7,8,9,10", "delta": "0.02:0.2:0.02",
    "model": "mamba,lt", "label_rule": "flip,targeted,random", "placement": "R,FQ,CQ",
    "train_tasks": "matching,ring,all",
}


class GridError(ValueError):
    """A bad axis or grid specification; the message is one line for the user."""


def _field_types() -> dict:
    defaults = OutlierConfig()
    types = {}
    for f in dataclasses.fields(OutlierConfig):
        value = getattr(defaults, f.name)
        types[f.name] = type(value) if value is not None else (int if f.name == "m" else float)
    return types


FIELD_TYPES = _field_types()


def parse_grid(field: str, text: str | None) -> tuple:
    """Values of one axis from ``"a,b,c"``, ``"start:stop:step"`` (stop included) or ``"geom:start:stop:n"``
    (``n`` log-spaced values).  Values are converted to the field's type; the default grid is used for ``None``."""
    if field not in FIELD_TYPES:
        raise GridError(f"unknown config field {field!r} for an axis; choose one of "
                        f"{', '.join(sorted(set(FIELD_TYPES) - NOT_AXES))}")
    if field in NOT_AXES:
        raise GridError(f"{field!r} cannot be an axis (seeds are swept with --seeds)")
    if text is None:
        if field not in DEFAULT_GRIDS:
            raise GridError(f"no default grid for {field!r}; give values, e.g. 0.1,0.2 or 0:1:0.1")
        text = DEFAULT_GRIDS[field]
    typ = FIELD_TYPES[field]
    try:
        raw = raw_values(text)
        if typ is str:
            values = tuple(str(v) for v in raw)
        elif typ is int:
            floats = [float(v) for v in raw]
            if any(f != round(f) for f in floats):
                raise GridError(f"{field} takes integers, got {text!r}")
            values = tuple(int(round(f)) for f in floats)
        else:
            values = tuple(round(float(v), 12) for v in raw)
    except GridError:
        raise
    except (ValueError, TypeError):
        raise GridError(f"cannot read the grid {text!r} for {field}: use a,b,c or start:stop:step or "
                        f"geom:start:stop:n") from None
    if not values:
        raise GridError(f"the grid for {field} is empty")
    if len(set(values)) != len(values):
        raise GridError(f"the grid for {field} repeats a value")
    return values


@dataclass(frozen=True)
class Axis:
    """One axis of the diagram: a config field and its values."""

    field: str
    values: tuple


@dataclass(frozen=True)
class Group:
    """One training run and the cells it serves: ``cells`` = ((iy, ix, test overrides), ...)."""

    train_cfg: OutlierConfig
    cells: tuple
    n_eval: int

    @property
    def key(self) -> str:
        from . import __version__

        payload = json.dumps({"train": self.train_cfg.to_dict(), "cells": [list(c[:2]) + [sorted(c[2].items())]
                              for c in self.cells], "n_eval": self.n_eval, "version": __version__},
                             sort_keys=True, default=str)
        return hashlib.sha256(payload.encode()).hexdigest()[:20]


@dataclass(frozen=True)
class SweepSpec:
    """A full sweep; :meth:`groups` validates every cell's config (raising :class:`GridError`)."""

    base: OutlierConfig
    x: Axis
    y: Axis
    seeds: tuple
    n_eval: int = 1000

    def __post_init__(self):
        if self.x.field == self.y.field:
            raise GridError(f"x and y are both {self.x.field!r}; choose two different fields")
        if not self.seeds:
            raise GridError("at least one seed is needed")
        if self.n_eval < 1:
            raise GridError(f"n_eval must be a positive integer, got {self.n_eval}")

    @property
    def shape(self) -> tuple:
        return (len(self.y.values), len(self.x.values), len(self.seeds))

    def cell_config(self, iy: int, ix: int, seed: int) -> OutlierConfig:
        changes = {self.x.field: self.x.values[ix], self.y.field: self.y.values[iy], "seed": seed}
        try:
            return self.base.replace(**changes)
        except ConfigError as exc:
            raise GridError(f"cell {self.x.field}={self.x.values[ix]}, {self.y.field}={self.y.values[iy]}: {exc}") \
                from None

    def groups(self) -> list[Group]:
        """Training groups in a fixed order (y, x, seed); cells sharing a training config share a group."""
        found: dict = {}
        for iy in range(len(self.y.values)):
            for ix in range(len(self.x.values)):
                for seed in self.seeds:
                    cfg = self.cell_config(iy, ix, seed)
                    test = {f: getattr(cfg, f) for f in (self.x.field, self.y.field) if f in TEST_FIELDS}
                    train_cfg = cfg.replace(**{f: getattr(self.base, f) for f in test}) if test else cfg
                    train_cfg = train_cfg.replace(log_every=max(train_cfg.steps, 1), n_test=min(train_cfg.n_test, 200))
                    tkey = json.dumps(train_cfg.to_dict(), sort_keys=True, default=str)
                    found.setdefault(tkey, (train_cfg, []))[1].append((iy, ix, test))
        return [Group(cfg, tuple(cells), self.n_eval) for cfg, cells in found.values()]

    def to_dict(self) -> dict:
        return {"base": self.base.to_dict(), "x": {"field": self.x.field, "values": list(self.x.values)},
                "y": {"field": self.y.field, "values": list(self.y.values)}, "seeds": list(self.seeds),
                "n_eval": self.n_eval}


def run_group(group: Group) -> dict:
    """Train once and evaluate every cell of ``group``; never raises: failures come back as a record."""
    t0 = time.perf_counter()
    seed = group.train_cfg.seed
    record = {"key": group.key, "seed": seed, "status": "ok", "error": "", "cells": []}
    try:
        run = train(group.train_cfg)
        if run.status != "completed":
            raise RuntimeError(run.message)
        for iy, ix, test in group.cells:
            cfg = group.train_cfg.replace(**test)
            rng = np.random.default_rng([seed, 2024])
            clean = sample_test(cfg, run.patterns, rng, n=group.n_eval, alpha=0.0)
            noisy = sample_test(cfg, run.patterns, rng, n=group.n_eval)
            metrics = snapshot(run.params, clean, noisy, cfg.gated)
            metrics["train_loss"] = float(run.history["train_loss"][-1])
            bad = [k for k in MUST_BE_FINITE if not np.isfinite(metrics[k])]
            if bad:
                raise FloatingPointError(f"non-finite {', '.join(bad)}")
            record["cells"].append({"iy": iy, "ix": ix, "metrics": metrics})
    except Exception as exc:  # noqa: BLE001 - a failed cell is data, not a crash
        record["status"] = "failed"
        record["error"] = f"{type(exc).__name__}: {exc}".strip().splitlines()[0]
        record["traceback"] = traceback.format_exc(limit=3)
        record["cells"] = [{"iy": iy, "ix": ix, "metrics": {}} for iy, ix, _ in group.cells]
    record["wall_time_s"] = time.perf_counter() - t0
    return record


def _cell_path(out: Path, group: Group) -> Path:
    return out / "cells" / f"{group.key}.json"


def load_finished(out: Path, groups: list[Group]) -> dict:
    """Records already on disk for these groups (a readable file whose key matches), by key."""
    done = {}
    for g in groups:
        path = _cell_path(out, g)
        if path.exists():
            try:
                rec = json.loads(path.read_text())
            except (OSError, json.JSONDecodeError):
                continue
            if rec.get("key") == g.key:
                done[g.key] = rec
    return done


def _execute(todo: list[Group], jobs: int, scheduler: str | None):
    """Yield records as groups complete (any order)."""
    if not todo:
        return
    if scheduler:
        try:
            from distributed import Client, as_completed
        except ImportError:
            raise RuntimeError("--scheduler needs dask.distributed: pip install -e .[distributed]") from None
        with Client(scheduler, timeout="20s") as client:
            futures = [client.submit(call_pinned, run_group, g, pure=False) for g in todo]
            for fut in as_completed(futures):
                yield fut.result()
        return
    yield from map_processes(run_group, todo, jobs, ordered=False)


def run_sweep(spec: SweepSpec, out: str | os.PathLike, jobs: int = 0, scheduler: str | None = None,
              show_progress: bool = False, log=print) -> dict:
    """Run (or resume) ``spec`` into ``out``; returns the assembled dataset (see :func:`assemble`)."""
    out = Path(out)
    groups = spec.groups()
    done = load_finished(out, groups)
    todo = [g for g in groups if g.key not in done]
    log(f"{len(groups)} training runs for {spec.shape[0] * spec.shape[1]} cells x {len(spec.seeds)} seeds: "
        f"{len(done)} already finished, {len(todo)} to run")
    bar = progress_bar(total=len(todo), desc="sweep", enabled=show_progress)
    t0 = time.perf_counter()
    try:
        for rec in _execute(todo, jobs, scheduler):
            save_json(out / "cells" / f"{rec['key']}.json", rec)
            done[rec["key"]] = rec
            bar.update(1)
    finally:
        bar.close()
    data = assemble(spec, groups, done)
    data["wall_time_s"] = time.perf_counter() - t0
    return data


def assemble(spec: SweepSpec, groups: list[Group], records: dict) -> dict:
    """Collect records into arrays ``(ny, nx, n_seeds)`` per metric, a status array and the failures list."""
    shape = spec.shape
    arrays = {m: np.full(shape, np.nan) for m in METRICS}
    status = np.zeros(shape, dtype=np.int8)  # 0 missing, 1 ok, 2 failed
    failures = []
    seed_index = {s: i for i, s in enumerate(spec.seeds)}
    for g in groups:
        rec = records.get(g.key)
        if rec is None:
            continue
        k = seed_index[rec["seed"]]
        for cell in rec["cells"]:
            iy, ix = cell["iy"], cell["ix"]
            status[iy, ix, k] = 1 if rec["status"] == "ok" else 2
            for m, v in cell["metrics"].items():
                if m in arrays:
                    arrays[m][iy, ix, k] = np.nan if v is None else v
        if rec["status"] != "ok":
            failures.append({"seed": rec["seed"], "error": rec["error"],
                             "cells": [[spec.x.values[c["ix"]], spec.y.values[c["iy"]]] for c in rec["cells"]]})
    return {"arrays": arrays, "status": status, "failures": failures, "n_groups": len(groups),
            "n_finished": sum(1 for g in groups if g.key in records)}


def save_dataset(spec: SweepSpec, data: dict, out: str | os.PathLike, stem: str = "phase") -> tuple[Path, Path]:
    """Write ``<stem>.npz`` (x, y, seeds, status, one array per metric, mean and std) and ``<stem>.json``."""
    out = Path(out)
    arrays = {"x": np.asarray(spec.x.values), "y": np.asarray(spec.y.values), "seeds": np.asarray(spec.seeds),
              "status": data["status"]}
    for m, a in data["arrays"].items():
        arrays[m] = a
        arrays[f"{m}_mean"] = nanmean_seeds(a)
        arrays[f"{m}_std"] = _nanstd(a)
    npz = save_npz(out / f"{stem}.npz", arrays)
    side = {"sweep": spec.to_dict(), "metrics": list(METRICS), "failures": data["failures"],
            "n_training_runs": data["n_groups"], "n_finished": data["n_finished"],
            "status_codes": {"0": "missing", "1": "ok", "2": "failed"},
            "wall_time_s_this_invocation": data.get("wall_time_s"), "metadata": run_metadata(),
            "arrays": sorted(arrays)}
    js = save_json(out / f"{stem}.json", side)
    return npz, js


def nanmean_seeds(a: np.ndarray) -> np.ndarray:
    """Mean over the last axis (seeds), ignoring NaN; NaN where no seed has a value."""
    count = np.isfinite(a).sum(-1)
    return np.where(count > 0, np.where(np.isfinite(a), a, 0).sum(-1) / np.maximum(count, 1), np.nan)


def _nanstd(a: np.ndarray) -> np.ndarray:
    """Population std over the last axis (seeds), ignoring NaN."""
    mean = nanmean_seeds(a)[..., None]
    count = np.isfinite(a).sum(-1)
    sq = np.where(np.isfinite(a), (a - mean) ** 2, 0).sum(-1)
    return np.where(count > 0, np.sqrt(sq / np.maximum(count, 1)), np.nan)


def estimate_cost(spec: SweepSpec, calibrate_steps: int = 200) -> dict:
    """Time a short training at the base config and extrapolate to the whole sweep (seconds, one worker)."""
    groups = spec.groups()
    probe = spec.base.replace(steps=calibrate_steps, log_every=calibrate_steps, n_test=100)
    train(probe)  # compile / warm up
    t0 = time.perf_counter()
    train(probe)
    per_step = (time.perf_counter() - t0) / calibrate_steps
    train_s = sum(per_step * g.train_cfg.steps * (g.train_cfg.batch / probe.batch) *
                  (g.train_cfg.l_tr / probe.l_tr) for g in groups)
    n_cells = sum(len(g.cells) for g in groups)
    eval_s = n_cells * 2 * spec.n_eval * per_step / probe.batch * 3  # forward on two test sets
    return {"training_runs": len(groups), "cell_evaluations": n_cells, "seconds_one_worker": train_s + eval_s}
