"""Losses and errors shared by every model family.

Glossary: ``F`` ``(B,)`` = model outputs; ``grads`` = dict block name -> gradient array (same shape as the block); ``y`` ``(B,)`` = labels in {-1, +1} (classification) or real targets
(regression); ``slope`` = ``dLoss/dF`` ``(B,)``.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class LossGrad(NamedTuple):
    """What every hand-derived gradient function of every family returns (kernel and reference alike): the loss,
    the gradients by parameter block name, and the model outputs ``F`` ``(B,)`` they came from."""

    loss: float
    grads: dict
    F: np.ndarray


def hinge_loss(F: np.ndarray, y: np.ndarray) -> float:
    """Mean hinge loss ``max(0, 1 - y F)`` over the batch: NumPy's ``mean`` (its pairwise sum, then one division
    by the count) without its Python layer, the same bits.  (A training step's first NumPy calls after another
    library's step fetch their code from memory: ``np.mean``'s Python path then took 70 us; docs/performance.md,
    "Paired rounds and code out of the caches".)"""
    v = 1.0 - y * F
    np.maximum(0.0, v, out=v)
    return float(np.add.reduce(v)) / len(v)


def hinge_slope(F: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``dLoss/dF_b`` of :func:`hinge_loss`: ``-y_b / B`` where the margin ``y_b F_b < 1``, else 0 ``(B,)``."""
    return np.where(y * F < 1.0, -y, 0.0) / len(F)


def error_01(F: np.ndarray, y: np.ndarray) -> float:
    """0-1 error ``P[y F <= 0]`` (a zero output counts as an error)."""
    return float(np.mean(y * F <= 0.0))


def half_squared_loss(pred: np.ndarray, y: np.ndarray) -> float:
    """``(1/2) mean (pred - y)^2``."""
    return 0.5 * float(np.mean((pred - y) ** 2))


def mean_over_chunks(step, chunks: list, loss) -> LossGrad:
    """A mean loss and its gradients over a batch computed chunk by chunk: ``step(sl)`` gives the
    :class:`LossGrad` of the sequences ``sl`` (a slice; its loss and gradients means over them), and the batch's
    are ``sum_c (n_c / B) grads_c``; ``F`` ``(B,)`` is the chunks' outputs in order and the loss ``loss(F)`` (so
    it is the one-piece loss exactly).  One chunk returns ``step``'s result unchanged."""
    if len(chunks) == 1:
        return step(chunks[0])
    B = chunks[-1].stop
    parts = [(sl.stop - sl.start, step(sl)) for sl in chunks]
    grads = {k: sum((n / B) * p.grads[k] for n, p in parts) for k in parts[0][1].grads}
    F = np.concatenate([p.F for _, p in parts])
    return LossGrad(loss(F), grads, F)


__all__ = ("LossGrad", "mean_over_chunks", "hinge_loss", "hinge_slope", "error_01", "half_squared_loss")
