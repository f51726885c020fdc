"""Sequences of the feature-filtering paper (arXiv 2602.12499, Section 3; docs/features.md), seeded.

Glossary (code name -> paper symbol):

==============  ==================  ================================================================
code            paper               meaning
==============  ==================  ================================================================
``O[0]``        o_+                 class-relevant pattern of label +1 (row of an orthonormal basis)
``O[1]``        o_-                 class-relevant pattern of label -1
``O[2:]``       o_3 ... o_d         class-irrelevant patterns
``X``           X                   sequences, shape ``(N, L, d)``; token ``x_l = o_{k_l} + xi_l``
``y``           y                   labels in {-1, +1}, shape ``(N,)``
``k``           -                   pattern index of every token, ``(N, L)``: 0 = o_+, 1 = o_-, >= 2 irrelevant
==============  ==================  ================================================================

Noise ``xi_l ~ N(0, (tau^2 / d) I_d)`` (so ``E||xi||^2 = tau^2``).  Irrelevant tokens draw their pattern
uniformly from ``o_3 ... o_d``.

* majority voting: ``round(alpha_r L)`` tokens carry the label's pattern (relevant), ``round(alpha_c L)`` the
  other one (confusing), at uniformly random positions; the rest are irrelevant.
* local concentration: two tokens of each of o_+ and o_-; the label's pair sits ``gap_near`` positions apart,
  the other pair ``gap_far`` apart (``gap_near < gap_far``); pair positions are uniform among placements where
  the four positions are distinct.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..core.seeds import haar_basis, seed_streams as _streams
from .config import FeaturesConfig


#: Named random streams of one run (:func:`seed_streams`).
STREAMS = ("basis", "init", "train", "test", "batches")


def seed_streams(seed: int) -> dict:
    """Independent generators for the basis, initialisation, training set, test set and batches, from one seed."""
    return _streams(seed, STREAMS)


@dataclass(frozen=True)
class Sequences:
    """A labelled set, and a model's batch. X: ``(N, L, d)``; y: ``(N,)``; k: ``(N, L)`` pattern indices (None in
    a batch made for a gradient alone, ``Sequences(X, y)``: what a model's ``loss_and_grad`` reads)."""

    X: np.ndarray
    y: np.ndarray
    k: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.y)

    def take(self, idx: np.ndarray) -> "Sequences":
        return Sequences(self.X[idx], self.y[idx], None if self.k is None else self.k[idx])


def make_basis(d: int, rng: np.random.Generator) -> np.ndarray:
    """Seeded Haar-random orthonormal basis, rows ``O[0] = o_+``, ``O[1] = o_-``, ``O[2:]`` irrelevant;
    shape ``(d, d)``."""
    return haar_basis(d, rng)


def _majority_patterns(cfg: FeaturesConfig, y: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    n, L = len(y), cfg.L
    k = rng.integers(2, cfg.d, size=(n, L))
    order = np.argsort(rng.random((n, L)), axis=1)  # a random permutation of positions per sequence
    own = np.where(y > 0, 0, 1)[:, None]
    rows = np.arange(n)[:, None]
    k[rows, order[:, : cfg.n_relevant]] = own
    k[rows, order[:, cfg.n_relevant : cfg.n_relevant + cfg.n_confusing]] = 1 - own
    return k


def pair_positions(n: int, L: int, g1: int, g2: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Starts ``(p, q)`` ``(n,)`` of two pairs ``{p, p+g1}`` and ``{q, q+g2}`` in ``range(L)``, all four
    positions distinct, uniform over such placements (rejection sampling)."""
    p = np.empty(n, dtype=np.int64)
    q = np.empty(n, dtype=np.int64)
    todo = np.arange(n)
    while len(todo):
        pp = rng.integers(0, L - g1, size=len(todo))
        qq = rng.integers(0, L - g2, size=len(todo))
        ok = (pp != qq) & (pp != qq + g2) & (pp + g1 != qq) & (pp + g1 != qq + g2)
        p[todo[ok]], q[todo[ok]] = pp[ok], qq[ok]
        todo = todo[~ok]
    return p, q


def _locality_patterns(cfg: FeaturesConfig, y: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    n = len(y)
    k = rng.integers(2, cfg.d, size=(n, cfg.L))
    p, q = pair_positions(n, cfg.L, cfg.gap_near, cfg.gap_far, rng)
    own = np.where(y > 0, 0, 1)
    rows = np.arange(n)
    for pos, pat in ((p, own), (p + cfg.gap_near, own), (q, 1 - own), (q + cfg.gap_far, 1 - own)):
        k[rows, pos] = pat
    return k


def sample(cfg: FeaturesConfig, O: np.ndarray, n: int, rng: np.random.Generator) -> Sequences:
    """``n`` sequences of ``cfg.regime`` with balanced random labels; ``O`` ``(d, d)`` from :func:`make_basis`."""
    y = np.where(rng.random(n) < 0.5, 1.0, -1.0)
    k = _majority_patterns(cfg, y, rng) if cfg.regime == "majority" else _locality_patterns(cfg, y, rng)
    X = O[k] + rng.standard_normal((n, cfg.L, cfg.d)) * (cfg.tau / np.sqrt(cfg.d))
    return Sequences(X=X, y=y, k=k)


def pair_gaps(k: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distances between the two o_+ tokens and between the two o_- tokens of each sequence ``(N,)``
    (local-concentration data; a sequence with other counts gets -1)."""
    out = []
    for pat in (0, 1):
        pos = [np.flatnonzero(row == pat) for row in k]
        out.append(np.array([r[1] - r[0] if len(r) == 2 else -1 for r in pos]))
    return out[0], out[1]


def one_layer_point(model: str, N: int, L: int, d: int, m: int = 40, seed: int = 0) -> tuple:
    """A trained-looking point of a one-layer model (``"ssm"`` or ``"lt-mlp"``), for benchmarks and tests:
    ``(params dict, X (N, L, d), y (N,), a (m,))`` with majority-voting data, the gates away from 1/2 and the
    projections away from the identity, so that every gradient block is non-trivial."""
    from .model import output_layer_random

    rng = np.random.default_rng(seed)
    cfg = FeaturesConfig(model=model, d=d, L=L, m=m)
    seqs = sample(cfg, make_basis(d, rng), N, rng)
    p = {"V": 0.3 * rng.standard_normal((m, d))}
    if model == "ssm":
        p.update(w=0.5 * rng.standard_normal(d), W_B=np.eye(d) + 0.1 * rng.standard_normal((d, d)),
                 W_C=np.eye(d) + 0.1 * rng.standard_normal((d, d)))
    else:
        p["W"] = np.eye(d) + 0.1 * rng.standard_normal((d, d))
    return p, seqs.X, seqs.y, output_layer_random(m, rng)


def stack_point(d: int, N: int = 1000, L: int = 12, layers: int = 5, seed: int = 0) -> list:
    """A point of the Table 3 stack, for benchmarks and tests: ``[W_B, W_C, w, V, a, X, y]`` with Table 3's data
    (majority voting) and the stack's initialisation, every block's ``w`` (0 at the start) drawn small so that
    the gates differ between tokens."""
    from .stack import init_stack_params

    cfg = FeaturesConfig(d=d, L=L, layers=layers, n_train=N, seed=seed)
    rng = seed_streams(seed)
    O = make_basis(d, rng["basis"])
    p = init_stack_params(cfg, rng["init"])
    p.w += 0.3 * np.random.default_rng(seed).standard_normal(p.w.shape) / np.sqrt(d)
    data = sample(cfg, O, N, rng["train"])
    return [p.W_B, p.W_C, p.w, p.V, p.a, data.X, data.y]
