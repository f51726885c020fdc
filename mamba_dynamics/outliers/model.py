"""One-layer Mamba (paper eq. 3), the linear Transformer and the softmax Transformer (App. B.1), sharing one
attention core and the core gate.

    F(Psi; P) = sum_{i=1}^{l} G_i(w) * y_i * p_i^T W_B^T W_C p_query          (Mamba)
    F(Psi; P) = sum_{i=1}^{l}          y_i * p_i^T W_B^T W_C p_query          (LT: G_i == 1)
    F(Psi; P) = (1/h) sum_k sum_{i=1}^{l} A^k_i * y_i,                        (ST: softmax over i = 1..l+1 of
                A^k_i = softmax_i(p_i^T W_B^k^T W_C^k p_query / tau)           head k's scores; ``attention``)
    F(Psi; P) = sum_{i=1}^{l} y_i (W_C p_query)^T diag(D_i) W_B p_i           (GLA: D_ia = prod_{j>i} alpha_ja)

and the other scalar gates of App. E.6 (Mamba-2, gated retention, RetNet) in Mamba's place:
``G_i = a(t_i) prod_{j>i} lambda(t_j)`` (:mod:`mamba_dynamics.core.gates`).

(the query term ``i = l+1`` vanishes because ``y_query = 0``).  Paper: arXiv 2510.00399, eqs. (1)-(3).

Glossary: ``W_B, W_C`` ``(m, d+1)`` = W_B, W_C; ``w`` ``(d+1,)`` = w; ``s`` ``(B, l)`` = attention scores
``p_i^T W_B^T W_C p_query``; ``G`` ``(B, l)`` = gates G_i(w) (the softmax weights, head-averaged, for ST: what
the query gives each example; GLA: the mean of ``D_ia`` over the coordinates); ``F`` ``(B,)`` = model output;
``z`` = query label; ``gated`` = a :class:`~mamba_dynamics.core.gates.Gate` (True: Mamba's, False: none) or
GLA's :class:`~mamba_dynamics.core.gates.VectorGate` (then ``w`` is ``W_a`` ``(m, d+1)``); ``attention`` a
:class:`~mamba_dynamics.core.attention.Attention` (None: not ST).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .config import OutlierConfig
from ..core import gates as gate_kinds
from ..core.gates import VectorGate, as_gate
from ..core.train import ParamBlocks


@dataclass
class Params(ParamBlocks):
    """Trainable parameters Psi = {W_B ``(m, d+1)``, W_C ``(m, d+1)``, w ``(d+1,)``} (GLA: w = W_a ``(m, d+1)``)."""

    W_B: np.ndarray
    W_C: np.ndarray
    w: np.ndarray


def init_params(cfg: OutlierConfig, rng: np.random.Generator) -> Params:
    """Paper Section 3.1: first ``d`` diagonal entries of ``W_B, W_C`` equal ``delta``; ``w ~ N(0, I/(d+1))``
    (GLA: each row of ``W_a`` the same way, ``(m, d+1)``)."""
    D = cfg.d + 1
    W_B = np.zeros((cfg.m, D))
    W_C = np.zeros((cfg.m, D))
    idx = np.arange(cfg.d)
    W_B[idx, idx] = cfg.delta
    W_C[idx, idx] = cfg.delta
    w = rng.standard_normal((cfg.m, D) if cfg.model == "gla" else D) / np.sqrt(D)
    return Params(W_B, W_C, w)


def attention_scores(W_B: np.ndarray, W_C: np.ndarray, P: np.ndarray) -> np.ndarray:
    """Linear-attention scores ``s_i = p_i^T W_B^T W_C p_query``.  ``P`` ``(B, l+1, d+1)`` -> ``(B, l)``."""
    v = (P[:, -1, :] @ W_C.T) @ W_B  # (B, d+1) = W_B^T W_C p_query
    return np.einsum("bid,bd->bi", P[:, :-1, :], v)


def gates(w: np.ndarray, P: np.ndarray, gated=True, reference: bool = False) -> np.ndarray:
    """Gates ``G_i(w)`` ``(B, l)`` of eq. (3) for the scalar gate ``gated``; all ones for the linear Transformer
    (``gated=False``); GLA (a :class:`~mamba_dynamics.core.gates.VectorGate`): the mean over the coordinates of
    its decay products ``D_ia`` (``w`` = ``W_a`` ``(m, d+1)``; Numba, :func:`~mamba_dynamics.outliers.gla
    .mean_gates`, unless ``reference``)."""
    if isinstance(gated, VectorGate):
        if not reference:
            from .gla import mean_gates

            return mean_gates(w, P, gated)
        return np.exp(gate_kinds.vector_log_gates(P @ w.T, gated)).mean(axis=2)
    gate = as_gate(gated)
    if not gate:
        return np.ones(P.shape[:2])[:, :-1]
    return np.exp(gate_kinds.log_gates(P @ w, gate))


def weights(params: Params, P: np.ndarray, gated: bool = True, attention=None) -> np.ndarray:
    """The weight ``(B, l)`` the query gives each example: the gate ``G_i(w)`` (Mamba), 1 (LT) or the softmax
    weight averaged over the heads (ST, ``attention``; the query's own weight dropped)."""
    if attention is not None:
        from ..core.attention import last_row_weights

        return last_row_weights(P, params.W_B, params.W_C, attention)[:, :-1]
    return gates(params.w, P, gated)


def forward(params: Params, P: np.ndarray, gated: bool = True, attention=None) -> np.ndarray:
    """Model output ``F(Psi; P)`` ``(B,)`` for prompts ``P`` ``(B, l+1, d+1)`` (NumPy; ``attention``: the softmax
    Transformer, whose weights already hold the scores; GLA: its Numba forward, whose reference is
    :func:`gla_forward`)."""
    if isinstance(gated, VectorGate):  # GLA: its kernel's forward (NumPy reference: gla_forward)
        from .gla import gla_outputs

        return gla_outputs(params.W_B, params.W_C, params.w, P, gated)
    G = weights(params, P, gated, attention)
    if attention is not None:
        return np.sum(G * P[:, :-1, -1], axis=1)
    return np.sum(G * P[:, :-1, -1] * attention_scores(params.W_B, params.W_C, P), axis=1)


def gla_forward(params: Params, P: np.ndarray, gate: VectorGate) -> np.ndarray:
    """GLA's output ``F = sum_i y_i (W_C p_q)^T diag(D_i) W_B p_i`` ``(B,)`` (NumPy; ``D`` in log space), with
    ``params.w`` = ``W_a`` ``(m, d+1)``."""
    D = np.exp(gate_kinds.vector_log_gates(P @ params.w.T, gate))  # (B, l, m)
    k = P[:, :-1, :] @ params.W_B.T  # (B, l, m)
    u = P[:, -1, :] @ params.W_C.T  # (B, m)
    return np.einsum("bi,bia,bia,ba->b", P[:, :-1, -1], D, k, u)
