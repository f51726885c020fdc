"""Scratch arrays reused from one call to the next, owned by whoever makes the calls (a model object, a test).

A training step allocates the same dozen ``(N, T, D)`` arrays every time; fresh ones cost a page fault per page
(glibc maps large blocks anew), which measured more than the kernels themselves at Table 1's sizes
(docs/performance_history.md, "Deep stacks").  A :class:`Workspace` hands out the same array for the same name
and shape.

Ownership is the rule that keeps this safe: a workspace belongs to one model object
(:class:`mamba_dynamics.core.model.Model` makes its own, :meth:`~mamba_dynamics.core.model.Model.scratch`) or to
the caller that passes it in, never to a module.  Whatever a call returns from a workspace is overwritten by the
next call *on the same workspace*, so two models used in one process, interleaved, give the numbers each gives
alone (``tests/test_models.py``).

Glossary: ``rows=True`` = one array per name and trailing shape, of which the first ``shape[0]`` rows are handed
out (arrays whose leading size changes from call to call share one allocation).
"""

from __future__ import annotations

import numpy as np


class Workspace:
    """Arrays reused from one call to the next, by name and shape (see the module docstring)."""

    def __init__(self, rows: bool = False):
        self._arrays: dict = {}
        self.rows = rows

    def get(self, name: str, shape: tuple) -> np.ndarray:
        """An uninitialised float64 array of ``shape``, the same one for the same ``(name, shape)``.  A workspace
        made with ``rows=True`` keeps one array per name and trailing shape ``shape[1:]`` and returns its first
        ``shape[0]`` rows (a contiguous view), replaced by a larger one when more rows are asked for."""
        shape = tuple(shape)
        key = (name, shape[1:] if self.rows else shape)
        a = self._arrays.get(key)
        if a is None or a.shape[0] < shape[0]:
            if a is None and len(self._arrays) > 256:  # many shapes (evaluation sets, sweeps): start over
                self._arrays.clear()
            a = self._arrays[key] = np.empty(shape)
        return a[:shape[0]] if self.rows else a


def fresh(name: str, shape: tuple) -> np.ndarray:
    """A new uninitialised float64 array of ``shape`` (the ``get`` of no workspace: ``name`` is ignored)."""
    return np.empty(shape)


def getter(work: Workspace | None):
    """``work.get``, or :func:`fresh` when there is no workspace."""
    return work.get if work is not None else fresh


__all__ = ("Workspace", "fresh", "getter")
