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
    """Mean hinge loss ``max(0, 1 - y F)`` over the batch."""
    return float(np.mean(np.maximum(0.0, 1.0 - y * F)))


def hinge_slope(F: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``dLoss/dF_b`` of :func:`hinge_loss`: ``-y_b / B`` where the margin ``y_b F_b < 1``, else 0 ``(B,)``."""
    return np.where(y * F < 1.0, -y, 0.0) / len(F)


def error_01(F: np.ndarray, y: np.ndarray) -> float:
    """0-1 error ``P[y F <= 0]`` (a zero output counts as an error)."""
    return float(np.mean(y * F <= 0.0))


def half_squared_loss(pred: np.ndarray, y: np.ndarray) -> float:
    """``(1/2) mean (pred - y)^2``."""
    return 0.5 * float(np.mean((pred - y) ** 2))


__all__ = ("LossGrad", "hinge_loss", "hinge_slope", "error_01", "half_squared_loss")
