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
(``fast=True``) or the NumPy closed forms (``fast=False``, the reference).  The fast path takes, per block, the
cheapest of three forms (:func:`block_form`): the scans for long sequences; for short ones the pairwise form
(M2) in batched BLAS products, either on ``b`` and ``c`` or, when ``r`` is large (Table 1: ``r = D``), on the
factored scores -- the block depends on ``W_B``, ``W_C`` only through ``Q = W_C^T W_B`` ``(D, D)``:

(S1') c_t . b_s = u_t^T Q u_s = A_t . u_s  with  A = U Q      (one projection of ``D`` columns instead of ``2r``)
(S4') dLoss/dQ = U^T dA  (dA = the mixer's ``dC`` with ``c := A``, ``b := u``),
      dLoss/dW_B = W_C dLoss/dQ,   dLoss/dW_C = W_B (dLoss/dQ)^T,   GU = GX + dB + dA Q^T + dT w^T

A head that reads the last token only (``last_token_only``) has the last block project that row alone on ``W_C``
(or ``Q``) and read out that row alone.

GLA's blocks (``gated`` a :class:`~mamba_dynamics.core.gates.VectorGate`; 2510.00399 App. E.6) have a gate matrix
``W_a^k`` ``(r, D)`` in ``w``'s place (``w`` ``(L, r, D)``), stacked weights ``[W_B; W_C; W_a]`` and one form,
the vector-gate scans of :mod:`~mamba_dynamics.core.gla_mixer` (V1-V4; ``"gla-reference"``: its NumPy closed
form); the tails (S2-S4) are the same.

Glossary: ``W_B``, ``W_C`` ``(L, r, D)``, ``w`` ``(L, D)``: the blocks' parameters stacked (row ``k-1`` = block
``k``); ``cache`` (:class:`StackCache`) = what the backward pass needs per block: its input ``U_k``, the packed
projections, the gates and the weighted scores.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
from numba import njit
from scipy.linalg.blas import dgemm

from .attention import (Attention, softmax_adjoint_reference, softmax_forward_reference, softmax_mix,
                        softmax_mix_adjoint)
from .gates import VectorGate
from .gla_mixer import gla_mix_adjoint, gla_mix_adjoint_reference, gla_mix_forward, gla_mix_forward_reference
from .mixer import (gate_args, mix_adjoint, mix_adjoint_pairs, mix_adjoint_reference, mix_forward, mix_forward_pairs,
                    mix_forward_reference, quadratic_form)
from .simd import matmul, small_product
from .workspace import Workspace, getter

READOUTS = ("stream", "mixer")
NORMS = ("rms", "none")
#: the RMSNorm's epsilon (tokens are never near zero in the papers' data; it only guards a zero row)
EPS = 1e-12


def rms_norm_reference(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(S0) per token in NumPy: ``U = X / rho`` ``(N, T, D)`` and ``rho = sqrt(mean(x^2) + EPS)`` ``(N, T)``."""
    rho = np.sqrt(np.einsum("ntd,ntd->nt", X, X) / X.shape[2] + EPS)
    return X / rho[:, :, None], rho


def rms_norm_backward_reference(U: np.ndarray, rho: np.ndarray, GU: np.ndarray) -> np.ndarray:
    """``dLoss/dX = (GU - u (u . GU) / D) / rho`` ``(N, T, D)`` from ``GU = dLoss/dU``, written over ``GU``."""
    D = U.shape[2]
    proj = np.einsum("ntd,ntd->nt", U, GU) / D
    GU -= U * proj[:, :, None]
    GU /= rho[:, :, None]
    return GU


@njit(cache=True)
def _dot(a, b):  # pragma: no cover - compiled
    """``a . b`` of two rows ``(D,)``, summed in order."""
    acc = 0.0
    for i in range(a.shape[0]):
        acc += a[i] * b[i]
    return acc


@njit(cache=True)
def _residual_rms_kernel(X, Xprev, eps, U, rho):  # pragma: no cover - compiled
    """(S2) then (S0) in one pass per token: ``X += Xprev`` (``X`` holds the block's output ``Y`` and becomes the
    stream), then ``U = X / rho`` and ``rho`` as :func:`rms_norm_reference`."""
    N, T, D = X.shape
    for n in range(N):
        for t in range(T):
            for i in range(D):
                X[n, t, i] += Xprev[n, t, i]
            r = np.sqrt(_dot(X[n, t], X[n, t]) / D + eps)
            rho[n, t] = r
            inv = 1.0 / r
            for i in range(D):
                U[n, t, i] = X[n, t, i] * inv


@njit(cache=True)
def _stream_grad(U, rho, A0, A1, two, normed, G, first, identity):  # pragma: no cover - compiled
    """(S4)'s last line in one pass per token, written over ``A0``: ``dLoss/dU = A0 (+ A1 if two)`` ``(N, T, D)``
    (the block's paths into its input), through the RMSNorm's backward when ``normed``
    (:func:`rms_norm_backward_reference`), plus, with ``identity``, the stream's gradient ``G`` ``(N, T - first,
    D)`` at the rows from ``first`` on."""
    N, T, D = A0.shape
    for n in range(N):
        for t in range(T):
            if two:
                for i in range(D):
                    A0[n, t, i] += A1[n, t, i]
            if normed:
                p = _dot(U[n, t], A0[n, t]) / D
                inv = 1.0 / rho[n, t]
                for i in range(D):
                    A0[n, t, i] = (A0[n, t, i] - U[n, t, i] * p) * inv
            if identity and t >= first:
                for i in range(D):
                    A0[n, t, i] += G[n, t - first, i]


@njit(cache=True)
def _query_paths(S, Gq, M, Aq, dT, w, gated, out):  # pragma: no cover - compiled
    """The factored last block's paths into its input when it reads out one row ``q`` (the outlier head), in one
    pass: ``out[n, s] = S_qs Gy_q + M_qs A_q (+ dT_s w)`` ``(N, T, D)``: the value path ``S^T Gy``, the scores'
    path through ``b := u`` (``M^T A``) and the gate's, all outer products of the one row.  ``S``, ``M``
    ``(N, T)`` its weighted scores and ``G * (Gy X^T)``; ``Gq``, ``Aq`` ``(N, D)``; ``dT`` ``(N, T)``; ``w``
    ``(D,)``."""
    N, T, D = out.shape
    for n in range(N):
        for s in range(T):
            a = S[n, s]
            b = M[n, s]
            c = dT[n, s] if gated else 0.0
            for i in range(D):
                out[n, s, i] = a * Gq[n, i] + b * Aq[n, i] + c * w[i]


class BlockForward(NamedTuple):
    """What one block's forward pass (:func:`block_forward`) returns.

    ``Y`` ``(N, T - first, D)`` the outputs of the rows read out; ``Z`` the packed projections (``[b, c, t]`` or,
    factored, ``[t, A]``); ``SIG``, ``KEEP`` ``(N, T)`` the gates (None on the reference path); ``S`` ``(N, T -
    first, T)`` the weighted scores of the pairwise forms (else None); ``Wk`` the block's stacked weights
    (:func:`_weights`); ``form`` one of :data:`FORMS`, ``"reference"``, or for softmax attention ``"softmax"`` /
    ``"softmax-reference"``; ``Yfull`` ``(N, T, D)`` the scan's outputs, which its adjoint reads (else None);
    ``soft`` what the softmax's adjoint reads (:func:`~mamba_dynamics.core.attention.softmax_mix`: the weights
    ``(N, h, T - first, T)`` of short sequences, else the rows' log-sum-exp ``(N, h, T - first)``) and ``att`` its
    settings (softmax only)."""

    Y: np.ndarray
    Z: np.ndarray
    SIG: np.ndarray | None
    KEEP: np.ndarray | None
    S: np.ndarray | None
    Wk: np.ndarray
    form: str
    Yfull: np.ndarray | None
    soft: np.ndarray | None = None
    att: Attention | None = None


@dataclass
class BlockCache:
    """What the backward pass needs of one block: the stream ``X`` = ``X_{k-1}`` ``(N, T, D)`` (None in a
    :meth:`StackCache.take` copy: the backward does not read it), the block's input ``U`` ``(N, T, D)``, ``rho``
    ``(N, T)`` where normalised (else None), the first row read out, and its :class:`BlockForward`."""

    X: np.ndarray | None
    U: np.ndarray
    rho: np.ndarray | None
    first: int
    fwd: BlockForward


#: the arrays of a block's :class:`BlockForward` that :meth:`StackCache.take` copies (with ``U`` and ``rho``)
_TAKEN_FWD = ("Z", "SIG", "KEEP", "Yfull", "S", "soft")


@dataclass
class StackCache:
    """Per-block forward quantities (:class:`BlockCache`), block 1 first."""

    blocks: list = field(default_factory=list)

    @property
    def X(self) -> list:
        """Every block's stream ``[X_0, ..., X_{L-1}]``."""
        return [b.X for b in self.blocks]

    @property
    def U(self) -> list:
        """Every block's input ``[U_1, ..., U_L]``."""
        return [b.U for b in self.blocks]

    def take(self, rows: np.ndarray, work: Workspace | None = None) -> "StackCache":
        """The cache of the sequences ``rows`` ``(n,)`` only (copies, in that order), for the backward pass
        (:func:`stack_backward`) of the sequences a loss still reaches (an active hinge), without the work of the
        others.  The streams ``X``, which the backward does not read, are not copied (None); an array the cache
        holds twice is copied once.  ``work``: the copies live in its arrays (one made with ``rows=True`` serves
        any number of rows); fresh ones of a megabyte fault in every page when other work has run in between."""
        taken: dict = {}

        def pick(name, k, a):
            if a is not None and id(a) not in taken:
                dst = None if work is None else work.get(f"take-{name}{k}", (len(rows),) + a.shape[1:])
                # mode="clip" (the rows are valid): with the default "raise" NumPy copies through a buffer
                taken[id(a)] = np.take(a, rows, axis=0, out=dst, mode="clip")
            return None if a is None else taken[id(a)]

        out = StackCache()
        for k, blk in enumerate(self.blocks):
            fwd = blk.fwd._replace(**{n: pick(n, k, getattr(blk.fwd, n)) for n in _TAKEN_FWD})
            out.blocks.append(BlockCache(None, pick("U", k, blk.U), pick("rho", k, blk.rho), blk.first, fwd))
        return out


#: how a selective or linear-attention block is computed: the Numba scans, the pairwise form on ``b`` and ``c``, or
#: the pairwise form on the factored scores ``c_t . b_s = u_t^T Q u_s`` (:func:`block_form`); ``"reference"`` = the
#: NumPy closed forms.  A softmax-attention block (an :class:`~mamba_dynamics.core.attention.Attention` given) has
#: one form, ``"softmax"`` (Numba, row by row), and ``"softmax-reference"`` (NumPy); a GLA block (``gated`` a
#: :class:`~mamba_dynamics.core.gates.VectorGate`) one, ``"gla"`` (the vector-gate scans of
#: :mod:`~mamba_dynamics.core.gla_mixer`), and ``"gla-reference"`` (NumPy)
FORMS = ("scan", "pairs", "factored")


def gate_rows(gated, r: int) -> int:
    """How many rows of a block's stacked weights (:func:`_weights`) are its gate's: 0 without a gate, 1 for a
    scalar gate (``w`` ``(D,)``), ``r`` for GLA's vector gate (``w`` = ``W_a`` ``(r, D)``)."""
    if isinstance(gated, VectorGate):
        return r
    return int(bool(gated))


def _kind(gated, attention: Attention | None, fast: bool, form: str | None, T: int, D: int, r: int) -> str:
    """The form a block is computed in: softmax attention's or GLA's one form (or its NumPy reference), else
    ``form`` or the cheapest of :data:`FORMS` (:func:`block_form`), ``"reference"`` when not ``fast``."""
    if attention is not None:
        return "softmax" if fast else "softmax-reference"
    if isinstance(gated, VectorGate):
        return "gla" if fast else "gla-reference"
    return (form or block_form(T, D, r)) if fast else "reference"


def block_form(T: int, D: int, r: int) -> str:
    """The cheapest form of a block on sequences of ``T`` tokens of width ``D`` with ``r`` projections.  Long
    sequences scan (:func:`~mamba_dynamics.core.mixer.quadratic_form`).  Short ones go pairwise, and there the
    scores depend on ``W_B``, ``W_C`` only through ``Q = W_C^T W_B`` ``(D, D)``: projecting the tokens on ``Q``
    (``A = U Q``, ``D`` columns) instead of on ``W_B`` and ``W_C`` (``2r``) costs per token, forward and
    backward, ``3 D^2 + 3 T D`` multiply-adds against ``6 r D + 3 T r``, so it is taken when ``r (2D + T) > D (D
    + T)`` (``r > 19.4`` at Table 1's ``T = 21``, ``D = 31``; always at ``r = D``)."""
    if not quadratic_form(T, D, r):
        return "scan"
    return "factored" if r * (2 * D + T) > D * (D + T) else "pairs"


#: a batch whose ``(N, T, D)`` float64 arrays are larger than ``CHUNK_ABOVE`` bytes runs in chunks of about
#: ``CHUNK_BYTES`` per array (:func:`sequence_chunks`).  Measured on the 5-block feature stack's step (one thread,
#: interleaved, Table 3's data): ``d = 32``, ``N = 1000`` (3 MB arrays) 0.89 of the one-piece time in chunks of
#: 125 sequences (0.38 MB), 0.95 in chunks of 334; ``N = 4000``: 0.74 (docs/performance_history.md, "Deep stacks").
#: The feature models size their chunks by the head's width (:func:`mamba_dynamics.features.head.head_chunks`:
#: ``d = 10``, ``m = 40``: 10 chunks of 100 for the Table 3 stacks; the one-layer models, with fewer arrays per
#: sequence, pass twice this budget: 5 chunks of 200; docs/performance_history.md, "Chunks of the one-layer steps")
CHUNK_BYTES = 384 * 1024
CHUNK_ABOVE = 1024 * 1024


def sequence_chunks(N: int, T: int, D: int, budget: int = CHUNK_BYTES, above: int = CHUNK_ABOVE) -> list:
    """Near-equal contiguous slices of ``N`` sequences of ``T`` tokens of width ``D`` (the widest per-token array
    the step keeps: the stream's ``D``, or a head's ``m`` neurons, as the feature models pass): one slice when an
    ``(N, T, D)`` float64 array takes at most ``above`` bytes (Table 1's training batch: 64 prompts, 0.33 MB),
    else as few as keep each chunk's array within about ``budget`` bytes.  A block's forward and backward touch a
    dozen such arrays; a batch far larger than the caches (Table 3: 1000 sequences, 3.8 MB for the head's
    pre-activations, five blocks) runs faster chunk by chunk, its arrays staying in cache."""
    size = N * T * D * 8
    if N <= 1 or size <= above:
        return [slice(0, max(N, 0))]
    k = min(N, -(-size // budget))
    return [slice(i * N // k, (i + 1) * N // k) for i in range(k)]


def _add_product(out: np.ndarray, A: np.ndarray, B: np.ndarray) -> None:
    """``out += A @ B``: ``out`` ``(n, m)`` C-ordered, ``A`` ``(n, k)``, ``B`` ``(k, m)``, both C-ordered.  A small
    ``B`` through :func:`~mamba_dynamics.core.simd.matmul`; else one BLAS call (``beta = 1``), computed as ``out^T
    += B^T A^T`` on the Fortran-ordered transposes, in place."""
    if small_product(A, B, out):
        matmul(A, B, out, accumulate=True)
        return
    res = dgemm(1.0, B.T, A.T, beta=1.0, c=out.T, overwrite_c=1)
    if not np.shares_memory(res, out):  # a copy was made (an unexpected layout): add it back
        out += res.T


def _weights(W_B: np.ndarray, W_C: np.ndarray, w: np.ndarray, gated, form: str) -> np.ndarray:
    """Each block's weights as one matrix, so that its projections and their gradients are one BLAS product each:
    ``[W_B; W_C; w^T]`` ``(L, 2r+1, D)`` (``(L, 2r, D)`` without a gate; GLA: ``[W_B; W_C; W_a]`` ``(L, 3r, D)``),
    or in the factored form ``[w^T; Q^T]`` ``(L, 1+D, D)`` (``Q^T`` alone without a gate) with ``Q = W_C^T W_B``;
    ``W_B``, ``W_C`` ``(L, r, D)``, ``w`` ``(L, D)`` (GLA: ``(L, r, D)``; one block: add a leading axis of 1)."""
    L, r, D = W_B.shape
    g = gate_rows(gated, r)
    Wk = np.empty((L, (D if form == "factored" else 2 * r) + g, D))
    if form == "factored" and gated:
        Wk[:, 0] = w
    elif g:
        Wk[:, 2 * r:] = w.reshape(L, g, D)
    if form == "factored":
        np.matmul(W_B.transpose(0, 2, 1), W_C, out=Wk[:, g:])  # Q^T of every block
    else:
        Wk[:, :r], Wk[:, r:2 * r] = W_B, W_C
    return Wk


def block_grads(dWk: np.ndarray, W_B: np.ndarray, W_C: np.ndarray, form: str, gated) -> tuple:
    """One block's ``(dW_B, dW_C (r, D), dw (D,) or None)`` from ``dWk`` = dLoss/d(its stacked weights)
    (:func:`_weights` in ``form``): the rows ``[dW_B; dW_C; dw]`` (GLA: ``dw`` = ``dW_a`` ``(r, D)``), or in the
    factored form ``[dw; dQ^T]``, whence (S4') ``dW_B = W_C dQ`` and ``dW_C = W_B dQ^T``.  ``W_B``, ``W_C`` ``(r,
    D)``."""
    if form == "factored":
        g = int(bool(gated))
        dQ = dWk[g:].T
        return W_C @ dQ, W_B @ dQ.T, (dWk[0] if gated else None)
    r = W_B.shape[0]
    return dWk[:r], dWk[r:2 * r], (dWk[2 * r:] if isinstance(gated, VectorGate) else dWk[2 * r] if gated else None)


def _gate_part(A: np.ndarray, r: int, gated):
    """The gate's part of ``A`` laid out as the packed projections (last axis ``[b, c, t]``): ``A[..., 2r]`` for
    a scalar gate, ``A[..., 2r:]`` for GLA's, None without a gate."""
    if isinstance(gated, VectorGate):
        return A[..., 2 * r:]
    return A[..., 2 * r] if gated else None


def unpack(Z: np.ndarray, r: int, gated) -> tuple:
    """``(Bp, Cp, Tg)`` views of the packed projections ``Z`` ``(N, T, 2r+1)`` (``Tg`` zeros without a gate;
    GLA's ``Z`` ``(N, T, 3r)``, ``Tg`` ``(N, T, r)``)."""
    Tg = _gate_part(Z, r, gated)
    return Z[:, :, :r], Z[:, :, r:2 * r], (np.zeros(Z.shape[:2]) if Tg is None else Tg)


def _rows(A: np.ndarray, first: int) -> np.ndarray:
    """``A[:, first:]`` ``(N, T - first, K)`` as 2-D ``(N (T - first), K)``, so that a product over it is one BLAS
    call: a view for ``first = 0`` or one row per sequence, else a copy."""
    R = A[:, first:]
    return R[:, 0, :] if R.shape[1] == 1 else R.reshape(-1, R.shape[2])


def block_forward(W_B: np.ndarray, W_C: np.ndarray, w: np.ndarray, X: np.ndarray, gated: bool, fast: bool = True,
                  first: int = 0, work: Workspace | None = None, tag: str = "", form: str | None = None,
                  out: np.ndarray | None = None, Wk: np.ndarray | None = None, attention: Attention | None = None):
    """One mixer block (S1) on ``X`` ``(N, T, D)``: a :class:`BlockForward`; ``W_B``, ``W_C`` ``(r, D)``, ``w``
    ``(D,)``.  ``Y`` ``(N, T - first, D)``: the outputs of the rows read out (a head that reads
    the last token needs one row, and the last block then projects that row alone on ``W_C`` or ``Q``), into
    ``out`` when given.  ``Z`` = the packed projections ``X Wk^T`` (:func:`_weights`): ``[b, c, t]`` ``(N, T,
    2r+1)``, or factored ``[t, A]`` ``(N, T, 1+D)`` with ``A = X Q`` (rows from ``first`` on; the scores are then
    ``A_t . x_s``).  ``Yfull`` ``(N, T, D)``: the scan's outputs (its adjoint reads them), else None.  ``form``:
    one of :data:`FORMS` (default :func:`block_form`); ``fast=False``: the NumPy reference.  ``work``: reuse its
    arrays (named with ``tag``).  ``Wk``: the block's stacked weights when made already (:func:`_weights`).
    ``attention``: the block is causal softmax attention (:mod:`~mamba_dynamics.core.attention`; its weights are
    ``[W_B; W_C]``, ``gated`` is ignored), in the form ``"softmax"`` (``fast=False``: ``"softmax-reference"``).
    ``gated`` a :class:`~mamba_dynamics.core.gates.VectorGate`: the block is GLA (``w`` = ``W_a`` ``(r, D)``), in
    the form ``"gla"`` (``"gla-reference"``); ``SIG``, ``KEEP`` are then its decays' log-slopes and decays ``(N, T,
    r)``."""
    X = np.ascontiguousarray(X, dtype=np.float64)
    get = getter(work)
    N, T, D = X.shape
    r = W_B.shape[0]
    if attention is not None:
        gated = False
    form = _kind(gated, attention, fast, form, T, D, r)
    if Wk is None:
        Wk = _weights(W_B[None], W_C[None], w[None], gated, form)[0]
    Z = get("Z" + tag, (N, T, Wk.shape[0]))
    flat = X.reshape(N * T, D)
    g = int(bool(gated))
    if form == "factored" and first > 0:  # the gate at every token, A at the rows read out
        if gated:
            Z[:, :, 0] = (flat @ w).reshape(N, T)
        Z[:, first:, g:] = (_rows(X, first) @ Wk[g:].T).reshape(N, T - first, D)
    else:
        matmul(flat, Wk.T, Z.reshape(N * T, -1))
    Y = get("Y" + tag, (N, T - first, D)) if out is None else out
    S = SIG = KEEP = Yfull = None
    if form == "softmax-reference":
        Y[...] = softmax_forward_reference(X, Z[:, :, :r], Z[:, first:, r:2 * r], attention, first)
        return BlockForward(Y, Z, SIG, KEEP, S, Wk, form, Yfull, None, attention)
    if form == "softmax":
        soft = softmax_mix(X, Z[:, :, :r], Z[:, first:, r:2 * r], attention, first, Y,
                           lambda name, shape: get(name + tag, shape))
        return BlockForward(Y, Z, SIG, KEEP, S, Wk, form, Yfull, soft, attention)
    if form in ("reference", "gla-reference"):  # the NumPy closed forms (M2), (V2)
        reference = gla_mix_forward_reference if form == "gla-reference" else mix_forward_reference
        Y[...] = reference(X, *unpack(Z, r, gated), gated)[:, first:]
        return BlockForward(Y, Z, SIG, KEEP, S, Wk, form, Yfull)
    if form == "gla":
        SIG, KEEP = get("SIG" + tag, (N, T, r)), get("KEEP" + tag, (N, T, r))
        gla_mix_forward(X, Z, r, 1.0 / gated.tau, first, Y, KEEP, SIG)
        return BlockForward(Y, Z, SIG, KEEP, S, Wk, form, Yfull)
    SIG, KEEP = get("SIG" + tag, (N, T)), get("KEEP" + tag, (N, T))
    if form == "scan":
        Yfull = Y if first == 0 else get("Yfull" + tag, X.shape)
        mix_forward(X, Z, r, gate_args(gated), first, Yfull, SIG, KEEP)
        if first > 0:
            Y[...] = Yfull[:, first:]
        elif out is not None:  # the adjoint reads the outputs: keep them apart from ``out``
            Yfull = get("Yfull" + tag, X.shape)
            Yfull[...] = Y
    else:
        S = get("S" + tag, (N, T - first, T))
        if form == "factored":
            Bp, Cp, Tg = X, Z[:, first:, g:], Z[:, :, 0]
        else:
            Bp, Cp, Tg = Z[:, :, :r], Z[:, first:, r:2 * r], Z[:, :, 2 * r if gated else 0]
        mix_forward_pairs(X, Bp, Cp, Tg, gated, first, Y, SIG, KEEP, S)
    return BlockForward(Y, Z, SIG, KEEP, S, Wk, form, Yfull)


def stack_forward(W_B: np.ndarray, W_C: np.ndarray, w: np.ndarray, X0: np.ndarray, gated: bool,
                  readout: str = "stream", fast: bool = True, last_token_only: bool = False,
                  work: Workspace | None = None, norm: str = "rms", form: str | None = None,
                  attention: Attention | None = None) -> tuple[np.ndarray, StackCache]:
    """(S1)-(S3): the head's input (``X_L`` or ``Y_L``) ``(N, T, D)`` and the :class:`StackCache`.  ``W_B``,
    ``W_C`` ``(L, r, D)``, ``w`` ``(L, D)``, ``X0`` ``(N, T, D)``.  ``last_token_only``: the head reads the last
    token only, so the last block reads out that row alone and the head's input is that row, ``(N, 1, D)``.
    ``work``: a :class:`Workspace` whose arrays the result and the cache then live in.  ``form``: every block in
    this form of :data:`FORMS` (default: each block's :func:`block_form`).  ``attention``: every block is causal
    softmax attention (its weights ``[W_B; W_C]``, no gate).  Each block's output is written into the next
    stream's array and the stream added to it (no array per block output)."""
    if readout not in READOUTS:
        raise ValueError(f"readout must be one of {READOUTS}, got {readout!r}")
    if norm not in NORMS:
        raise ValueError(f"norm must be one of {NORMS}, got {norm!r}")
    cache = StackCache()
    X = np.ascontiguousarray(X0, dtype=np.float64)
    L, (N, T, D) = W_B.shape[0], X.shape
    get = getter(work)
    U, rho = X, None
    if attention is not None:
        gated = False
    kind = _kind(gated, attention, fast, form, T, D, W_B.shape[1])
    Wks = _weights(W_B, W_C, w, gated, kind)  # every block's at once (one batched product)
    for k in range(L):
        first = T - 1 if (last_token_only and k == L - 1) else 0
        stream = readout == "stream" or k < L - 1
        nxt = get(f"X{k + 1}", (N, T - first, D)) if stream else None
        fwd = block_forward(W_B[k], W_C[k], w[k], U, gated, fast, first, work, str(k), kind, nxt, Wks[k],
                            attention)
        cache.blocks.append(BlockCache(X, U, rho, first, fwd))
        if not stream:
            return fwd.Y, cache
        if k == L - 1 or norm == "none":
            nxt += X[:, first:]  # (S2): X_k = X_{k-1} + Y_k
            U, rho = nxt, None
        elif fast:  # (S2) and the next block's (S0) in one pass
            U, rho = get(f"U{k + 1}", X.shape), get(f"rho{k + 1}", X.shape[:2])
            _residual_rms_kernel(nxt, X, EPS, U, rho)
        else:
            nxt += X
            U, rho = rms_norm_reference(nxt)
        X = nxt
    return X, cache


# ------------------------------------------------------------------------------------------------------------
# the backward pass (S4): one adjoint per block form, over shared tails
# ------------------------------------------------------------------------------------------------------------

class BlockAdjoint(NamedTuple):
    """A block's adjoint before its tails: ``GU`` ``(N, T, D)`` = dLoss/dU through the value path (None when
    not wanted, but for the scan, whose kernel always takes it), ``GB`` the factored form's scores' path through
    ``b := u`` (else None), ``dZ`` the gradients of the packed projections (laid out as ``Z``), and ``one``: the
    factored last block that reads out one row has its paths into ``U`` complete already (outer products)."""

    GU: np.ndarray | None
    GB: np.ndarray | None
    dZ: np.ndarray
    one: bool


def _adjoint_reference(blk: BlockCache, G, r, gated, want_gx, get, w_k, buf) -> BlockAdjoint:
    """(M3)-(M4) written out in NumPy (:func:`~mamba_dynamics.core.mixer.mix_adjoint_reference`), or for GLA's
    block (V3)-(V4) (:func:`~mamba_dynamics.core.gla_mixer.gla_mix_adjoint_reference`, ``dT`` ``(N, T, r)``)."""
    X, first = blk.U, blk.first
    Gy = np.zeros(X.shape)
    Gy[:, first:] = G
    vector = isinstance(gated, VectorGate)
    reference = gla_mix_adjoint_reference if vector else mix_adjoint_reference
    GU, dB, dC, dT = reference(X, *unpack(blk.fwd.Z, r, gated), Gy, gated)
    gate = [dT] if vector else [dT[:, :, None]] if gated else []
    return BlockAdjoint(GU, None, np.concatenate([dB, dC] + gate, axis=2), False)


def _scan_arrays(blk: BlockCache, G, get, buf) -> tuple:
    """What a scan's adjoint writes and reads: ``GU`` ``(N, T, D)``, ``dZ`` (laid out as ``Z``) and the output
    gradient at every row, ``Gy`` ``(N, T, D)`` (``G`` itself, or zeros above the rows read out)."""
    X, first = blk.U, blk.first
    Gy = G
    if first > 0:
        Gy = get("Gy", X.shape)
        Gy[:, :first] = 0.0
        Gy[:, first:] = G
    return get(buf, X.shape), get("dZ", blk.fwd.Z.shape), Gy


def _adjoint_scan(blk: BlockCache, G, r, gated, want_gx, get, w_k, buf) -> BlockAdjoint:
    """The reverse scan (:func:`~mamba_dynamics.core.mixer.mix_adjoint`) on the rows read out."""
    f = blk.fwd
    GU, dZ, Gy = _scan_arrays(blk, G, get, buf)
    mix_adjoint(blk.U, f.Z, r, f.Yfull, Gy, f.SIG, f.KEEP, gate_args(gated), want_gx, GU, dZ)
    return BlockAdjoint(GU, None, dZ, False)


def _adjoint_pairs(blk: BlockCache, G, r, gated, want_gx, get, w_k, buf) -> BlockAdjoint:
    """The pairwise form on ``b`` and ``c`` (:func:`~mamba_dynamics.core.mixer.mix_adjoint_pairs`)."""
    X, f, first, Z = blk.U, blk.fwd, blk.first, blk.fwd.Z
    GU = get(buf, X.shape) if want_gx else None
    dZ = get("dZ", Z.shape)
    dZ[:, :first, r:2 * r] = 0.0
    mix_adjoint_pairs(X, Z[:, :, :r], Z[:, first:, r:2 * r], G, f.SIG, f.KEEP, gated, first, f.S, GU,
                      dZ[:, :, :r], dZ[:, first:, r:2 * r], dZ[:, :, 2 * r if gated else 0], get("C", f.S.shape),
                      Z[:, :, 2 * r if gated else 0])
    return BlockAdjoint(GU, None, dZ, False)


def _adjoint_factored(blk: BlockCache, G, r, gated, want_gx, get, w_k, buf) -> BlockAdjoint:
    """The pairwise form on the factored scores (S4'): ``dZ = [dT, dA]``, and ``GB`` the path through ``b :=
    u``.  The outlier head's last block (one row read out) has its paths into ``U`` as outer products of that row
    (:func:`_query_paths`)."""
    X, f, first = blk.U, blk.fwd, blk.first
    g = int(bool(gated))
    GU = get(buf, X.shape) if want_gx else None
    GB = get("GB", X.shape) if want_gx else None
    dZ = get("dZ", f.Z.shape)
    one = want_gx and first == X.shape[1] - 1
    M = mix_adjoint_pairs(X, X, f.Z[:, first:, g:], G, f.SIG, f.KEEP, gated, first, f.S,
                          None if one else GU, None if one else GB, dZ[:, first:, g:], dZ[:, :, 0],
                          get("C", f.S.shape), f.Z[:, :, 0])
    if one:
        _query_paths(f.S[:, 0], G[:, 0], M[:, 0], f.Z[:, -1, g:], dZ[:, :, 0], w_k, bool(gated), GU)
        GB = None
    return BlockAdjoint(GU, GB, dZ, one)


def _adjoint_gla(blk: BlockCache, G, r, gated, want_gx, get, w_k, buf) -> BlockAdjoint:
    """GLA's reverse scans (:func:`~mamba_dynamics.core.gla_mixer.gla_mix_adjoint`) on the rows read out."""
    f = blk.fwd
    GU, dZ, Gy = _scan_arrays(blk, G, get, buf)
    gla_mix_adjoint(blk.U, f.Z, r, Gy, f.KEEP, f.SIG, want_gx, GU, dZ)
    return BlockAdjoint(GU, None, dZ, False)


def _adjoint_softmax(blk: BlockCache, G, r, gated, want_gx, get, w_k, buf) -> BlockAdjoint:
    """Softmax attention from what the forward kept (:func:`~mamba_dynamics.core.attention.softmax_mix_adjoint`):
    ``dZ = [dB, dC]``, ``GU`` the value path."""
    X, f, first = blk.U, blk.fwd, blk.first
    att, Z = f.att, f.Z
    GU = get(buf, X.shape) if want_gx else None
    dZ = get("dZ", Z.shape)
    dZ[:, :first, r:2 * r] = 0.0
    softmax_mix_adjoint(X, Z[:, :, :r], Z[:, first:, r:2 * r], att, first, G, f.soft, GU, dZ[:, :, :r],
                        dZ[:, first:, r:2 * r])
    return BlockAdjoint(GU, None, dZ, False)


def _adjoint_softmax_reference(blk: BlockCache, G, r, gated, want_gx, get, w_k, buf) -> BlockAdjoint:
    """Softmax attention's derivative written out in NumPy (:func:`~mamba_dynamics.core.attention
    .softmax_adjoint_reference`)."""
    X, f, first = blk.U, blk.fwd, blk.first
    GU, dB, dC = softmax_adjoint_reference(X, f.Z[:, :, :r], f.Z[:, first:, r:2 * r], f.att, G, first)
    dZ = np.zeros(f.Z.shape)
    dZ[:, :, :r], dZ[:, first:, r:2 * r] = dB, dC
    return BlockAdjoint(GU, None, dZ, False)


#: the adjoint of each block form (the NumPy references' forms are ``"reference"`` and ``"softmax-reference"``)
ADJOINTS = {"reference": _adjoint_reference, "scan": _adjoint_scan, "pairs": _adjoint_pairs,
            "factored": _adjoint_factored, "softmax": _adjoint_softmax,
            "softmax-reference": _adjoint_softmax_reference, "gla": _adjoint_gla,
            "gla-reference": _adjoint_reference}


@dataclass
class StackGrads:
    """The gradients :func:`stack_backward` gathers: ``dW_B``, ``dW_C`` ``(L, r, D)`` and the factored blocks'
    ``dQ`` ``(L, D, D)`` (mapped to ``dW_B``, ``dW_C`` at the end, S4'), all three None with frozen
    projections, and ``dw`` ``(L, D)``."""

    dW_B: np.ndarray | None
    dW_C: np.ndarray | None
    dw: np.ndarray
    dQ: np.ndarray | None


def _weight_tail(k: int, blk: BlockCache, adj: BlockAdjoint, W_B, W_C, w, gated, want_gx, out: StackGrads):
    """Block ``k``'s parameter gradients from its ``dZ`` (one product ``dZ^T U``, or, in the factored form that
    reads out some rows only, ``dQ = U_rows^T dA`` and ``dw = U^T dT``), and the paths through ``b``, ``c``,
    ``t`` (or ``A`` and ``t``) added to ``GU``."""
    X, f, first = blk.U, blk.fwd, blk.first
    N, T, D = X.shape
    r = W_B.shape[1]
    g = int(bool(gated))
    flat = X.reshape(N * T, D)
    dZ, GU, Wk = adj.dZ, adj.GU, f.Wk
    if f.form == "factored" and first > 0:  # A at the rows read out only
        dA = _rows(dZ[:, :, g:], first)
        if out.dQ is not None:
            np.matmul(_rows(X, first).T, dA, out=out.dQ[k])
        if gated:
            out.dw[k] = flat.T @ dZ[:, :, 0].reshape(-1)
        if want_gx:
            if gated and not adj.one:  # the gate's path (the one-row kernel has it)
                GU += dZ[:, :, :1] * w[k]
            GU[:, first:] += (dA @ Wk[g:]).reshape(N, T - first, D)
        return
    dZf = dZ.reshape(N * T, -1)
    if out.dQ is None:  # frozen projections: the gate's rows of the product alone
        if isinstance(gated, VectorGate):
            out.dw[k] = dZf[:, 2 * r:].T @ flat
        elif gated:
            out.dw[k] = flat.T @ dZf[:, 0 if f.form == "factored" else 2 * r]
    elif f.form == "factored":  # [dw; dQ^T]
        dWk = matmul(dZf.T, flat, np.empty((dZf.shape[1], D)))
        out.dQ[k] = dWk[g:].T
        if gated:
            out.dw[k] = dWk[0]
    else:  # [dW_B; dW_C; dw]
        out.dW_B[k], out.dW_C[k], dwk = block_grads(matmul(dZf.T, flat, np.empty((dZf.shape[1], D))), W_B[k],
                                                    W_C[k], f.form, gated)
        if gated:
            out.dw[k] = dwk
    if want_gx:  # the paths through b, c, t (through A and t when factored), added to the value path
        _add_product(GU.reshape(N * T, D), dZf, Wk)


def _stream_tail(blk: BlockCache, adj: BlockAdjoint, G, identity: bool, fast: bool) -> np.ndarray:
    """dLoss/dX_{k-1}, written over ``GU``: the input's gradient through the RMSNorm's backward (when the block
    reads a normalised stream), plus the stream's identity path ``G`` at the rows read out."""
    X, rho, GU, GB, first = blk.U, blk.rho, adj.GU, adj.GB, blk.first
    if fast:
        _stream_grad(X, X[:, :, 0] if rho is None else rho, GU, GU if GB is None else GB, GB is not None,
                     rho is not None, G, first, identity)
        return GU
    if rho is not None:
        rms_norm_backward_reference(X, rho, GU)
    if identity:
        GU[:, first:] += G
    return GU


def stack_backward(W_B: np.ndarray, W_C: np.ndarray, w: np.ndarray, cache: StackCache, Gout: np.ndarray,
                   gated: bool, readout: str = "stream", fast: bool = True, work: Workspace | None = None,
                   want_dx: bool = False, want_wbc: bool = True):
    """(S4): ``(dW_B (L, r, D), dW_C (L, r, D), dw (L, D), dX0)`` from ``Gout`` = dLoss/d(head input), shaped
    as :func:`stack_forward`'s result; ``dX0`` ``(N, T, D)`` (the gradient into the tokens) only with
    ``want_dx``, else None: the first block then skips its paths into its input.  Per block, last first: its
    form's adjoint (:data:`ADJOINTS`), then its parameter gradients and projection paths (:func:`_weight_tail`),
    then the stream's (:func:`_stream_tail`).  The scans skip the sequences whose gradient is zero, so prompts
    with an inactive hinge cost a scan of zeros.  ``dX0`` lives in ``work`` when one is given.  In the factored
    form the kernels give ``dLoss/dA`` and ``dLoss/dQ = U^T dA``, whence ``dW_B = W_C dQ`` and ``dW_C = W_B
    dQ^T``.  ``want_wbc = False`` (frozen projections): ``dW_B``, ``dW_C`` are None and their products are
    skipped; ``dw = U^T dT`` is then a matrix-vector product, which may round its last bit differently from the
    row of the full product."""
    L = W_B.shape[0]
    get = getter(work)
    if cache.blocks and cache.blocks[0].fwd.att is not None:  # softmax attention: no gate
        gated = False
    out = StackGrads(*((np.zeros_like(W_B), np.zeros_like(W_C)) if want_wbc else (None, None)), np.zeros_like(w),
                     np.zeros((L,) + (W_B.shape[2],) * 2) if want_wbc else None)
    G = np.ascontiguousarray(Gout, dtype=np.float64)  # dLoss/dX_k (or dY_L) at the rows block k reads out
    for k in range(L - 1, -1, -1):
        blk = cache.blocks[k]
        want_gx = want_dx or k > 0
        # dLoss/dU_k is gathered in two buffers in turn (the block reads its G while the next one is written)
        adj = ADJOINTS[blk.fwd.form](blk, G, W_B.shape[1], gated, want_gx, get, w[k], f"G{k % 2}")
        _weight_tail(k, blk, adj, W_B, W_C, w, gated, want_gx, out)
        if not want_gx:
            G = None
            break
        # the stream's identity path into X_{k-1} (none from the head when it reads the last mixer)
        G = _stream_tail(blk, adj, G, readout == "stream" or k < L - 1, fast)
    if want_wbc and cache.blocks[0].fwd.form == "factored":  # (S4') for every block at once
        np.matmul(W_C, out.dQ, out=out.dW_B)
        np.matmul(W_B, out.dQ.transpose(0, 2, 1), out=out.dW_C)
    return out.dW_B, out.dW_C, out.dw, G


__all__ = ["READOUTS", "NORMS", "FORMS", "EPS", "CHUNK_BYTES", "CHUNK_ABOVE", "ADJOINTS", "sequence_chunks", "block_form",
           "rms_norm_reference", "rms_norm_backward_reference", "BlockForward", "BlockCache", "BlockAdjoint",
           "StackCache", "StackGrads", "unpack", "block_grads", "block_forward", "stack_forward", "stack_backward"]
