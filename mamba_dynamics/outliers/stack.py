"""Deep stacks of the outlier-ICL models (arXiv 2510.00399, Table 1): ``L`` Mamba or linear-Transformer blocks on
a residual stream, read at the label channel of the query, with the hinge loss and its hand-derived gradients.

    X_0 = P (B, l+1, d+1);   X_k = X_{k-1} + Mix_k(U_k)   (core.stack, S0-S2);   F = X_L[query, label]

with ``U_1 = P`` and ``U_k = RMSNorm(X_{k-1})`` for ``k >= 2`` (``norm = "rms"``, the default; ``"none"`` feeds
the raw stream).  Each block is the one-layer model's scan (eq. 1, A = -I, ``Delta = softplus(w_k^T u)``) on its
input: the paper's ``W_B, W_C`` ``(m, d+1)`` and ``w`` ``(d+1,)`` per block.  At ``L = 1`` this is eq. 3 exactly (the query's
label entry is 0, so the residual adds nothing to ``F``); a test checks it.  Blocks are initialised as the
one-layer model is (diagonal ``delta`` in ``W_B``, ``W_C``; ``w_k ~ N(0, I/(d+1))``, drawn for all blocks at once,
so block 1 gets the one-layer draw).  The linear Transformer stack has ``G == 1`` in every block.  The gates of
App. E.6 stack likewise (``gated`` a :class:`~mamba_dynamics.core.gates.Gate`, or GLA's
:class:`~mamba_dynamics.core.gates.VectorGate`, whose blocks are :mod:`mamba_dynamics.core.gla_mixer`'s and whose
``w`` is ``W_a`` ``(L, m, d+1)``).  The softmax
Transformer (``st``) has causal softmax attention in every block (:mod:`mamba_dynamics.core.attention`; ``w``
unused): at ``L = 1`` it is eq. 3 with the weights ``G_i (p_i^T W_B^T W_C p_q)`` replaced by ``softmax_i(p_i^T
W_B^T W_C p_q / tau)`` over the examples and the query.

Glossary: ``W_B``, ``W_C`` ``(L, m, d+1)``, ``w`` ``(L, d+1)``: block ``k`` in row ``k-1``; ``F`` ``(B,)``;
``z`` ``(B,)`` query labels; ``Xs`` = the blocks' input streams, each ``(B, l+1, d+1)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..core.attention import Attention
from ..core.losses import LossGrad, hinge_loss, hinge_slope, mean_over_chunks
from ..core.stack import sequence_chunks, stack_backward, stack_forward
from ..core.train import ParamBlocks
from ..core.workspace import Workspace
from .config import OutlierConfig


@dataclass
class StackParams(ParamBlocks):
    """Every block's parameters, stacked: W_B ``(L, m, d+1)``, W_C ``(L, m, d+1)``, w ``(L, d+1)`` (GLA: ``W_a``
    ``(L, m, d+1)``)."""

    W_B: np.ndarray
    W_C: np.ndarray
    w: np.ndarray


def init_stack_params(cfg: OutlierConfig, rng: np.random.Generator) -> StackParams:
    """Each block as the one-layer model (paper Section 3.1); ``w`` of all blocks in one draw ``(L, d+1)`` (GLA's
    ``W_a`` ``(L, m, d+1)``)."""
    D, L = cfg.d + 1, cfg.layers
    W_B = np.zeros((L, cfg.m, D))
    idx = np.arange(cfg.d)
    W_B[:, idx, idx] = cfg.delta
    w = rng.standard_normal((L, cfg.m, D) if cfg.model == "gla" else (L, D)) / np.sqrt(D)
    return StackParams(W_B, W_B.copy(), w)


def forward(params: StackParams, P: np.ndarray, gated: bool = True, fast: bool = True, norm: str = "rms",
            work: Workspace | None = None, attention: Attention | None = None) -> np.ndarray:
    """``F`` ``(B,)`` of the stack on prompts ``P`` ``(B, l+1, d+1)``, chunk by chunk of prompts on the fast path
    (:func:`~mamba_dynamics.core.stack.sequence_chunks`: a large test set's arrays stay in cache), in ``work``'s
    arrays when given (no fresh pages per call); ``fast=False``: the NumPy reference, in one piece.
    ``attention``: the blocks are softmax attention (the softmax Transformer, ``st``)."""
    F = np.empty(len(P))
    for sl in (sequence_chunks(*P.shape) if fast else [slice(0, len(P))]):
        out, _ = stack_forward(params.W_B, params.W_C, params.w, P[sl], gated, "stream", fast,
                               last_token_only=True, norm=norm, work=work if fast else None, attention=attention)
        F[sl] = out[:, -1, -1]  # read now: the next chunk reuses the workspace's arrays
    return F


def block_inputs(params: StackParams, P: np.ndarray, gated: bool = True, norm: str = "rms",
                 attention: Attention | None = None) -> tuple[list, list]:
    """Every block's residual stream ``[X_0 = P, ..., X_{L-1}]`` and its input ``[U_1 = P, ..., U_L]`` (the
    normalised stream), each ``(B, l+1, d+1)``."""
    _, cache = stack_forward(params.W_B, params.W_C, params.w, P, gated, "stream", True, norm=norm,
                             attention=attention)
    return cache.X, cache.U


def stack_grads(W_B: np.ndarray, W_C: np.ndarray, w: np.ndarray, P: np.ndarray, z: np.ndarray,
                gated: bool = True, fast: bool = True, norm: str = "rms", work: Workspace | None = None,
                attention: Attention | None = None) -> LossGrad:
    """Hinge loss of the stack and its gradients ``{"W_B": (L, m, d+1), "W_C": (L, m, d+1), "w": (L, d+1)}``
    (``w``'s is zero for the linear Transformer); ``F`` ``(B,)``.  ``fast=False`` is the NumPy reference; ``work``
    a workspace the fast path's arrays live in (fresh arrays without one); ``attention``: softmax blocks (``w``'s
    gradient is then zero).  The
    last block reads out the query only (and, on long prompts, the scans skip the prompts whose hinge is inactive).
    A batch too large for the caches runs chunk by chunk of prompts (:func:`~mamba_dynamics.core.stack.
    sequence_chunks`; Table 1's training batch is one chunk), the chunks' gradients averaged
    (:func:`~mamba_dynamics.core.losses.mean_over_chunks`); a chunk whose hinges are all inactive skips the
    backward, whose gradients would be exact zeros."""
    if not fast:
        return _one_chunk(W_B, W_C, w, P, z, gated, norm, None, False, attention)
    P, z = np.asarray(P), np.asarray(z)
    return mean_over_chunks(lambda sl: _one_chunk(W_B, W_C, w, P[sl], z[sl], gated, norm, work, True, attention),
                            sequence_chunks(*P.shape), lambda F: hinge_loss(F, z))


def _one_chunk(W_B, W_C, w, P, z, gated: bool, norm: str, work: Workspace | None, fast: bool,
               attention: Attention | None = None) -> LossGrad:
    out, cache = stack_forward(W_B, W_C, w, P, gated, "stream", fast, last_token_only=True, work=work, norm=norm,
                               attention=attention)
    F = out[:, -1, -1].copy()
    loss = hinge_loss(F, z)
    Gout = np.zeros(out.shape)  # (B, 1, d+1): the query's row
    Gout[:, -1, -1] = hinge_slope(F, z)  # zero where the hinge is inactive
    if fast and not Gout.any():  # every hinge inactive: the backward would give exact zeros
        return LossGrad(loss, {"W_B": np.zeros_like(W_B), "W_C": np.zeros_like(W_C), "w": np.zeros_like(w)}, F)
    dW_B, dW_C, dw, _ = stack_backward(W_B, W_C, w, cache, Gout, gated, "stream", fast, work)
    return LossGrad(loss, {"W_B": dW_B, "W_C": dW_C, "w": dw}, F)


__all__ = ["StackParams", "init_stack_params", "forward", "block_inputs", "stack_grads"]
