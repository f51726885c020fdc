"""Losses and errors shared by every model family.

Glossary: ``F`` ``(B,)`` = model outputs; ``grads`` = dict block name -> gradient array (same shape as the block); ``y`` ``(B,)`` = labels in {-1, +1} (classification) or real targets
(regression); ``slope`` = ``dLoss/dF`` ``(B,)``.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit


class LossGrad(NamedTuple):
    """What every hand-derived gradient function of every family returns (kernel and reference alike): the loss,
    the gradients by parameter block name, and the model outputs ``F`` ``(B,)`` they came from."""

    loss: float
    grads: dict
    F: np.ndarray


def hinge_loss(F: np.ndarray, y: np.ndarray) -> float:
    """Mean hinge loss ``max(0, 1 - y F)`` over the batch: NumPy's ``mean`` (its pairwise sum, then one division
    by the count) without its Python layer, the same bits.  (A step's first NumPy calls after another library's
    step fetch their code from memory: the loss through ``np.mean`` then took 76 us, this way 43;
    docs/performance_history.md, "The feature steps' passes around the products, and their cold start".)"""
    v = 1.0 - y * F
    np.maximum(0.0, v, out=v)
    return float(np.add.reduce(v)) / len(v)


@njit(cache=True)
def _pairwise_leaf(a, lo, n):  # pragma: no cover - compiled
    """NumPy's pairwise sum of at most 128 terms ``a[lo : lo + n]``: below 8 in order; else eight running sums,
    joined as ``((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))``, then the last ``n mod 8`` terms in order."""
    if n < 8:
        res = 0.0
        for i in range(n):
            res += a[lo + i]
        return res
    r0, r1, r2, r3 = a[lo], a[lo + 1], a[lo + 2], a[lo + 3]
    r4, r5, r6, r7 = a[lo + 4], a[lo + 5], a[lo + 6], a[lo + 7]
    i = 8
    while i < n - n % 8:
        r0 += a[lo + i]
        r1 += a[lo + i + 1]
        r2 += a[lo + i + 2]
        r3 += a[lo + i + 3]
        r4 += a[lo + i + 4]
        r5 += a[lo + i + 5]
        r6 += a[lo + i + 6]
        r7 += a[lo + i + 7]
        i += 8
    res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    while i < n:
        res += a[lo + i]
        i += 1
    return res


@njit(cache=True)
def _pairwise(a, n):  # pragma: no cover - compiled
    """NumPy's pairwise sum of ``a[:n]`` (the order of ``np.add.reduce`` on a contiguous float64 array): up to 128
    terms :func:`_pairwise_leaf`; above, the two halves (the first ``n // 2`` rounded down to a multiple of 8)
    summed apart and added.  The recursion is walked with an explicit stack: a recursive function loaded from
    Numba's cache calls a null address."""
    if n <= 128:
        return _pairwise_leaf(a, 0, n)
    los = np.empty(64, dtype=np.int64)  # the frames: first term, length, the left half's sum once known
    ns = np.empty(64, dtype=np.int64)
    left = np.empty(64)
    has_left = np.zeros(64, dtype=np.bool_)
    top = 0
    los[0], ns[0] = 0, n
    while True:
        m = ns[top]
        if m > 128:  # descend into the left half
            h = m // 2 - (m // 2) % 8
            los[top + 1], ns[top + 1], has_left[top + 1] = los[top], h, False
            top += 1
            continue
        v = _pairwise_leaf(a, los[top], m)
        top -= 1
        while top >= 0 and has_left[top]:  # both halves known: their sum goes up
            v = left[top] + v
            top -= 1
        if top < 0:
            return v
        left[top], has_left[top] = v, True  # the left half known: the right half next
        h = ns[top] // 2 - (ns[top] // 2) % 8
        los[top + 1], ns[top + 1], has_left[top + 1] = los[top] + h, ns[top] - h, False
        top += 1


@njit(cache=True)
def hinge_loss_kernel(F, y):  # pragma: no cover - compiled
    """:func:`hinge_loss` inside Numba, the same bits: ``max(0, 1 - y_b F_b)`` as ``np.maximum`` takes it (NaN
    kept), NumPy's pairwise sum (:func:`_pairwise`, the order of ``np.add.reduce`` on a contiguous array; tested
    against it), one division by ``B``.  For the one-call training steps, whose loss then costs no NumPy call."""
    n = F.shape[0]
    v = np.empty(n)
    for b in range(n):
        t = 1.0 - y[b] * F[b]
        v[b] = 0.0 if 0.0 >= t else t
    return _pairwise(v, n) / n


def hinge_slope(F: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``dLoss/dF_b`` of :func:`hinge_loss`: ``-y_b / B`` where the margin ``y_b F_b < 1``, else 0 ``(B,)``."""
    return np.where(y * F < 1.0, -y, 0.0) / len(F)


def error_01(F: np.ndarray, y: np.ndarray) -> float:
    """0-1 error ``P[y F <= 0]`` (a zero output counts as an error)."""
    return float(np.mean(y * F <= 0.0))


def half_squared_loss(pred: np.ndarray, y: np.ndarray) -> float:
    """``(1/2) mean (pred - y)^2`` (any shapes that broadcast): NumPy's ``mean`` without its Python layer, the same
    bits (:func:`hinge_loss`)."""
    v = np.subtract(pred, y, dtype=np.float64)
    np.multiply(v, v, out=v)
    return 0.5 * (float(np.add.reduce(v, axis=None)) / v.size)


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


__all__ = ("LossGrad", "mean_over_chunks", "hinge_loss", "hinge_loss_kernel", "hinge_slope", "error_01",
           "half_squared_loss")
