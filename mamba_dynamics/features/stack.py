"""Deep stacks of the feature-filtering model (arXiv 2602.12499, Table 3: a 5-block Mamba): ``L`` selective-SSM
blocks of the paper's Eq. 5 mixer on a residual stream, the Eq. 6 MLP head on the last block's outputs, the hinge
loss and its hand-derived gradients.

    X_0 = X (N, L_seq, d);   X_k = X_{k-1} + Mix_k(U_k)  (core.stack, S0-S2);   F = head(Y_L)   (Eq. 6)

``U_1 = X`` and ``U_k = RMSNorm(X_{k-1})`` for ``k >= 2`` (``norm = "rms"``; ``"none"`` feeds the raw stream).
The head reads the last mixer's outputs ``y_l`` as Eq. 6 does (``readout = "mixer"``), so at depth 1 this is the
one-layer paper model exactly (a test).  Every block has its own gating vector ``w_k`` (0 at the start, as the
paper's ``w_Delta``) and ``W_B^k = W_C^k = wbc0 I`` (frozen unless ``wbc = "trained"``); the head ``V = W_O``
``(m, d)`` is trained and ``a = v`` fixed.  Only the paper reading (Eq. 5 with the content factor) and the selective
SSM stack: ``lt-mlp`` and the gate-only reading have no stack.

Glossary: ``W_B``, ``W_C`` ``(L, d, d)`` in the core orientation (``b = W_B^k x``: the transpose of the one-layer
model's ``W_B``, the same matrix at the initial ``wbc0 I``); ``w`` ``(L, d)``: block ``k`` in row ``k-1``; ``V``
``(m, d)``, ``a`` ``(m,)``: the head; ``F`` ``(N,)``; ``y`` ``(N,)`` labels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..core.losses import LossGrad, hinge_loss, mean_over_chunks
from ..core.stack import Workspace, sequence_chunks, stack_backward, stack_forward
from ..core.train import ParamBlocks
from . import model
from .config import FeaturesConfig
from .gradients import head_chunks, head_outputs, head_reference, stack_chunk


@dataclass
class StackParams(ParamBlocks):
    """w ``(L, d)``, W_B, W_C ``(L, d, d)`` (core orientation), V ``(m, d)`` = W_O, a ``(m,)`` fixed."""

    w: np.ndarray
    W_B: np.ndarray
    W_C: np.ndarray
    V: np.ndarray
    a: np.ndarray


def init_stack_params(cfg: FeaturesConfig, rng: np.random.Generator) -> StackParams:
    """The one-layer initialisation (:func:`mamba_dynamics.features.model.init_params`: same draws, so block 1
    and the head start as the one-layer model) with every block's ``w = 0`` and ``W_B = W_C = wbc0 I``."""
    one = model.init_params(cfg, rng)
    L, d = cfg.layers, cfg.d
    W = np.broadcast_to(cfg.wbc0 * np.eye(d), (L, d, d)).copy()
    return StackParams(np.zeros((L, d)), W, W.copy(), one.V, one.a)


def outputs(params: StackParams, X: np.ndarray, norm: str = "rms", fast: bool = True,
            work: Workspace | None = None) -> np.ndarray:
    """The last block's outputs ``Y_L`` ``(N, L_seq, d)`` (the head's input), computed in chunks of sequences
    (:func:`~mamba_dynamics.core.stack.sequence_chunks`); in ``work``'s arrays when given and the batch is one
    chunk (then overwritten by the next call that uses them)."""
    chunks = sequence_chunks(*X.shape) if fast else [slice(0, len(X))]
    parts = [stack_forward(params.W_B, params.W_C, params.w, X[sl], True, "mixer", fast, norm=norm, work=work)[0]
             for sl in chunks]
    return parts[0] if len(parts) == 1 else np.concatenate(parts)


#: the evaluation forwards' reused arrays (:func:`predict`): a log evaluates the same sets every time
_EVAL = Workspace()


def predict(params: StackParams, X: np.ndarray, norm: str = "rms") -> np.ndarray:
    """``F(X)`` ``(N,)``, chunk by chunk as :func:`outputs`, in reused arrays (no fresh pages per call)."""
    return np.concatenate([head_outputs(outputs(params, X[sl], norm, work=_EVAL), params.V, params.a)
                           for sl in sequence_chunks(*X.shape)])


def block_inputs(params: StackParams, X: np.ndarray, norm: str = "rms") -> list:
    """Every block's input ``[U_1 = X, U_2, ..., U_L]``, each ``(N, L_seq, d)``."""
    _, cache = stack_forward(params.W_B, params.W_C, params.w, X, True, "mixer", True, norm=norm)
    return cache.U


_WORK = Workspace()


def loss_and_grad(params: StackParams, X: np.ndarray, y: np.ndarray, norm: str = "rms",
                  fast: bool = True, want_wbc: bool = True) -> LossGrad:
    """Hinge loss of the stack and its gradients ``{"w": (L, d), "W_B": (L, d, d), "W_C": (L, d, d), "V": (m, d)}``
    (without ``"W_B"``, ``"W_C"`` when ``want_wbc`` is False: frozen projections, Table 3's default, whose
    products are then skipped); ``F`` ``(N,)``.  Each chunk of sequences runs through the one-layer model's
    :func:`~mamba_dynamics.features.gradients.stack_chunk` (the head and its backward, F7; the backward on the
    active sequences only; a fitted chunk skips it); ``fast=False`` runs the mixers' NumPy references, in one
    piece.  The fast path runs chunk by chunk of sequences sized by the head's width
    (:func:`~mamba_dynamics.features.gradients.head_chunks`; Table 3's ``m = 40``: 10 chunks of 100 at ``d = 10``
    and ``d = 32``) and averages the chunks' gradients
    (:func:`~mamba_dynamics.core.losses.mean_over_chunks`)."""
    blocks = (params.W_B, params.W_C, params.w)
    if not fast:
        return stack_chunk(blocks, params.V, params.a, X, y, norm, False, None, want_wbc)
    X, y = np.asarray(X), np.asarray(y)
    return mean_over_chunks(lambda sl: stack_chunk(blocks, params.V, params.a, X[sl], y[sl], norm, True, _WORK,
                                                   want_wbc),
                            head_chunks(X, params.V), lambda F: hinge_loss(F, y))


def loss_and_grad_reference(params: StackParams, X: np.ndarray, y: np.ndarray, norm: str = "rms") -> LossGrad:
    """The NumPy reference of :func:`loss_and_grad`: the mixers' closed forms and written-out derivatives, and
    the one-layer reference's per-neuron head (F7, :func:`~mamba_dynamics.features.gradients.head_reference`)."""
    Y, cache = stack_forward(params.W_B, params.W_C, params.w, X, True, "mixer", False, norm=norm)
    loss, F, dV, Gy = head_reference(Y, params.V, params.a, y)
    dW_B, dW_C, dw, _ = stack_backward(params.W_B, params.W_C, params.w, cache, Gy, True, "mixer", False)
    return LossGrad(loss, {"w": dw, "W_B": dW_B, "W_C": dW_C, "V": dV}, F)


__all__ = ["StackParams", "init_stack_params", "outputs", "predict", "block_inputs", "loss_and_grad",
           "loss_and_grad_reference"]
