"""One-layer Mamba (paper eq. 3), the linear Transformer and the softmax Transformer (App. B.1), sharing one
attention core and the core gate.

    F(Psi; P) = sum_{i=1}^{l} G_i(w) * y_i * p_i^T W_B^T W_C p_query          (Mamba)
    F(Psi; P) = sum_{i=1}^{l}          y_i * p_i^T W_B^T W_C p_query          (LT: G_i == 1)
    F(Psi; P) = (1/h) sum_k sum_{i=1}^{l} A^k_i * y_i,                        (ST: softmax over i = 1..l+1 of
                A^k_i = softmax_i(p_i^T W_B^k^T W_C^k p_query / tau)           head k's scores; ``attention``)

(the query term ``i = l+1`` vanishes because ``y_query = 0``).  Paper: arXiv 2510.00399, eqs. (1)-(3).

Glossary: ``W_B, W_C`` ``(m, d+1)`` = W_B, W_C; ``w`` ``(d+1,)`` = w; ``s`` ``(B, l)`` = attention scores
``p_i^T W_B^T W_C p_query``; ``G`` ``(B, l)`` = gates G_i(w) (the softmax weights, head-averaged, for ST: what
the query gives each example); ``F`` ``(B,)`` = model output; ``z`` = query label; ``attention`` a
:class:`~mamba_dynamics.core.attention.Attention` (None: Mamba or LT).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .config import OutlierConfig
from ..core.gating import log_gates
from ..core.train import ParamBlocks


@dataclass
class Params(ParamBlocks):
    """Trainable parameters Psi = {W_B ``(m, d+1)``, W_C ``(m, d+1)``, w ``(d+1,)``}."""

    W_B: np.ndarray
    W_C: np.ndarray
    w: np.ndarray


def init_params(cfg: OutlierConfig, rng: np.random.Generator) -> Params:
    """Paper Section 3.1: first ``d`` diagonal entries of ``W_B, W_C`` equal ``delta``; ``w ~ N(0, I/(d+1))``."""
    D = cfg.d + 1
    W_B = np.zeros((cfg.m, D))
    W_C = np.zeros((cfg.m, D))
    idx = np.arange(cfg.d)
    W_B[idx, idx] = cfg.delta
    W_C[idx, idx] = cfg.delta
    w = rng.standard_normal(D) / np.sqrt(D)
    return Params(W_B, W_C, w)


def attention_scores(W_B: np.ndarray, W_C: np.ndarray, P: np.ndarray) -> np.ndarray:
    """Linear-attention scores ``s_i = p_i^T W_B^T W_C p_query``.  ``P`` ``(B, l+1, d+1)`` -> ``(B, l)``."""
    v = (P[:, -1, :] @ W_C.T) @ W_B  # (B, d+1) = W_B^T W_C p_query
    return np.einsum("bid,bd->bi", P[:, :-1, :], v)


def gates(w: np.ndarray, P: np.ndarray, gated: bool = True) -> np.ndarray:
    """Gates ``G_i(w)`` ``(B, l)`` of eq. (3); all ones for the linear Transformer (``gated=False``)."""
    if not gated:
        return np.ones(P.shape[:2])[:, :-1]
    return np.exp(log_gates(P @ w))


def weights(params: Params, P: np.ndarray, gated: bool = True, attention=None) -> np.ndarray:
    """The weight ``(B, l)`` the query gives each example: the gate ``G_i(w)`` (Mamba), 1 (LT) or the softmax
    weight averaged over the heads (ST, ``attention``; the query's own weight dropped)."""
    if attention is not None:
        from ..core.attention import last_row_weights

        return last_row_weights(P, params.W_B, params.W_C, attention)[:, :-1]
    return gates(params.w, P, gated)


def forward(params: Params, P: np.ndarray, gated: bool = True, attention=None) -> np.ndarray:
    """Model output ``F(Psi; P)`` ``(B,)`` for prompts ``P`` ``(B, l+1, d+1)`` (NumPy; ``attention``: the softmax
    Transformer, whose weights already hold the scores)."""
    G = weights(params, P, gated, attention)
    if attention is not None:
        return np.sum(G * P[:, :-1, -1], axis=1)
    return np.sum(G * P[:, :-1, -1] * attention_scores(params.W_B, params.W_C, P), axis=1)
