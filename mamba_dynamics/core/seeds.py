"""Seeded randomness shared by every family: independent named streams from one seed, and a Haar-random basis.

Glossary: ``seed`` = the run's seed; ``names`` = one stream per use (patterns, init, train, test, ...), in a fixed
order, so adding a use at the end never changes the numbers of the earlier ones.
"""

from __future__ import annotations

import numpy as np


def seed_streams(seed: int, names: tuple) -> dict[str, np.random.Generator]:
    """Independent generators, one per name, spawned from ``SeedSequence(seed)`` in the order of ``names``."""
    children = np.random.SeedSequence(seed).spawn(len(names))
    return {name: np.random.default_rng(ch) for name, ch in zip(names, children)}


def haar_basis(d: int, rng: np.random.Generator) -> np.ndarray:
    """A Haar-distributed orthonormal basis of ``R^d`` as the rows of a ``(d, d)`` array (QR of a Gaussian matrix,
    signs fixed by the diagonal of R so the draw is unique)."""
    q, r = np.linalg.qr(rng.standard_normal((d, d)))
    return (q * np.sign(np.diag(r))[None, :]).T.copy()


__all__ = ("seed_streams", "haar_basis")
