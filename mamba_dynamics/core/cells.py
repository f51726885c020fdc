"""One resumable store of keyed cells, used by every sweep and reproduction.

A *cell* is one unit of work (a training run and what it is evaluated on) whose result depends only on a JSON
payload.  Its key is a hash of that payload (plus the package version), and its result is written atomically to
``<folder>/<key>.json`` (records), ``<folder>/<key>.npz`` (arrays) or ``<folder>/<key>.pkl`` (whole objects) as
soon as it finishes, by the process that collects results.  Rerunning the same work into the same folder loads finished cells and computes only the rest,
also after ``kill -9``; a changed setting has a new key and is recomputed.

Glossary: ``payload`` = everything a cell's result depends on; ``fmt`` = ``"json"`` (dict of plain values),
``"npz"`` (dict of arrays) or ``"pkl"`` (any picklable result, e.g. a whole training run; written and read only by
this package, and the key changes with the package version).
"""

from __future__ import annotations

import hashlib
import json
import pickle
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from .io import atomic_write_bytes, save_json, save_npz
from .parallel import map_processes


def cell_key(payload) -> str:
    """20 hex digits of the SHA-256 of ``payload`` (JSON, sorted keys) and the package version."""
    from .. import __version__

    blob = json.dumps({"payload": payload, "version": __version__}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


class CellStore:
    """Finished cells of one folder (see the module docstring)."""

    def __init__(self, folder: str | Path, fmt: str = "json"):
        if fmt not in ("json", "npz", "pkl"):
            raise ValueError(f"unknown cell format {fmt!r}")
        self.folder, self.fmt = Path(folder), fmt

    def path(self, key: str) -> Path:
        return self.folder / f"{key}.{self.fmt}"

    def load(self, key: str):
        """The stored result of ``key``, or None if missing or unreadable (a JSON record must carry its key)."""
        path = self.path(key)
        if not path.exists():
            return None
        try:
            if self.fmt == "npz":
                with np.load(path) as f:
                    return {k: f[k] for k in f.files}
            if self.fmt == "pkl":
                return pickle.loads(path.read_bytes())
            rec = json.loads(path.read_text())
        except (OSError, ValueError, pickle.UnpicklingError, EOFError):
            return None
        return rec if rec.get("key") == key else None

    def save(self, key: str, result) -> Path:
        if self.fmt == "npz":
            return save_npz(self.path(key), result)
        if self.fmt == "pkl":
            return atomic_write_bytes(self.path(key), pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL))
        return save_json(self.path(key), dict(result, key=key))

    def run(self, work: Iterable[tuple[str, object]], fn: Callable, jobs: int = 0, bar=None,
            on_start: Callable[[int, int], None] | None = None, executor: Callable | None = None) -> dict:
        """Results by key for ``work`` = ``[(key, item), ...]``: loaded when finished before, else ``fn(item)`` in
        ``jobs`` worker processes (or through ``executor(func, items)``, which yields ``func(item)`` in any order),
        each saved as it completes.  ``on_start(n_done, n_todo)`` is called once, before any work."""
        results, todo, seen = {}, [], set()
        for key, item in work:
            if key in seen:  # the same cell asked for twice is computed once
                continue
            seen.add(key)
            found = self.load(key)
            if found is None:
                todo.append((key, item))
            else:
                results[key] = found
                if bar is not None:
                    bar.update(1)
        if on_start is not None:
            on_start(len(results), len(todo))
        jobs_ = [(fn, k, item) for k, item in todo]
        stream = executor(_keyed, jobs_) if executor is not None else map_processes(_keyed, jobs_, jobs, ordered=False)
        for key, res in stream:
            self.save(key, res)
            results[key] = dict(res, key=key) if self.fmt == "json" else res
            if bar is not None:
                bar.update(1)
        return results


def _keyed(job):
    fn, key, item = job
    return key, fn(item)


__all__ = ("cell_key", "CellStore")
