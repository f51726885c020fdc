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
from ..core.stack import sequence_chunks, stack_backward, stack_forward
from ..core.train import ParamBlocks
from ..core.workspace import Workspace, getter
from . import model
from .config import FeaturesConfig
from .head import head, head_chunks, head_outputs, head_reference


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


def predict(params: StackParams, X: np.ndarray, norm: str = "rms", fast: bool = True,
            work: Workspace | None = None) -> np.ndarray:
    """``F(X)`` ``(N,)``, chunk by chunk as :func:`outputs`, in ``work``'s arrays when given (no fresh pages per
    call: a log evaluates the same sets every time); ``fast=False``: the NumPy references, in one piece."""
    if not fast:
        return head_outputs(outputs(params, X, norm, fast=False), params.V, params.a)
    return np.concatenate([head_outputs(outputs(params, X[sl], norm, work=work), params.V, params.a, work)
                           for sl in sequence_chunks(*X.shape)])


def block_inputs(params: StackParams, X: np.ndarray, norm: str = "rms") -> list:
    """Every block's input ``[U_1 = X, U_2, ..., U_L]``, each ``(N, L_seq, d)``."""
    _, cache = stack_forward(params.W_B, params.W_C, params.w, X, True, "mixer", True, norm=norm)
    return cache.U


def stack_grads(params: StackParams, X: np.ndarray, y: np.ndarray, norm: str = "rms", fast: bool = True,
                want_wbc: bool = True, work: Workspace | None = None, head_work: Workspace | None = None,
                active_work: Workspace | None = None) -> LossGrad:
    """Hinge loss of the stack and its gradients ``{"w": (L, d), "W_B": (L, d, d), "W_C": (L, d, d), "V": (m, d)}``
    (without ``"W_B"``, ``"W_C"`` when ``want_wbc`` is False: frozen projections, Table 3's default, whose
    products are then skipped); ``F`` ``(N,)``.  Each chunk of sequences runs through :func:`stack_chunk` (the
    head and its backward, F7; the backward on the active sequences only; a fitted chunk skips it), in the
    workspaces given; ``fast=False`` runs the mixers' NumPy references and the per-neuron head, in one piece.  The
    fast path runs chunk by chunk of sequences sized by the head's width
    (:func:`~mamba_dynamics.features.head.head_chunks`; Table 3's ``m = 40``: 10 chunks of 100 at ``d = 10``
    and ``d = 32``) and averages the chunks' gradients
    (:func:`~mamba_dynamics.core.losses.mean_over_chunks`)."""
    blocks = (params.W_B, params.W_C, params.w)
    if not fast:
        return _reference(params, X, y, norm, want_wbc)
    X, y = np.asarray(X), np.asarray(y)
    return mean_over_chunks(lambda sl: stack_chunk(blocks, params.V, params.a, X[sl], y[sl], norm, True, work,
                                                   want_wbc, head_work, active_work),
                            head_chunks(X, params.V), lambda F: hinge_loss(F, y))


def _reference(params: StackParams, X: np.ndarray, y: np.ndarray, norm: str, want_wbc: bool) -> LossGrad:
    """The NumPy reference of :func:`stack_grads`: the mixers' closed forms and written-out derivatives, and the
    per-neuron head (F7, :func:`~mamba_dynamics.features.head.head_reference`)."""
    Y, cache = stack_forward(params.W_B, params.W_C, params.w, X, True, "mixer", False, norm=norm)
    loss, F, dV, Gy = head_reference(Y, params.V, params.a, y)
    dW_B, dW_C, dw, _ = stack_backward(params.W_B, params.W_C, params.w, cache, Gy, True, "mixer", False)
    grads = {"w": dw, "W_B": dW_B, "W_C": dW_C, "V": dV}
    if not want_wbc:
        del grads["W_B"], grads["W_C"]
    return LossGrad(loss, grads, F)


#: :func:`stack_chunk` runs the blocks' backward on the active sequences alone (their cache rows copied) when
#: fewer than this fraction of the chunk is active, else on every sequence with the inactive ones' gradient rows
#: zero (exact zeros through the backward): copying nearly all of the cache costs more than the few inactive
#: sequences' backward (measured in docs/performance_history.md, "The active sequences' backward")
TAKE_BELOW = 0.9


def stack_chunk(blocks: tuple, V: np.ndarray, a: np.ndarray, X: np.ndarray, y: np.ndarray, norm: str = "rms",
                fast: bool = True, work: Workspace | None = None, want_wbc: bool = True,
                head_work: Workspace | None = None, active_work: Workspace | None = None, gated=True) -> LossGrad:
    """Eq. 5 blocks on a residual stream read at the last mixer (:mod:`~mamba_dynamics.core.stack`; one block is
    the paper's model) with the Eq. 6 head, on one chunk of sequences ``X`` ``(N, L, d)``: the hinge loss and the
    gradients ``{"w": (Lb, d), "W_B", "W_C": (Lb, r, d), "V": (m, d)}`` in the core orientation (no ``"W_B"``,
    ``"W_C"`` with ``want_wbc = False``).  ``blocks = (W_B, W_C, w)`` ``(Lb, r, d)``, ``(Lb, r, d)``, ``(Lb, d)``.
    The blocks' forward of every sequence (in ``work``'s arrays when given), the head
    (:func:`~mamba_dynamics.features.head.head`, in ``head_work``'s arrays; its products on the active sequences'
    rows only), then the blocks' backward on the active sequences alone (their cache rows gathered,
    :meth:`~mamba_dynamics.core.stack.StackCache.take`, into ``active_work``, a workspace made with ``rows=True``,
    where that backward then runs); a chunk whose hinges are all inactive skips the backward, whose gradients would
    be exact zeros.  ``fast=False``: the mixers' NumPy references; ``gated``: the blocks' gate (True: Mamba's, or a
    :class:`~mamba_dynamics.core.gates.Gate`)."""
    W_B, W_C, w = blocks
    Y, cache = stack_forward(W_B, W_C, w, X, gated, "mixer", fast, work=work, norm=norm)
    loss, F, dV, Gy, active = head(np.ascontiguousarray(Y), V, a, y, compact=True, work=head_work)
    if not active.size:  # every hinge inactive: the blocks' gradients are exact zeros
        grads = {"w": np.zeros_like(w), "V": dV}
        if want_wbc:
            grads["W_B"], grads["W_C"] = np.zeros_like(W_B), np.zeros_like(W_C)
        return LossGrad(loss, grads, F)
    N = len(X)
    if active.size < TAKE_BELOW * N:  # the backward of the active sequences only
        work = active_work if work is not None else None
        cache = cache.take(active, work)
    elif active.size < N:  # of every sequence, the inactive ones' gradient rows zero
        full = getter(head_work if work is None else work)("Gfull", (N,) + Gy.shape[1:])
        full.fill(0.0)
        full[active] = Gy
        Gy = full
    dW_B, dW_C, dw, _ = stack_backward(W_B, W_C, w, cache, Gy, gated, "mixer", fast, work, want_wbc=want_wbc)
    grads = {"w": dw, "V": dV}
    if want_wbc:
        grads["W_B"], grads["W_C"] = dW_B, dW_C
    return LossGrad(loss, grads, F)



__all__ = ["StackParams", "init_stack_params", "outputs", "predict", "block_inputs", "stack_grads", "stack_chunk",
           "TAKE_BELOW"]
