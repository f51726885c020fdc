"""Two-axis parameter sweeps for any model family: grids, shared training runs, resumable local or Dask execution,
one dataset per sweep.

A family takes part through one :class:`SweepFamily` (defined in its ``experiments`` module): its config class, a
function that trains once and evaluates a list of cells, the metrics it records, and the fields that change only
what a trained model is evaluated on (:attr:`SweepFamily.test_fields`).  A sweep is a :class:`SweepSpec`: the
family, a base config, an x and a y :class:`Axis` (any two config fields), seeds and the evaluation size.  Work is
split into *groups*: one training run (a training config and a seed) and every grid cell it serves, so an
``alpha x l_ts`` outlier diagram trains once per seed and evaluates 100 cells.

Reliability: each finished group is written atomically to ``<out>/cells/<key>.json``
(:class:`mamba_dynamics.core.cells.CellStore`; the key hashes the family, the training config, the cells, the
evaluation size and the package version), so rerunning the same command skips finished groups, also after
``kill -9``, and produces the identical dataset.  A group that fails (divergence, NaN, any exception) is recorded
with its error and the sweep goes on.  Groups run in worker processes with one BLAS/Numba thread each, or on an
existing Dask cluster (``scheduler="tcp://HOST:PORT"``); results always come back to this process, which does all
the writing.

Glossary: ``x``/``y`` = the two axes; ``cell`` = one grid point ``(iy, ix)``; dataset arrays have shape
``(ny, nx, n_seeds)``; ``status`` 0 missing, 1 ok, 2 failed, 3 outside the model's domain (left blank: a cell the
family's :attr:`SweepFamily.outside` rules out, e.g. ``gap_near >= gap_far``; nothing is trained there).
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from .cells import CellStore, cell_key
from .cli import raw_values
from .config import ConfigError, field_type
from .io import run_metadata, save_npz
from .parallel import call_pinned
from .progress import progress_bar


#: status of a cell outside the model's domain (left blank)
OUTSIDE = 3


class GridError(ValueError):
    """A bad axis or grid specification; the message is one line for the user."""


@dataclass(frozen=True)
class SweepFamily:
    """What the sweep engine needs from a model family (every callable at module level, so it pickles).

    run_group(train_cfg, tests, n_eval) -> [metrics dict per cell]: train once at ``train_cfg``, evaluate each
    dict of test-side overrides in ``tests``; metrics: recorded keys (any can colour a diagram); must_be_finite:
    keys whose NaN marks a failed cell; train_overrides(cfg) -> dict applied to every training config (e.g. less
    logging); cost(train_cfg, n_cells, n_eval) -> relative cost and probe(base) -> a small config, for
    :func:`estimate_cost`; lower_is_better: metrics drawn with the error colour scale; outside(base, changes) ->
    a reason, or None: a cell whose field values ``changes`` lie outside the model's domain is left blank (status
    3) instead of refusing the whole grid.
    """

    name: str
    config_cls: type
    run_group: Callable
    metrics: tuple
    must_be_finite: tuple = ()
    test_fields: frozenset = frozenset()
    not_axes: frozenset = frozenset({"seed"})
    default_grids: dict = field(default_factory=dict)
    train_overrides: Callable | None = None
    cost: Callable | None = None
    probe: Callable | None = None
    lower_is_better: tuple = ()
    outside: Callable | None = None


def parse_grid(family: SweepFamily, name: str, text: str | None) -> tuple:
    """Values of one axis from ``"a,b,c"``, ``"start:stop:step"`` (stop included) or ``"geom:start:stop:n"``
    (``n`` log-spaced values), converted to the field's type; the family's default grid for ``None``."""
    fields = {f.name for f in dataclasses.fields(family.config_cls)}
    if name not in fields:
        raise GridError(f"unknown config field {name!r} for an axis; choose one of "
                        f"{', '.join(sorted(fields - family.not_axes))}")
    if name in family.not_axes:
        raise GridError(f"{name!r} cannot be an axis (seeds are swept with --seeds)")
    if text is None:
        if name not in family.default_grids:
            raise GridError(f"no default grid for {name!r}; give values, e.g. 0.1,0.2 or 0:1:0.1")
        text = family.default_grids[name]
    typ = field_type(family.config_cls, name)
    try:
        raw = raw_values(text)
        if typ is not str and not all(np.isfinite(float(v)) for v in raw):
            raise GridError(f"the grid for {name} must hold finite numbers, got {text!r}")
        if typ is str:
            values = tuple(str(v) for v in raw)
        elif typ is int:
            floats = [float(v) for v in raw]
            if any(f != round(f) for f in floats):
                raise GridError(f"{name} takes integers, got {text!r}")
            values = tuple(int(round(f)) for f in floats)
        else:
            values = tuple(round(float(v), 12) for v in raw)
    except GridError:
        raise
    except (ValueError, TypeError):
        raise GridError(f"cannot read the grid {text!r} for {name}: use a,b,c or start:stop:step or "
                        f"geom:start:stop:n") from None
    if not values:
        raise GridError(f"the grid for {name} is empty")
    if len(set(values)) != len(values):
        raise GridError(f"the grid for {name} repeats a value")
    return values


@dataclass(frozen=True)
class Axis:
    """One axis of the diagram: a config field and its values."""

    field: str
    values: tuple


@dataclass(frozen=True)
class Group:
    """One training run and the cells it serves: ``cells`` = ((iy, ix, test overrides), ...)."""

    family: SweepFamily
    train_cfg: object
    cells: tuple
    n_eval: int

    @property
    def key(self) -> str:
        return cell_key({"family": self.family.name, "train": self.train_cfg.to_dict(), "n_eval": self.n_eval,
                         "cells": [list(c[:2]) + [sorted(c[2].items())] for c in self.cells]})


@dataclass(frozen=True)
class SweepSpec:
    """A full sweep; :meth:`groups` validates every cell's config (raising :class:`GridError`)."""

    family: SweepFamily
    base: object
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

    def is_outside(self, iy: int, ix: int) -> bool:
        """Whether cell ``(iy, ix)`` lies outside the family's domain (left blank, :attr:`SweepFamily.outside`)."""
        if self.family.outside is None:
            return False
        return self.family.outside(self.base, {self.x.field: self.x.values[ix],
                                               self.y.field: self.y.values[iy]}) is not None

    def cell_config(self, iy: int, ix: int, seed: int):
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
                if self.is_outside(iy, ix):
                    continue
                for seed in self.seeds:
                    cfg = self.cell_config(iy, ix, seed)
                    test = {f: getattr(cfg, f) for f in (self.x.field, self.y.field) if f in self.family.test_fields}
                    train_cfg = cfg.replace(**{f: getattr(self.base, f) for f in test}) if test else cfg
                    if self.family.train_overrides is not None:
                        train_cfg = train_cfg.replace(**self.family.train_overrides(train_cfg))
                    tkey = json.dumps(train_cfg.to_dict(), sort_keys=True, default=str)
                    found.setdefault(tkey, (train_cfg, []))[1].append((iy, ix, test))
        if not found:
            raise GridError("every cell of this grid lies outside the model's domain: "
                            + self.family.outside(self.base, {self.x.field: self.x.values[0],
                                                              self.y.field: self.y.values[0]}))
        return [Group(self.family, cfg, tuple(cells), self.n_eval) for cfg, cells in found.values()]

    def to_dict(self) -> dict:
        return {"family": self.family.name, "base": self.base.to_dict(),
                "x": {"field": self.x.field, "values": list(self.x.values)},
                "y": {"field": self.y.field, "values": list(self.y.values)}, "seeds": list(self.seeds),
                "n_eval": self.n_eval}


def run_group(group: Group) -> dict:
    """Train once and evaluate every cell of ``group``; never raises: failures come back as a record."""
    t0 = time.perf_counter()
    fam = group.family
    record = {"seed": group.train_cfg.seed, "status": "ok", "error": "", "cells": []}
    try:
        rows = fam.run_group(group.train_cfg, [c[2] for c in group.cells], group.n_eval)
        for (iy, ix, _), metrics in zip(group.cells, rows):
            bad = [k for k in fam.must_be_finite if not np.isfinite(metrics[k])]
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


def _dask_executor(scheduler: str):
    def execute(fn, items):
        try:
            from distributed import Client, as_completed
        except ImportError:
            raise RuntimeError("--scheduler needs dask.distributed: pip install -e .[distributed]") from None
        with Client(scheduler, timeout="20s") as client:
            futures = [client.submit(call_pinned, fn, item, pure=False) for item in items]
            for fut in as_completed(futures):
                yield fut.result()

    return execute


def run_sweep(spec: SweepSpec, out: str | os.PathLike, jobs: int = 0, scheduler: str | None = None,
              show_progress: bool = False, log=print) -> dict:
    """Run (or resume) ``spec`` into ``out``; returns the assembled dataset (see :func:`assemble`)."""
    out = Path(out)
    groups = spec.groups()

    def started(n_done: int, n_todo: int) -> None:
        log(f"{len(groups)} training runs for {spec.shape[0] * spec.shape[1]} cells x {len(spec.seeds)} seeds: "
            f"{n_done} already finished, {n_todo} to run")

    t0 = time.perf_counter()
    bar = progress_bar(total=len(groups), desc="sweep", enabled=show_progress)
    try:
        records = CellStore(out / "cells", "json").run(
            [(g.key, g) for g in groups], run_group, jobs, bar, started,
            executor=_dask_executor(scheduler) if scheduler else None)
    finally:
        bar.close()
    data = assemble(spec, groups, records)
    data["wall_time_s"] = time.perf_counter() - t0
    return data


def assemble(spec: SweepSpec, groups: list[Group], records: dict) -> dict:
    """Collect records into arrays ``(ny, nx, n_seeds)`` per metric, a status array and the failures list."""
    shape = spec.shape
    arrays = {m: np.full(shape, np.nan) for m in spec.family.metrics}
    status = np.zeros(shape, dtype=np.int8)
    for iy in range(shape[0]):
        for ix in range(shape[1]):
            if spec.is_outside(iy, ix):
                status[iy, ix, :] = OUTSIDE
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
    from .io import save_json

    out = Path(out)
    arrays = {"x": np.asarray(spec.x.values), "y": np.asarray(spec.y.values), "seeds": np.asarray(spec.seeds),
              "status": data["status"]}
    for m, a in data["arrays"].items():
        arrays[m] = a
        arrays[f"{m}_mean"] = nanmean_seeds(a)
        arrays[f"{m}_std"] = _nanstd(a)
    npz = save_npz(out / f"{stem}.npz", arrays)
    side = {"sweep": spec.to_dict(), "metrics": list(spec.family.metrics), "failures": data["failures"],
            "n_training_runs": data["n_groups"], "n_finished": data["n_finished"],
            "status_codes": {"0": "missing", "1": "ok", "2": "failed", str(OUTSIDE): "outside the model's domain "
                                                                                       "(left blank)"},
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


def estimate_cost(spec: SweepSpec) -> dict:
    """Time one small group (the family's ``probe`` of the base config) and extrapolate to the whole sweep with
    the family's relative ``cost`` (seconds on one worker)."""
    fam = spec.family
    groups = spec.groups()
    probe = fam.probe(spec.base) if fam.probe is not None else spec.base
    n_probe = min(spec.n_eval, 200)
    fam.run_group(probe, [{}], n_probe)  # compile / warm up
    t0 = time.perf_counter()
    fam.run_group(probe, [{}], n_probe)
    seconds = time.perf_counter() - t0
    unit = fam.cost(probe, 1, n_probe) if fam.cost is not None else 1.0
    total = sum((fam.cost(g.train_cfg, len(g.cells), g.n_eval) if fam.cost is not None else 1.0) for g in groups)
    n_cells = sum(len(g.cells) for g in groups)
    return {"training_runs": len(groups), "cell_evaluations": n_cells, "seconds_one_worker": seconds * total / unit}


__all__ = ("SweepFamily", "GridError", "parse_grid", "Axis", "Group", "SweepSpec", "run_group", "run_sweep",
           "assemble", "save_dataset", "nanmean_seeds", "estimate_cost")
