"""One claim of a paper as a record: where the paper makes it, what it says, the command whose saved results measure
it, the measurement (read from those results, never typed) and the verdict a stated rule gives.

Glossary:

================  ============================================================================================
``Claim``         the record: ``id``, ``paper``, ``place`` (theorem / figure / table), ``statement``,
                  ``paper_value`` (the paper's number, where it gives one), ``sources`` (the saved results),
                  ``measure`` (results -> :class:`Measurement`), ``reduced`` (a fast check, or None)
``Source``        one saved result: ``folder`` under ``docs/figures`` and the file ``name`` (``<name>.json`` and
                  ``<name>.npz``, written by :func:`mamba_dynamics.core.io.write_run`) and the ``command`` writing it
``Measurement``   ``ours`` (one line: the numbers, with their spread over seeds), ``verdict`` (:data:`VERDICTS`),
                  ``reason`` (one line: why that verdict), ``numbers`` (the raw values behind ``ours``)
``Reduced``       a reduced setting of the claim (seconds): ``what`` it runs and ``run()`` -> :class:`Measurement`,
                  whose verdict must equal the full measurement's (tests/test_claims.py)
``Results``       the saved results, loaded on demand from ``docs/figures`` (:meth:`Results.get`)
================  ============================================================================================
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

#: The verdicts, in the order a ledger summarises them.
VERDICTS = ("reproduced", "partly", "not reproduced", "not testable")
#: Where the saved results live, relative to the repository root.
FIGURES = Path("docs") / "figures"


@dataclass(frozen=True)
class Source:
    """A saved result: ``docs/figures/<folder>/<name>.json`` (sidecar) and ``.npz`` (arrays), and the command
    that writes them."""

    folder: str
    name: str
    command: str

    @property
    def figure(self) -> str:
        """The figure beside the result, relative to ``docs/`` (``<name>.png``; the sweeps' own names otherwise)."""
        return f"figures/{self.folder}/{self.name}.png"


@dataclass(frozen=True)
class Measurement:
    """What the saved results say about a claim (see the module glossary)."""

    ours: str
    verdict: str
    reason: str
    numbers: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.verdict not in VERDICTS:
            raise ValueError(f"unknown verdict {self.verdict!r}; one of {VERDICTS}")


@dataclass(frozen=True)
class Reduced:
    """A reduced setting of a claim that runs in seconds: ``what`` (one line) and ``run()`` -> Measurement."""

    what: str
    run: Callable[[], Measurement]


@dataclass(frozen=True)
class Claim:
    """One claim of one paper (see the module glossary)."""

    id: str
    paper: str
    place: str
    statement: str
    paper_value: str
    sources: tuple
    measure: Callable[["Results"], Measurement]
    reduced: Reduced | None = None
    figure: str | None = None

    @property
    def command(self) -> str:
        """The full-size command(s) whose saved results the measurement reads."""
        return "; ".join(dict.fromkeys(s.command for s in self.sources))

    @property
    def figure_path(self) -> str:
        """The figure shown beside the claim, relative to ``docs/`` (the first source's, unless set)."""
        return self.figure or self.sources[0].figure


class MissingResult(Exception):
    """A saved result a claim reads is not there (its command has not been run)."""


class Saved:
    """One saved result: ``meta`` (the JSON sidecar) and its arrays by name (:meth:`__getitem__`)."""

    def __init__(self, source: Source, root: Path):
        folder = Path(root) / FIGURES / source.folder
        js, npz = folder / f"{source.name}.json", folder / f"{source.name}.npz"
        if not js.exists():
            raise MissingResult(f"{js} not found: run `{source.command}`")
        self.meta = json.loads(js.read_text())
        self._npz = npz
        self._arrays: dict | None = None

    def __getitem__(self, key: str) -> np.ndarray:
        if self._arrays is None:
            if not self._npz.exists():
                raise MissingResult(f"{self._npz} not found")
            with np.load(self._npz) as z:
                self._arrays = {k: z[k] for k in z.files}
        return self._arrays[key]


class Results:
    """The saved results under ``<root>/docs/figures``, each loaded once (:meth:`get`)."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self._cache: dict = {}

    def get(self, source: Source) -> Saved:
        key = (source.folder, source.name)
        if key not in self._cache:
            self._cache[key] = Saved(source, self.root)
        return self._cache[key]


# ------------------------------------------------------------------------------------------------ formatting


def mean0(a) -> np.ndarray:
    """Mean over seeds (axis 0), NaN entries (a diverged run, a length not measured) left out."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(np.asarray(a, float), axis=0)


def g3(x) -> str:
    """A number to 3 significant digits (``nan`` as "n/a")."""
    x = float(x)
    return "n/a" if x != x else f"{x:.3g}"


def pct(x) -> str:
    """A fraction as a percentage with one decimal."""
    return f"{100 * float(x):.1f} %"


def spread(values, fmt=g3) -> str:
    """``mean ± std (n seeds)`` of finite ``values`` (one per seed); "n/a" when none is finite."""
    v = np.asarray(values, float).ravel()
    v = v[np.isfinite(v)]
    if not len(v):
        return "n/a"
    return f"{fmt(v.mean())} ± {fmt(v.std())} ({len(v)} seed{'s' if len(v) != 1 else ''})" if len(v) > 1 else \
        f"{fmt(v[0])} (1 seed)"


def interval(fit: dict) -> str:
    """A fitted exponent with its 95 % interval, ``-1.01 [-1.10, -0.92]``."""
    lo, hi = fit["ci95"]
    return f"{fit['fitted']:+.2f} [{lo:+.2f}, {hi:+.2f}]"


__all__ = ("VERDICTS", "FIGURES", "Source", "Measurement", "Reduced", "Claim", "MissingResult", "Saved", "Results",
           "mean0", "g3", "pct", "spread", "interval")
