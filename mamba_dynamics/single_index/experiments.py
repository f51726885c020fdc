"""Resumable reproduction cells of the single-index paper (arXiv 2510.12026; docs/single_index.md).

A cell is one (setting, predictor, seed) run; its arrays are written atomically to ``<out>/cells/<key>.npz`` as
soon as it finishes, and a rerun into the same folder loads finished cells instead of redoing them (the key
encodes the whole configuration, so a changed setting is recomputed).  Cells run in worker processes with one
BLAS/Numba thread each.

Glossary: ``Ns`` context lengths; ``kind`` = ``"model"`` (pretrained Mamba or linear attention, arrays of
:func:`evaluate.simulate`) or ``"krr"`` (kernel ridge regression on ``x`` or ``x_I``, array ``risk``).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..io import save_npz
from ..parallel import map_processes
from .config import SingleIndexConfig
from .evaluate import krr_risk, simulate


@dataclass(frozen=True)
class Cell:
    kind: str
    cfg: SingleIndexConfig
    Ns: tuple
    match_context: bool = False
    krr_inputs: str = ""
    krr_prompts: int = 50
    krr_max_N: int = 1024

    @property
    def key(self) -> str:
        blob = json.dumps({"kind": self.kind, "cfg": self.cfg.to_dict(), "Ns": list(self.Ns),
                           "match": self.match_context, "krr": [self.krr_inputs, self.krr_prompts,
                                                                 self.krr_max_N]}, sort_keys=True)
        return hashlib.sha1(blob.encode()).hexdigest()[:16]


def run_cell(cell: Cell) -> dict:
    """Arrays of one cell (see the module glossary)."""
    if cell.kind == "model":
        res = simulate(cell.cfg, cell.Ns, match_context=cell.match_context)
        res.pop("stats")
        return res
    risks = [krr_risk(cell.cfg, N, cell.krr_inputs, cell.krr_prompts)["risk"] if N <= cell.krr_max_N else np.nan
             for N in cell.Ns]
    return {"N": np.array(cell.Ns), "risk": np.array(risks)}


def _run_and_save(item):
    cell, path = item
    res = run_cell(cell)
    save_npz(path, res)
    return cell.key, res


def run_cells(cells: list[Cell], out: str | Path, jobs: int = 0, bar=None) -> dict:
    """Results of every cell by key: loaded from ``<out>/cells`` when finished before, else computed (in
    parallel) and saved as each finishes."""
    folder = Path(out) / "cells"
    folder.mkdir(parents=True, exist_ok=True)
    results, todo = {}, []
    for cell in cells:
        path = folder / f"{cell.key}.npz"
        if path.exists():
            try:
                with np.load(path) as f:
                    results[cell.key] = {k: f[k] for k in f.files}
                if bar is not None:
                    bar.update(1)
                continue
            except (OSError, ValueError):
                pass
        todo.append((cell, path))
    for key, res in map_processes(_run_and_save, todo, jobs, ordered=False):
        results[key] = res
        if bar is not None:
            bar.update(1)
    return results
