"""Quantities the single-index analysis tracks (arXiv 2510.12026; spec section 5).

Glossary: ``n_eff`` = effective context size of the gate, ``(sum_i G_i)^2 / sum_i G_i^2``; ``S_rel`` = share of
``||gamma||^2`` on the features that involve only relevant coordinates; ``cos_linear`` / ``cos_quad`` = alignment
of the feature a prompt's context extracts with that prompt's ``beta``.
"""

from __future__ import annotations

import numpy as np

from .data import feature_blocks, relevant_mask


def effective_context(G: np.ndarray) -> np.ndarray:
    """``n_eff = (sum_i G_i)^2 / sum_i G_i^2`` per prompt ``(n,)``."""
    return np.sum(G, axis=1) ** 2 / np.maximum(np.sum(G**2, axis=1), 1e-300)



def extracted_alignment(Ag: np.ndarray, beta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cosines of the feature a prompt's context extracts with ``beta`` (spec section 5, item 4).

    ``Ag`` ``(n, d~)`` = ``gamma * A`` is the readout's polynomial in the query: linear part ``u`` and quadratic
    form ``Q`` (diagonal ``Ag_square / sqrt 2``, off-diagonal ``Ag_cross / 2``).  Returns ``cos(u, beta)`` and
    ``|cos(top eigenvector of Q, beta)|`` (by largest ``|eigenvalue|``), each ``(n,)``; nan where a part is zero."""
    n, d = beta.shape
    blocks = feature_blocks(d)
    u = Ag[:, blocks["linear"]]
    un = np.linalg.norm(u, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        cos_u = np.where(un > 0, np.einsum("nk,nk->n", u, beta) / un, np.nan)
    Q = np.zeros((n, d, d))
    idx = np.arange(d)
    Q[:, idx, idx] = Ag[:, blocks["square"]] / np.sqrt(2.0)
    iu, ju = np.triu_indices(d, k=1)
    Q[:, iu, ju] = Q[:, ju, iu] = Ag[:, blocks["cross"]] / 2.0
    evals, evecs = np.linalg.eigh(Q)
    top = evecs[np.arange(n), :, np.argmax(np.abs(evals), axis=1)]
    cos_q = np.abs(np.einsum("nk,nk->n", top, beta))
    cos_q[np.all(Q.reshape(n, -1) == 0, axis=1)] = np.nan
    return cos_u, cos_q


def share_relevant(gamma: np.ndarray, d: int, I: np.ndarray) -> float:
    """``S_rel = ||gamma_rel||^2 / ||gamma||^2`` over features that involve only coordinates in I."""
    mask = relevant_mask(d, I)
    return float(np.sum(gamma[mask] ** 2) / max(np.sum(gamma**2), 1e-300))
