"""The paper's one-layer model (Eq. 5 mixer + Eq. 6 head, ``ssm``, arXiv 2602.12499): its outputs and hinge
gradients through the shared mixer block of :mod:`mamba_dynamics.core.stack` (the one implementation of Eq. 5 in
the package), in the form that costs least.

    y_t = sum_{s<=t} beta_s^(t) (b_s^T c_t) x_s,   b = W_B^T x,  c = W_C^T x,  beta_s^(t) = sigma_s prod (1 - sigma_j)

(P1, P2 of :mod:`mamba_dynamics.features.gradients`; the core's M1-M4.)

===========================  =================================================================================
path                         when (:func:`content_grads` chooses, by :func:`~mamba_dynamics.core.stack
                             .block_form`)
===========================  =================================================================================
:func:`content_pass`         short sequences (the papers' ``L = 12``): one Numba call, blocks of sequences
                             through the mixer's one-call pairwise kernels and the head, then the adjoint on the
                             sequences whose hinge is active (:func:`content_step`: with its transposes, outputs
                             and hinge loss in the same call)
stack chunks                 long sequences: the O(L) scan through the core's stack at depth 1, chunk by chunk
                             (:func:`~mamba_dynamics.features.stack.stack_chunk`)
===========================  =================================================================================

Naive reference: :func:`mamba_dynamics.features.model.mix_content` and
:func:`~mamba_dynamics.features.model.scan_content_recurrence` (forward), and
:func:`mamba_dynamics.features.gradients.hinge_grads_reference` (gradients), plain NumPy; tested equal.

Glossary: ``params`` a :class:`~mamba_dynamics.features.model.Params` (``W_B``, ``W_C`` ``(d, r)`` in the model's
orientation, ``b = W_B^T x``); ``X`` ``(N, T, D)`` tokens (``D = d``); ``Wk`` the block's stacked weights
(:func:`~mamba_dynamics.core.stack._weights`).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ..core.gates import VectorGate
from ..core.losses import LossGrad, hinge_loss, hinge_loss_kernel, mean_over_chunks
from ..core.mixer import gate_args, pairs_adjoint_kernel, pairs_forward_kernel, pairs_small
from ..core.simd import gemm
from ..core.stack import _weights, block_form, block_grads, stack_forward
from ..core.workspace import Workspace
from .head import (HEAD_GROUP, ONE_LAYER_CHUNK_BYTES, copy_sequence, f64, head_chunks, head_pass,
                   move_sequence, pass_block)
from .stack import stack_chunk


def content_block(params) -> tuple:
    """The Eq. 5 mixer as one block of the shared stack (:mod:`~mamba_dynamics.core.stack`): ``(W_B, W_C, w)``
    as ``(1, r, d)``, ``(1, r, d)``, ``(1, d)`` in the core orientation (``b = W_B^k x``: the transposes of the
    model's ``W_B``, ``W_C``, whose ``b = W_B^T x``; GLA's ``W_a`` ``(d, r)`` likewise, as ``(1, r, d)``)."""
    w = f64(params.w)
    return params.W_B.T[None], params.W_C.T[None], (w.T if w.ndim == 2 else w)[None]


def content_outputs(params, X: np.ndarray, work: Workspace | None = None, gate=True) -> np.ndarray:
    """The Eq. 5 outputs ``Y`` ``(N, L, d)`` (the shared block, its cheapest form), in ``work``'s arrays when
    given (overwritten by the next call on it); ``gate``: the mixer's :class:`~mamba_dynamics.core.gates.Gate`
    (True: Mamba's)."""
    return stack_forward(*content_block(params), f64(X), gate, "mixer", True, work=work)[0]


@njit(cache=True, error_model="numpy")
def content_pass(X, WkT, factored, g, V, Vt, a, y, block, group, F, dWk, dVt):
    """The Eq. 5-6 model's loss and gradients in one Numba call, ``block`` sequences at a time, every array of a
    block in the core's cache (the shared mixer's one-call pairwise kernels,
    :func:`~mamba_dynamics.core.mixer.pairs_forward_kernel` and
    :func:`~mamba_dynamics.core.mixer.pairs_adjoint_kernel`, and :func:`head_pass`):

    * ``Z = X Wk^T`` ``(T, P)`` (``WkT`` ``(D, P)`` = ``Wk^T``): the packed projections of the one block (:func:`~mamba_dynamics.core.stack
      ._weights`: ``[w^T; Q^T]`` when ``factored``, with ``b_s = x_s`` and ``c_t = A_t``, else ``[W_B; W_C;
      w^T]``), then the mixer's forward (M2) and the head;
    * on the sequences whose hinge is active (their forward rows moved to the front of the block): the mixer's
      adjoint (M3)-(M4) without the paths into ``X``, and ``dWk += dZ^T X`` ``(P, D)``.

    ``X`` ``(N, T, D)``, ``V``, ``Vt`` as in :func:`head_pass`, ``a`` ``(m,)``, ``y`` ``(N,)``; writes ``F`` ``(N,)``
    and adds into ``dWk`` and ``dVt`` ``(D, m)`` (``dLoss/dV`` transposed).  Every gradient element is one sum over
    the tokens in order, so the block size changes no bit.  Against the shared stack's chunked step
    (:func:`~mamba_dynamics.features.stack.stack_chunk`) this keeps no megabyte-sized array per chunk and makes one Python call per step
    (docs/performance_history.md, "The feature steps without BLAS")."""
    N, T, D = X.shape
    P = WkT.shape[1]
    r = (P - 1) // 2  # the pairs form's projections (unused when factored)
    Z = np.empty((block, T, P))
    SIG = np.empty((block, T))
    KEEP = np.empty((block, T))
    S = np.empty((block, T, T))
    Y = np.empty((block, T, D))
    Gy = np.empty((block, T, D))
    C = np.empty((block, T, T))
    dZ = np.empty((block, T, P))
    Xa = np.empty((block, T, D))
    active = np.empty(block, dtype=np.int64)
    none = np.empty((0, 0, 0))
    for b0 in range(0, N, block):
        nb = min(block, N - b0)
        Xb = X[b0:b0 + nb]
        Zb = Z[:nb]
        gemm(Xb, 0, D, 1, WkT, 0, P, Zb, 0, P, nb * T, D, P, False)
        if factored:
            pairs_forward_kernel(Xb, Xb, Zb[:, :, 1:], Zb[:, :, 0], g, 0, Y[:nb], SIG[:nb], KEEP[:nb], S[:nb])
        else:
            pairs_forward_kernel(Xb, Zb[:, :, :r], Zb[:, :, r:2 * r], Zb[:, :, 2 * r], g, 0, Y[:nb], SIG[:nb],
                                 KEEP[:nb], S[:nb])
        na = head_pass(Y[:nb], V, Vt, a, y[b0:b0 + nb], F[b0:b0 + nb], active, Gy, dVt, True, group, N)
        if na == 0:
            continue
        for j in range(na):  # the active sequences' forward rows to the front (j <= active[j])
            i = active[j]
            copy_sequence(Xb, i, Xa, j)
            move_sequence(Z, i, j)
            for t in range(T):
                SIG[j, t], KEEP[j, t] = SIG[i, t], KEEP[i, t]
            move_sequence(S, i, j)
        Xs, Zs, dZs = Xa[:na], Z[:na], dZ[:na]
        if factored:
            pairs_adjoint_kernel(Xs, Xs, Zs[:, :, 1:], Gy[:na], SIG[:na], KEEP[:na], Zs[:, :, 0], g, 0, S[:na],
                                 none, False, none, False, dZs[:, :, 1:], dZs[:, :, 0], C[:na])
        else:
            pairs_adjoint_kernel(Xs, Zs[:, :, :r], Zs[:, :, r:2 * r], Gy[:na], SIG[:na], KEEP[:na], Zs[:, :, 2 * r],
                                 g, 0, S[:na], none, False, dZs[:, :, :r], True, dZs[:, :, r:2 * r],
                                 dZs[:, :, 2 * r], C[:na])
        gemm(dZs, 0, 1, P, Xs, 0, D, dWk, 0, D, P, na * T, D, True)


@njit(cache=True)
def content_step(X, Wk, factored, g, V, a, y, block, group):
    """:func:`content_pass` with what surrounds it in the same Numba call: the transposes ``Wk^T`` ``(D, P)`` and
    ``V^T``, the outputs, and the hinge loss (:func:`~mamba_dynamics.core.losses.hinge_loss_kernel`, the bits of
    :func:`~mamba_dynamics.core.losses.hinge_loss`).  ``Wk`` ``(P, D)``, ``V`` ``(m, D)``, the rest as
    :func:`content_pass`.  Returns ``(loss, F (N,), dWk (P, D), dV (m, D))``.  Each NumPy call around a step costs
    5-50 us when its code is out of the caches, as after another library's step (docs/performance_history.md,
    "The feature steps' passes around the products, and their cold start")."""
    N, T, D = X.shape
    F = np.empty(N)
    dWk = np.zeros(Wk.shape)
    dVt = np.zeros((D, V.shape[0]))
    content_pass(X, np.ascontiguousarray(Wk.T), factored, g, V, np.ascontiguousarray(V.T), a, y, block, group, F,
                 dWk, dVt)
    return hinge_loss_kernel(F, y), F, dWk, np.ascontiguousarray(dVt.T)


def content_grads(params, X: np.ndarray, y: np.ndarray, want_wbc: bool = True, work: Workspace | None = None,
                  head_work: Workspace | None = None, active_work: Workspace | None = None, gate=True) -> LossGrad:
    """The Eq. 5-6 model's hinge loss and gradients ``{"w": (d,), "V": (m, d)}`` (and ``"W_B"``, ``"W_C"`` ``(d,
    r)`` with ``want_wbc``; skipped for frozen projections), ``F`` ``(N,)``, through the shared mixer block in its
    cheapest form: short sequences in the pairwise form (M2, on the factored scores ``x_t^T W_C W_B^T x_s`` when
    that is cheaper) in one Numba call (:func:`content_pass`); long ones by the O(L) scan (M1) through
    :mod:`~mamba_dynamics.core.stack` at depth 1, chunk by chunk of sequences, each through
    :func:`~mamba_dynamics.features.stack.stack_chunk` (its workspaces ``work``, ``head_work``, ``active_work``).
    The gradients come back in the model's orientation (``W_B``, ``W_C`` ``(d, r)``).  ``gate``: the mixer's
    :class:`~mamba_dynamics.core.gates.Gate` (True: Mamba's)."""
    X, y = f64(X), f64(y)
    blocks = content_block(params)
    N, T, D = X.shape
    form = block_form(T, D, blocks[0].shape[1])
    W_B, W_C, w = blocks
    vector = isinstance(gate, VectorGate)  # GLA: its scans, through the stack (one form)
    if not vector and form != "scan" and pairs_small(T, D, W_B.shape[1]):  # one Numba call (:func:`content_pass`)
        V = f64(params.V)
        Wk = _weights(W_B, W_C, w, True, form)[0]
        loss, F, dWk, dV = content_step(X, Wk, form == "factored", gate_args(gate), V, f64(params.a), y,
                                        min(N, pass_block(T, D, Wk.shape[0])), HEAD_GROUP)
        dW_B, dW_C, dw = block_grads(dWk, W_B[0], W_C[0], form, True)
        grads = {"w": dw.copy(), "V": dV}
        if want_wbc:
            grads["W_B"], grads["W_C"] = dW_B.T.copy(), dW_C.T.copy()
        return LossGrad(loss, grads, F)
    r = mean_over_chunks(lambda sl: stack_chunk(blocks, params.V, params.a, X[sl], y[sl], work=work,
                                                want_wbc=want_wbc, head_work=head_work, active_work=active_work,
                                                gated=gate),
                         head_chunks(X, params.V, ONE_LAYER_CHUNK_BYTES), lambda F: hinge_loss(F, y))
    grads = {"w": r.grads["w"][0].T if vector else r.grads["w"][0], "V": r.grads["V"]}
    if want_wbc:
        grads["W_B"], grads["W_C"] = r.grads["W_B"][0].T, r.grads["W_C"][0].T
    return LossGrad(r.loss, grads, r.F)


__all__ = ("content_block", "content_outputs", "content_pass", "content_step", "content_grads")
