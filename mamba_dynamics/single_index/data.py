"""Single-index ICL prompts and the degree-2 Hermite embedding (arXiv 2510.12026; spec sections 1 and 2.1).

``x ~ N(0, I_d)``, ``y = g_*(<beta, x>) + zeta``, ``zeta ~ Unif{-tau, +tau}``, ``beta`` uniform on the unit sphere of
the coordinate subspace spanned by the fixed index set ``I`` (``|I| = r``), a fresh ``beta`` per prompt.

Embedding ``phi(x) = (1, x_1..x_d, (x_k^2 - 1)/sqrt 2, x_k x_l (k < l))`` of size ``d~ = (d+1)(d+2)/2``, orthonormal
under N(0, I).  Glossary: ``X`` ``(n, N+1, d)`` inputs (query last), ``Y`` ``(n, N+1)`` labels (the query's label is
the target; the model never sees it), ``beta`` ``(n, d)``.
"""

from __future__ import annotations

import numpy as np

from .hermite import link_value, parse_link


def index_set(d: int, r: int, rng: np.random.Generator) -> np.ndarray:
    """The fixed relevant coordinates ``I`` (sorted, seeded)."""
    return np.sort(rng.choice(d, size=r, replace=False))


def task(cfg) -> tuple[np.ndarray, np.ndarray]:
    """The fixed index set ``I`` (seeded by ``cfg.seed`` alone) and the normalised link coefficients of any config
    with fields ``d, r, link, seed`` (Algorithm 1 and the end-to-end networks draw the same ``I``)."""
    return index_set(cfg.d, cfg.r, np.random.default_rng([cfg.seed, 0])), parse_link(cfg.link)


def test_rng(seed: int, N: int) -> np.random.Generator:
    """The stream of the test prompts of context length ``N`` (shared by every predictor of a seed: paired)."""
    return np.random.default_rng([seed, N, 1])


def sample_prompts(n: int, N: int, d: int, I: np.ndarray, coefs: np.ndarray, tau: float,
                   rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``n`` prompts of ``N`` examples + query: ``X (n, N+1, d)``, ``Y (n, N+1)``, ``beta (n, d)``."""
    g = rng.standard_normal((n, len(I)))
    beta = np.zeros((n, d))
    beta[:, I] = g / np.linalg.norm(g, axis=1, keepdims=True)
    X = rng.standard_normal((n, N + 1, d))
    z = np.einsum("bid,bd->bi", X, beta)
    Y = link_value(coefs, z) + tau * np.where(rng.random((n, N + 1)) < 0.5, 1.0, -1.0)
    return X, Y, beta


def embed(X: np.ndarray) -> np.ndarray:
    """``phi`` applied to the last axis: ``(..., d) -> (..., d~)``."""
    d = X.shape[-1]
    iu, ju = np.triu_indices(d, k=1)
    parts = [np.ones(X.shape[:-1] + (1,)), X, (X**2 - 1) / np.sqrt(2), X[..., iu] * X[..., ju]]
    return np.concatenate(parts, axis=-1)


def feature_blocks(d: int) -> dict:
    """Slices of the embedding: ``const``, ``linear``, ``square``, ``cross``."""
    c = d * (d - 1) // 2
    return {"const": slice(0, 1), "linear": slice(1, 1 + d), "square": slice(1 + d, 1 + 2 * d),
            "cross": slice(1 + 2 * d, 1 + 2 * d + c)}


def relevant_mask(d: int, I: np.ndarray) -> np.ndarray:
    """Features that involve only coordinates in ``I`` (the constant, ``x_k``, ``h_2(x_k)``, ``x_k x_l``, k,l in I)."""
    inI = np.zeros(d, dtype=bool)
    inI[I] = True
    iu, ju = np.triu_indices(d, k=1)
    return np.concatenate([[True], inI, inI, inI[iu] & inI[ju]])


def sample_queries(beta: np.ndarray, q: int, coefs: np.ndarray, tau: float,
                   rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``q`` extra queries per prompt with the prompt's ``beta`` ``(n, d)``: ``Xq (n, q, d)``, ``yq (n, q)``."""
    n, d = beta.shape
    Xq = rng.standard_normal((n, q, d))
    z = np.einsum("bqd,bd->bq", Xq, beta)
    return Xq, link_value(coefs, z) + tau * np.where(rng.random((n, q)) < 0.5, 1.0, -1.0)


def sub_embedding_index(d: int, I: np.ndarray) -> np.ndarray:
    """Positions in ``phi(x)`` (size ``d~``) of the features of ``phi(x_I)`` (size ``(r+1)(r+2)/2``), in the
    order ``embed`` lists them, for sorted ``I``: ``phi(x)[idx] == phi(x_I)``."""
    I = np.asarray(I)
    blocks = feature_blocks(d)
    cross_pos = np.full((d, d), -1)
    iu, ju = np.triu_indices(d, k=1)
    cross_pos[iu, ju] = blocks["cross"].start + np.arange(len(iu))
    a, b = np.triu_indices(len(I), k=1)
    return np.concatenate([[0], 1 + I, 1 + d + I, cross_pos[I[a], I[b]]]).astype(np.int64)
