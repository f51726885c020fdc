"""The Eq. 6 head of the feature-filtering model (arXiv 2602.12499) and its backward (F7), fast and reference.

    F(X) = (1/L) sum_l sum_i a_i ReLU(v_i^T y_l)                                          (Eq. 6 / F5)
    dLoss/dv_i = sum_{n,l} r_{n,l,i} y_{n,l},   Gy_{n,l} = dLoss/dy_{n,l} = sum_i r_{n,l,i} v_i             (F7)

with ``g_n = -y_n 1{y_n F_n < 1} / N`` and ``r_{n,l,i} = g_n a_i 1{v_i^T y_l > 0} / L`` (docs/features.md).

==========================  ==================================================================================
function                    role
==========================  ==================================================================================
:func:`head_pass`           the head, its hinge and its backward in one Numba pass (fixed-order small products,
                            :func:`~mamba_dynamics.core.simd.gemm`); called inside the one-call training steps
:func:`head`                :func:`head_pass` from Python: ``(loss, F, dV, Gy, active)``
:func:`head_outputs`        ``F`` alone (evaluation), one BLAS product into a reused array
:func:`head_reference`      the naive reference: neuron by neuron in NumPy
:func:`head_chunks`         the training step's chunks of sequences, sized by the head's width
:func:`pass_block`          the one-call steps' blocks of sequences, sized by bytes (:data:`PASS_BYTES`)
:func:`copy_sequence`       ``dst[j] = src[i]`` without array views (the passes' gathering of active rows)
==========================  ==================================================================================

Glossary: ``Y`` ``(N, L, d)`` the mixer's outputs ``y_l``; ``V`` ``(m, d)`` = W_O; ``a`` ``(m,)`` the fixed second
layer; ``y`` ``(N,)`` labels; ``Gy`` = dLoss/dY; ``active`` the sequences whose hinge is active (``y F < 1``).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ..core.losses import hinge_loss, hinge_slope
from ..core.simd import gemm
from ..core.stack import CHUNK_BYTES, sequence_chunks
from ..core.workspace import Workspace, getter


#: active sequences gathered per backward product of :func:`head_pass` (a speed choice only: any group gives the
#: same bits): 8 sequences of 12 tokens make a 96-long sum per tile of ``R^T Y``
HEAD_GROUP = 8


@njit(cache=True, error_model="numpy")
def _head_group_backward(Yg, Rg, V, g, dVt, Gy, rows):
    """The backward products of :func:`head_pass` for a group of ``g`` active sequences, their tokens side by side
    (``Yg`` ``(G L, d)``, ``Rg`` ``(G L, m)``, the first ``g L`` rows used): ``dVt += Yg^T Rg`` ``(d, m)`` (the
    neurons in the vector lanes) and ``Gy[rows[j]] = R_j V`` ``(L, d)`` for the group's ``j``-th sequence."""
    d = Yg.shape[1]
    m = Rg.shape[1]
    L = Gy.shape[1]
    gemm(Yg, 0, 1, d, Rg, 0, m, dVt, 0, m, d, g * L, m, True)
    for j in range(g):
        gemm(Rg, j * L * m, m, 1, V, 0, d, Gy, rows[j] * L * d, d, L, m, d, False)


@njit(cache=True, error_model="numpy")
def head_pass(Y, V, Vt, a, y, F, active, Gy, dVt, compact, group, n_total):
    """The Eq. 6 head, its hinge and its backward (F7) in one pass over the sequences of ``Y`` ``(N, L, d)``, the
    products in the core's cache (:func:`~mamba_dynamics.core.simd.gemm`, each sum in a fixed order, no BLAS):

    * ``Z = Y_n V^T`` ``(L, m)`` per sequence; ``F[n] = sum_i a_i sum_l max(Z[l, i], 0) / L`` (each neuron's sum
      over the tokens, then the neurons' weighted sum in the order ``i``);
    * if the hinge is active (``y_n F_n < 1``): ``R[l, i] = g_n a_i 1{Z[l, i] > 0} / L`` with ``g_n = -y_n /
      n_total`` (the whole batch's size, of which ``Y`` may be a block); ``dVt += Y_n^T R`` ``(d, m)``
      (``dLoss/dV`` transposed, each element summed over the active tokens in order, from its old value, so that
      consecutive blocks give the same bits as one) and ``Gy_n = R V`` ``(L, d)``, for ``group`` active sequences
      at a time (:func:`_head_group_backward`; the group changes no bit).

    ``V`` ``(m, d)`` and its transpose ``Vt`` ``(d, m)`` (C-contiguous), ``a`` ``(m,)``, ``y`` ``(N,)``.  Writes ``F`` ``(N,)``, the indices of the active sequences
    into ``active`` ``(N,)``, adds into ``dVt`` and writes ``Gy``: with ``compact`` the active sequences' rows in
    their order (``(na, L, d)``, the rest of ``Gy`` untouched), else ``(N, L, d)`` with zero rows for the inactive
    ones.  Returns ``na``, the number of active sequences.  The pre-activations are never stored (the BLAS head
    wrote and read 3.8 MB of them per step; docs/performance_history.md, "The feature steps without BLAS")."""
    N, L, d = Y.shape
    m = V.shape[0]
    Z = np.empty((L, m))
    Yg = np.empty((group * L, d))
    Rg = np.empty((group * L, m))
    rows = np.empty(group, dtype=np.int64)
    acc = np.empty(m)
    ga = np.empty(m)
    na = 0
    g = 0
    for n in range(N):
        gemm(Y, n * L * d, d, 1, Vt, 0, m, Z, 0, m, L, d, m, False)
        acc[:] = 0.0
        for l in range(L):
            for i in range(m):
                z = Z[l, i]
                acc[i] += 0.0 if z <= 0.0 else z  # max(z, 0) as a select (vectorises), NaN kept
        f = 0.0
        for i in range(m):
            f += a[i] * acc[i]
        f = f / L
        F[n] = f
        if 1.0 - y[n] * f <= 0.0:
            if not compact:
                Gy[n, :, :] = 0.0
            continue
        rows[g] = na if compact else n
        active[na] = n
        na += 1
        c = -y[n] / n_total / L
        for i in range(m):
            ga[i] = c * a[i]
        for l in range(L):
            t = g * L + l
            for k in range(d):
                Yg[t, k] = Y[n, l, k]
            for i in range(m):
                Rg[t, i] = ga[i] if Z[l, i] > 0.0 else 0.0
        g += 1
        if g == group:
            _head_group_backward(Yg, Rg, V, g, dVt, Gy, rows)
            g = 0
    if g > 0:
        _head_group_backward(Yg, Rg, V, g, dVt, Gy, rows)
    return na



@njit(cache=True, inline="always")
def copy_sequence(src, i, dst, j):
    """``dst[j] = src[i]`` for 3-D arrays, element by element (no views: an ``A[j] = A[i]`` per sequence made two
    array views, each two atomic reference counts, and those counts took 4 % of the Eq. 5-6 step)."""
    for p in range(src.shape[1]):
        for q in range(src.shape[2]):
            dst[j, p, q] = src[i, p, q]


@njit(cache=True, inline="always")
def move_sequence(A, i, j):
    """``A[j] = A[i]`` for a 3-D array, element by element (:func:`copy_sequence`): the passes' gathering of the
    active sequences' rows, ``j <= i``, so that earlier rows are moved first."""
    if i != j:
        copy_sequence(A, i, A, j)


def head(Y: np.ndarray, V: np.ndarray, a: np.ndarray, y: np.ndarray, compact: bool,
         work: Workspace | None = None) -> tuple:
    """The Eq. 6 head and its backward (F7) in one Numba pass (:func:`head_pass`).  Returns ``(loss, F (N,), dV
    (m, d), Gy, active)``: with ``compact`` ``Gy`` is ``(na, L, d)``, the active sequences' rows in the order of
    ``active`` ``(na,)``; otherwise ``(N, L, d)`` (zero for inactive sequences).  ``Gy`` lives in ``work``'s array
    when given (overwritten by the next call on it)."""
    N, L, d = Y.shape
    F, active = np.empty(N), np.empty(N, dtype=np.int64)
    dVt = np.zeros((d, V.shape[0]))
    Gy = getter(work)("Gy", (N, L, d))
    na = head_pass(f64(Y), f64(V), transpose(V), f64(a), f64(y), F, active, Gy, dVt, compact, HEAD_GROUP, N)
    return hinge_loss(F, y), F, dVt.T.copy(), Gy[:na] if compact else Gy, active[:na]


def head_outputs(Y: np.ndarray, V: np.ndarray, a: np.ndarray, work: Workspace | None = None) -> np.ndarray:
    """(F5) ``F`` ``(N,)`` from outputs ``Y`` ``(N, L, d)``: the arithmetic of
    :func:`~mamba_dynamics.features.model.head` (the same numbers bit for bit, tested) with the pre-activations
    ``(N L, m)`` in one product into ``work``'s array when given.  The reference's two fresh ``(N, L, m)`` arrays
    (3.8 MB each at the defaults) are mapped anew at every call, and their page faults made an evaluation of 1000
    sequences take about 4 ms instead of 0.7 (docs/performance_history.md)."""
    N, L, d = Y.shape
    Z = np.matmul(Y.reshape(N * L, d), V.T, out=getter(work)("Z", (N * L, V.shape[0])))
    np.maximum(Z, 0.0, out=Z)
    return (Z @ a).reshape(N, L).sum(axis=1) / L


def head_reference(Y: np.ndarray, V: np.ndarray, a: np.ndarray, y: np.ndarray) -> tuple:
    """The Eq. 6 head, its hinge loss and backward (F7), neuron by neuron in NumPy: ``(loss, F (N,), dV (m, d),
    Gy = dLoss/dY (N, L, d))`` from the mixer outputs ``Y`` ``(N, L, d)``."""
    L = Y.shape[1]
    dV = np.zeros_like(V)
    Gy = np.zeros_like(Y)
    pre = np.einsum("nld,md->nlm", Y, V)
    F = np.einsum("nlm,m->n", np.maximum(pre, 0.0), a) / L
    g = hinge_slope(F, y)
    for i in range(V.shape[0]):
        r = (pre[:, :, i] > 0) * a[i] * g[:, None] / L  # (N, L)
        dV[i] = np.einsum("nl,nld->d", r, Y)
        Gy += r[:, :, None] * V[i][None, None, :]
    return hinge_loss(F, y), F, dV, Gy



def head_chunks(X: np.ndarray, V: np.ndarray, budget: int = CHUNK_BYTES) -> list:
    """The training step's chunks of sequences (:func:`~mamba_dynamics.core.stack.sequence_chunks`), sized by the
    widest per-token array the step keeps: the head's pre-activations ``(N, L, m)`` (``m`` = 40 neurons against
    ``d`` = 10 at the defaults, 3.8 MB for 1000 sequences) or the tokens ``(N, L, d)``, about ``budget`` bytes
    each.  The stacks keep the core's budget (Table 3: 10 chunks of 100, whose arrays stay in the 1 MB L2 through
    the head's three products and the blocks); the one-layer models pass :data:`ONE_LAYER_CHUNK_BYTES` (5 chunks of
    200 at the defaults).  ``X`` ``(N, L, d)``, ``V`` ``(m, d)``."""
    N, L, d = X.shape
    return sequence_chunks(N, L, max(d, V.shape[0]), budget)


#: the one-layer models' chunk budget (:func:`head_chunks`): 5 chunks of 200 sequences at the defaults.  Each
#: chunk pays a fixed 40-60 us (about twenty NumPy and Numba calls), and one layer keeps few arrays per sequence,
#: so larger chunks than the stacks' win: measured side by side on the Eq. 5 SSM and the LT-MLP at the defaults
#: (OpenBLAS's detected kernels), 5 chunks took 0.92-0.97 of the time of 10 (warm, and after a 64 MB read); 1, 20
#: or 40 chunks were slower, 8 about as 5 (docs/performance_history.md, "Chunks of the one-layer steps")
ONE_LAYER_CHUNK_BYTES = 768 * 1024

#: bytes of a block of the one-call steps (:func:`pass_block`): half of a 1 MB L2 cache.  Each block pays a fixed
#: cost of about 1.8 us (its kernels' calls, views and small scratch arrays), so blocks of 16 sequences (118 kB at
#: the defaults) gave the Eq. 5-6 SSM step 5 % more time than blocks of 64 (measured side by side, AVX2 and AVX-512
#: code); 128 was as fast as 64, 256 sequences (2 MB) 40 % slower (docs/performance_history.md, "The feature
#: steps' passes around the products, and their cold start")
PASS_BYTES = 512 * 1024


def pass_block(T: int, D: int, P: int) -> int:
    """Sequences per block of the one-call steps (:func:`~mamba_dynamics.features.content.content_pass`,
    :func:`~mamba_dynamics.features.attention.attention_pass`; a speed choice only: any block gives the same bits),
    so that a block's arrays fill about :data:`PASS_BYTES`: per sequence of ``T`` tokens of width ``D`` with ``P``
    projections, the tokens, outputs and their gradients ``(T, D)``, the projections and their gradients ``(T,
    P)``, the scores and pair weights ``(T, T)`` (62 sequences at the defaults ``T = 12``, ``D = 10``, ``P =
    11``)."""
    return max(1, PASS_BYTES // (8 * T * (2 * T + 2 * P + 4 * D + 2)))


def f64(a: np.ndarray) -> np.ndarray:
    """``a`` as a C-contiguous float64 array (no copy when it is one)."""
    return np.ascontiguousarray(a, dtype=np.float64)


def transpose(a: np.ndarray) -> np.ndarray:
    """``a^T`` as a C-contiguous float64 array (the passes' weights, whose products read them by rows)."""
    return np.ascontiguousarray(np.asarray(a, dtype=np.float64).T)


__all__ = ("HEAD_GROUP", "ONE_LAYER_CHUNK_BYTES", "PASS_BYTES", "pass_block", "head_pass", "head", "head_outputs",
           "head_reference", "head_chunks", "copy_sequence", "move_sequence", "f64", "transpose")
