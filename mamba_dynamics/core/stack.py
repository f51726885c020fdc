"""Deep stacks: ``L`` blocks of the selective mixer with residual connections, and their hand-derived backward pass.

Block ``k = 1..L`` reads the residual stream ``X_{k-1}`` ``(N, T, D)`` (``X_0`` = the tokens) with its own
``W_B^k``, ``W_C^k`` ``(r, D)`` and gating vector ``w^k`` ``(D,)``:

(S0) U_k = X_0 for k = 1;  U_k = RMSNorm(X_{k-1}) for k >= 2 (``norm = "rms"``: each token over its RMS,
     u = x / rho, rho = sqrt(mean(x^2) + eps), no gain) or U_k = X_{k-1} (``norm = "none"``)
(S1) b_t = W_B^k u_t,  c_t = W_C^k u_t,  t_t = w^k . u_t,   Y_k = Mix(U_k)           (the mixer M1, core.mixer)
(S2) X_k = X_{k-1} + Y_k                                                             (residual connection)
(S3) the head reads ``X_L`` (``readout = "stream"``) or the last mixer's output ``Y_L`` (``readout = "mixer"``:
     the feature paper's Eq. 6 head reads ``y_l``, so its blocks add the residual between blocks only)

The first block reads the tokens as the one-layer models do, so at depth 1 both readouts are the one-layer models
exactly (the outlier model's query has label 0, so ``X_1`` and ``Y_1`` agree where the head reads them).  Later
blocks read the normalised stream: without it the linear-attention stack's stream grows by the prompt length
per block and its scores by its square (measured: 326x the tokens' norm at block 3 and divergence by step 2;
docs/stacks.md, "Design choices").

Backward, with ``Gk = dLoss/dX_k`` (``G_L`` from the head; for ``readout = "mixer"`` the head's gradient goes to
``Y_L`` only and there is no identity path from ``X_L``):

(S4) (GX, dB, dC, dT) = adjoint of the mixer at ``Gy = dLoss/dY_k`` (M3-M4)
     GU = GX + dB W_B^k + dC W_C^k + dT w^k^T                           (dLoss/dU_k)
     G_{k-1} = G_k + GU  (no norm)  or  G_k + (GU - u (u . GU) / D) / rho  (RMSNorm, per token)
     dLoss/dW_B^k = sum_{n,t} dB_{nt} u_{nt}^T,   dLoss/dW_C^k = sum dC u^T,   dLoss/dw^k = sum dT_{nt} u_{nt}

Each block's projections are one BLAS product over all ``N T`` tokens; the mixers are the Numba kernels
(``fast=True``: pairwise in batched BLAS products for short sequences, the scans for long ones,
:func:`~mamba_dynamics.core.mixer.quadratic_form`)
or the NumPy closed forms (``fast=False``, the reference).

Glossary: ``W_B``, ``W_C`` ``(L, r, D)``, ``w`` ``(L, D)``: the blocks' parameters stacked (row ``k-1`` = block
``k``); ``cache`` = what the backward pass needs per block: its input ``X_{k-1}``, ``b``, ``c``, ``t``, the gates
and the output ``Y_k``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .mixer import (mix_adjoint, mix_adjoint_pairs, mix_adjoint_reference, mix_forward, mix_forward_pairs,
                    mix_forward_reference, quadratic_form)

READOUTS = ("stream", "mixer")
NORMS = ("rms", "none")
#: the RMSNorm's epsilon (tokens are never near zero in the papers' data; it only guards a zero row)
EPS = 1e-12


def rms_norm(X: np.ndarray, U: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(S0) per token: ``U = X / rho`` ``(N, T, D)`` (into ``U`` when given) and ``rho = sqrt(mean(x^2) + EPS)``
    ``(N, T)``."""
    rho = np.sqrt(np.einsum("ntd,ntd->nt", X, X) / X.shape[2] + EPS)
    return np.divide(X, rho[:, :, None], out=U), rho


def rms_norm_backward(U: np.ndarray, rho: np.ndarray, GU: np.ndarray) -> np.ndarray:
    """``dLoss/dX = (GU - u (u . GU) / D) / rho`` ``(N, T, D)`` from ``GU = dLoss/dU``, written over ``GU``."""
    D = U.shape[2]
    proj = np.einsum("ntd,ntd->nt", U, GU) / D
    GU -= U * proj[:, :, None]
    GU /= rho[:, :, None]
    return GU


@dataclass
class StackCache:
    """Per-block forward quantities: lists of length ``L`` of ``X_{k-1}`` ``(N, T, D)``, the block's input ``U_k``
    and, where normalised, ``rho`` ``(N, T)`` (else None), the packed projections
    ``Z = [b, c, t]`` ``(N, T, 2r+1)`` (``2r`` without a gate), ``SIG``, ``KEEP`` ``(N, T)`` (None on the reference
    path), ``Y_k`` ``(N, T, D)``, the first row read out, the block's stacked weights ``[W_B; W_C; w^T]``, and, in
    the pairwise form, the gate products ``BETA``
    ``(N, T, T)`` and weighted scores ``S = G * (C B^T)`` ``(N, T - first, T)`` (else None)."""

    X: list = field(default_factory=list)
    U: list = field(default_factory=list)
    rho: list = field(default_factory=list)
    Z: list = field(default_factory=list)
    SIG: list = field(default_factory=list)
    KEEP: list = field(default_factory=list)
    Y: list = field(default_factory=list)
    first: list = field(default_factory=list)
    W: list = field(default_factory=list)
    BETA: list = field(default_factory=list)
    S: list = field(default_factory=list)


class Workspace:
    """Arrays reused from one call to the next, by name and shape.  A training step allocates the same dozen
    ``(N, T, D)`` arrays every time; fresh ones cost a page fault per page (glibc maps large blocks anew), which
    measured more than the kernels themselves at Table 1's sizes (docs/performance.md, "Deep stacks").  Whatever
    a call returns from a workspace is overwritten by the next call that uses it."""

    def __init__(self):
        self._arrays: dict = {}

    def get(self, name: str, shape: tuple) -> np.ndarray:
        """An uninitialised float64 array of ``shape``, the same one for the same ``(name, shape)``."""
        key = (name, tuple(shape))
        a = self._arrays.get(key)
        if a is None:
            if len(self._arrays) > 256:  # many shapes (evaluation sets, sweeps): start over
                self._arrays.clear()
            a = self._arrays[key] = np.empty(shape)
        return a


def _fresh(name: str, shape: tuple) -> np.ndarray:
    return np.empty(shape)


def _weights(W_B: np.ndarray, W_C: np.ndarray, w: np.ndarray, gated: bool) -> np.ndarray:
    """One block's weights as one matrix ``[W_B; W_C; w^T]`` ``(2r+1, D)`` (``(2r, D)`` without a gate), so that
    the projections and their gradients are one BLAS product each."""
    return np.vstack([W_B, W_C, w[None, :]] if gated else [W_B, W_C])


def unpack(Z: np.ndarray, r: int, gated: bool) -> tuple:
    """``(Bp, Cp, Tg)`` views of the packed projections ``Z`` ``(N, T, 2r+1)`` (``Tg`` zeros without a gate)."""
    Tg = Z[:, :, 2 * r] if gated else np.zeros(Z.shape[:2])
    return Z[:, :, :r], Z[:, :, r:2 * r], Tg


def block_forward(W_B: np.ndarray, W_C: np.ndarray, w: np.ndarray, X: np.ndarray, gated: bool, fast: bool = True,
                  first: int = 0, work: Workspace | None = None, tag: str = ""):
    """One mixer block (S1) on ``X`` ``(N, T, D)``: ``(Y, Z, SIG, KEEP, BETA, S, Wk)``; ``W_B``, ``W_C`` ``(r, D)``, ``w``
    ``(D,)``; ``Z`` = the packed projections ``X [W_B; W_C; w^T]^T`` ``(N, T, 2r+1)``, one BLAS product.  Rows of
    ``Y`` before ``first`` are left 0 by the Numba kernels (a head that reads the last token needs one row).
    ``work``: reuse its arrays (named with ``tag``)."""
    X = np.ascontiguousarray(X, dtype=np.float64)
    get = work.get if work is not None else _fresh
    N, T, D = X.shape
    r = W_B.shape[0]
    Wk = _weights(W_B, W_C, w, gated)
    Z = get("Z" + tag, (N, T, Wk.shape[0]))
    np.matmul(X.reshape(N * T, D), Wk.T, out=Z.reshape(N * T, -1))
    BETA = S = None
    if fast:
        Y, SIG, KEEP = get("Y" + tag, X.shape), get("SIG" + tag, (N, T)), get("KEEP" + tag, (N, T))
        if quadratic_form(T, D, r):
            BETA, S = get("BETA" + tag, (N, T, T)), get("S" + tag, (N, T - first, T))
            mix_forward_pairs(X, Z, r, bool(gated), first, Y, SIG, KEEP, BETA, S)
        else:
            mix_forward(X, Z, r, bool(gated), first, Y, SIG, KEEP)
    else:
        Y = mix_forward_reference(X, *unpack(Z, r, gated), gated)
        SIG = KEEP = None
    return Y, Z, SIG, KEEP, BETA, S, Wk


def stack_forward(W_B: np.ndarray, W_C: np.ndarray, w: np.ndarray, X0: np.ndarray, gated: bool,
                  readout: str = "stream", fast: bool = True, last_token_only: bool = False,
                  work: Workspace | None = None, norm: str = "rms") -> tuple[np.ndarray, StackCache]:
    """(S1)-(S3): the head's input ``(N, T, D)`` (``X_L`` or ``Y_L``) and the :class:`StackCache`.  ``W_B``,
    ``W_C`` ``(L, r, D)``, ``w`` ``(L, D)``, ``X0`` ``(N, T, D)``.  ``last_token_only``: the head reads the last
    token only, so the last block reads out that row alone (the other rows of the result are then not the
    stack's output).  ``work``: a :class:`Workspace` whose arrays the result and the cache then live in."""
    if readout not in READOUTS:
        raise ValueError(f"readout must be one of {READOUTS}, got {readout!r}")
    if norm not in NORMS:
        raise ValueError(f"norm must be one of {NORMS}, got {norm!r}")
    cache = StackCache()
    X = np.ascontiguousarray(X0, dtype=np.float64)
    L, T = W_B.shape[0], X.shape[1]
    Y = X
    for k in range(L):
        first = T - 1 if (last_token_only and k == L - 1) else 0
        if norm == "rms" and k > 0:
            U, rho = rms_norm(X, work.get(f"U{k}", X.shape) if work is not None else None)
        else:
            U, rho = X, None
        Y, Z, SIG, KEEP, BETA, S, Wk = block_forward(W_B[k], W_C[k], w[k], U, gated, fast, first, work, str(k))
        for name, val in zip(("X", "U", "rho", "Z", "SIG", "KEEP", "Y", "first", "W", "BETA", "S"),
                             (X, U, rho, Z, SIG, KEEP, Y, first, Wk, BETA, S)):
            getattr(cache, name).append(val)
        nxt = work.get(f"X{k + 1}", X.shape) if work is not None else np.empty_like(X)
        X = np.add(X, Y, out=nxt)
    return (X if readout == "stream" else Y), cache


def stack_backward(W_B: np.ndarray, W_C: np.ndarray, w: np.ndarray, cache: StackCache, Gout: np.ndarray,
                   gated: bool, readout: str = "stream", fast: bool = True, work: Workspace | None = None,
                   want_dx: bool = False):
    """(S4): ``(dW_B (L, r, D), dW_C (L, r, D), dw (L, D), dX0)`` from ``Gout`` = dLoss/d(head input)
    ``(N, T, D)`` (the sequences of ``cache``); ``dX0`` ``(N, T, D)`` (the gradient into the tokens) only with
    ``want_dx``, else None: the first block then skips its value path and one product.  The Numba kernels skip the sequences (and, pairwise, the tokens)
    whose gradient is zero, so prompts with an inactive hinge cost a scan of zeros.  With the last block read at
    the last token only, ``Gout`` must be zero elsewhere.  ``dX0`` lives in ``work`` when one is given."""
    L = W_B.shape[0]
    get = work.get if work is not None else _fresh
    dW_B, dW_C, dw = np.zeros_like(W_B), np.zeros_like(W_C), np.zeros_like(w)
    G = np.ascontiguousarray(Gout, dtype=np.float64)
    for k in range(L - 1, -1, -1):
        X, Z = cache.U[k], cache.Z[k]  # the block's input
        N, T, D = X.shape
        r = W_B.shape[1]
        want_gx = want_dx or k > 0
        if fast:
            GX, dZ = get("GX", X.shape), get("dZ", Z.shape)
            if cache.BETA[k] is not None:
                mix_adjoint_pairs(X, Z, r, cache.Y[k], G, cache.SIG[k], cache.KEEP[k], bool(gated), cache.first[k],
                                  cache.BETA[k], cache.S[k], want_gx, GX, dZ)
            else:
                mix_adjoint(X, Z, r, cache.Y[k], G, cache.SIG[k], cache.KEEP[k], bool(gated), want_gx, GX, dZ)
        else:
            GX, dB, dC, dT = mix_adjoint_reference(X, *unpack(Z, r, gated), G, gated)
            dZ = np.concatenate([dB, dC] + ([dT[:, :, None]] if gated else []), axis=2)
        flat, dZf = X.reshape(N * T, D), dZ.reshape(N * T, -1)
        dWk = dZf.T @ flat  # [dW_B; dW_C; dw]
        dW_B[k], dW_C[k] = dWk[:r], dWk[r:2 * r]
        if gated:
            dw[k] = dWk[2 * r]
        if not want_gx:
            return dW_B, dW_C, dw, None
        nxt = get(f"G{k % 2}", X.shape)  # two buffers in turn: G is read while the next one is written
        np.matmul(dZf, cache.W[k], out=nxt.reshape(N * T, D))
        nxt += GX  # dLoss/dU_k
        if cache.rho[k] is not None:
            rms_norm_backward(X, cache.rho[k], nxt)
        if readout == "stream" or k < L - 1:  # the stream's identity path into X_{k-1}
            nxt += G
        G = nxt
    return dW_B, dW_C, dw, G


__all__ = ["READOUTS", "NORMS", "EPS", "rms_norm", "rms_norm_backward", "StackCache", "Workspace", "unpack", "block_forward", "stack_forward", "stack_backward"]
