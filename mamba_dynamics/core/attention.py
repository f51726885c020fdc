"""Causal softmax attention as a sequence map and its adjoint: the Transformer mixer the papers compare Mamba with.

On the same tokens and projections as the selective mixer (:mod:`mamba_dynamics.core.mixer`): per sequence ``X``
``(T, D)`` with projections ``b_s = W_B x_s`` and ``c_t = W_C x_t`` ``(r,)``, split into ``h`` heads of ``r/h``
coordinates each (head ``k`` reads coordinates ``k r/h .. (k+1) r/h - 1``),

(A1) scores    S^k_ts = (c^k_t . b^k_s) / tau            for s in W(t) = {s <= t, t - s < window} (all s <= t if
                                                         window = 0)
(A2) weights   A^k_ts = exp(S^k_ts - LSE^k_t),  LSE^k_t = m + log sum_{s in W(t)} exp(S^k_ts - m),  m = max_s S^k_ts
(A3) outputs   y_t = (1/h) sum_k sum_{s in W(t)} A^k_ts x_s

The value is the token itself, as in the selective mixer (``y_t = sum_s G_ts (b_s . c_t) x_s``): the softmax
replaces the gate products times the scores by a normalised weight.  ``tau`` is the temperature (the package's
default 1: the scores are the models' bilinear forms unscaled; ``1/sqrt(r)`` is the usual Transformer choice and a
flag away).  Heads share the value and are averaged (there is no output projection in these models).

Adjoint, given ``Gy_t = dLoss/dy_t`` (derived in docs/derivations.md, "Softmax attention"), with ``C_ts = Gy_t .
x_s`` (the loss's weight on a pair's value):

(A4) dLoss/dx_s (value path) = (1/h) sum_k sum_{t: s in W(t)} A^k_ts Gy_t
(A5) dS^k_ts = A^k_ts (C_ts - delta^k_t) / h,   delta^k_t = sum_s A^k_ts C_ts      (the softmax's Jacobian)
(A6) dLoss/dc^k_t = sum_s dS^k_ts b^k_s / tau,   dLoss/db^k_s = sum_t dS^k_ts c^k_t / tau

Numerics: every weight is ``exp`` of a non-positive number (the max-shift), so logits of any size (1e4 and more)
neither overflow nor lose the row's normalisation; the log-sum-exp ``LSE`` ``(N, h, T)`` is all the backward keeps,
and it recomputes the weights row by row, so memory is ``O(T)`` per sequence at any length (``T = 10^4`` costs
``O(T w)``, ``w`` the window or ``T``; a head that reads the last token only costs ``O(T)``).

Two implementations with one contract, the fast one in two forms (:func:`softmax_mix` and
:func:`softmax_mix_adjoint` pick by length, :data:`PAIRS_MAX_T`):
- :func:`softmax_forward`, :func:`softmax_adjoint`: Numba (``@njit(cache=True)``, serial, fastmath off), row by
  row, the rows from ``first`` on (a head that reads the last token needs ``first = T - 1``); sequences whose
  ``Gy`` is all zero are skipped (an inactive hinge); the exponentials by
  :func:`~mamba_dynamics.core.simd.exp_nonpos` (within 1 ulp of libm, in loops that vectorise);
- :func:`softmax_forward_pairs`, :func:`softmax_adjoint_pairs`: the same for short sequences, every score of a
  sequence in one small fixed-order product (:func:`~mamba_dynamics.core.simd.gemm`) and the weights ``(N, h,
  T - first, T)`` kept for the adjoint, as the selective mixer's pairs form does;
- :func:`softmax_forward_reference`, :func:`softmax_adjoint_reference`: plain NumPy with the ``(N, h, T, T)`` weight
  array (masked entries exactly 0) and the softmax's Jacobian ``diag(a) - a a^T`` written out per row: the literal
  formulas, for checking.

Glossary: ``X`` ``(N, T, D)``; ``Bp`` ``(N, T, r)`` = ``b_s``; ``Cp`` ``(N, T - first, r)`` = ``c_t`` of the rows
read out; ``Y`` ``(N, T - first, D)``; ``LSE`` ``(N, h, T - first)``; ``GX`` ``(N, T, D)`` the value path's
gradient (the caller adds the paths through ``b`` and ``c``); ``dB`` ``(N, T, r)``, ``dC`` ``(N, T - first, r)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numba import njit

from .mixer import all_zero
from .simd import exp_nonpos, gemm


@dataclass(frozen=True)
class Attention:
    """The softmax mixer's settings: ``temperature`` tau (> 0), ``window`` (0: every earlier token; k: the last k,
    the token itself included), ``heads`` h (must divide the projection width r)."""

    temperature: float = 1.0
    window: int = 0
    heads: int = 1

    def __post_init__(self):
        if not (isinstance(self.temperature, (int, float)) and math.isfinite(self.temperature)
                and self.temperature > 0):
            raise ValueError(f"temperature must be positive and finite, got {self.temperature!r}")
        if not isinstance(self.window, int) or self.window < 0:
            raise ValueError(f"window must be a non-negative integer, got {self.window!r}")
        if not isinstance(self.heads, int) or self.heads < 1:
            raise ValueError(f"heads must be a positive integer, got {self.heads!r}")

    def check_width(self, r: int) -> None:
        """Raise unless the heads split ``r`` projection coordinates evenly."""
        if r % self.heads:
            raise ValueError(f"{self.heads} heads do not divide the projection width {r}")


@njit(cache=True, inline="always")
def _first_key(t, window):  # pragma: no cover - compiled
    """The first token ``s`` that token ``t`` attends to."""
    return t - window + 1 if window > 0 and t - window + 1 > 0 else 0


@njit(cache=True, error_model="numpy")
def softmax_forward(X, Bp, Cp, inv_tau, window, heads, first, Y, LSE):  # pragma: no cover - compiled
    """(A1)-(A3) for a batch, row by row: writes ``Y`` ``(N, T - first, D)`` and ``LSE`` ``(N, h, T - first)``.
    ``inv_tau`` = 1 / temperature.  Scratch ``O(T)``."""
    N, T, D = X.shape
    r = Bp.shape[2]
    rh = r // heads
    S = np.empty(T)
    for n in range(N):
        for t in range(first, T):
            i = t - first
            lo = _first_key(t, window)
            for d in range(D):
                Y[n, i, d] = 0.0
            for k in range(heads):
                c0 = k * rh
                m = -np.inf
                for s in range(lo, t + 1):
                    acc = 0.0
                    for j in range(c0, c0 + rh):
                        acc += Cp[n, i, j] * Bp[n, s, j]
                    acc *= inv_tau
                    S[s] = acc
                    if acc > m:
                        m = acc
                for s in range(lo, t + 1):  # no call in the loop: it vectorises
                    S[s] = exp_nonpos(S[s] - m)
                z = 0.0
                for s in range(lo, t + 1):
                    z += S[s]
                LSE[n, k, i] = m + np.log(z)
                scale = 1.0 / (z * heads)
                for s in range(lo, t + 1):
                    a = S[s] * scale
                    for d in range(D):
                        Y[n, i, d] += a * X[n, s, d]


@njit(cache=True, inline="always")
def _cleared(n, Gy, want_gx, GX, want_db, dB, dC):  # pragma: no cover - compiled
    """Zero sequence ``n``'s gradients (those wanted); whether its ``Gy`` is all zero, so that nothing is left to
    add (an inactive hinge: its rows are never visited)."""
    if want_gx:
        GX[n, :, :] = 0.0
    if want_db:
        dB[n, :, :] = 0.0
    dC[n, :, :] = 0.0
    return all_zero(Gy, n)


@njit(cache=True, error_model="numpy")
def softmax_adjoint(X, Bp, Cp, inv_tau, window, heads, first, Gy, LSE, want_gx, GX, want_db, dB,
                    dC):  # pragma: no cover - compiled
    """(A4)-(A6) for a batch, row by row, the weights recomputed from ``LSE``: writes ``GX`` ``(N, T, D)`` (with
    ``want_gx``), ``dB`` ``(N, T, r)`` (with ``want_db``) and ``dC`` ``(N, T - first, r)`` from ``Gy`` ``(N, T -
    first, D)``.  Sequences whose ``Gy`` is all zero get zero gradients without their rows being visited."""
    N, T, D = X.shape
    r = Bp.shape[2]
    rh = r // heads
    C = np.empty(T)
    A = np.empty(T)
    for n in range(N):
        if _cleared(n, Gy, want_gx, GX, want_db, dB, dC):
            continue
        for t in range(first, T):
            i = t - first
            lo = _first_key(t, window)
            for s in range(lo, t + 1):  # C_ts = Gy_t . x_s
                acc = 0.0
                for d in range(D):
                    acc += Gy[n, i, d] * X[n, s, d]
                C[s] = acc
            for k in range(heads):
                c0 = k * rh
                lse = LSE[n, k, i]
                for s in range(lo, t + 1):
                    acc = 0.0
                    for j in range(c0, c0 + rh):
                        acc += Cp[n, i, j] * Bp[n, s, j]
                    A[s] = acc * inv_tau - lse  # <= 0: the forward's score, less the row's log-sum-exp
                for s in range(lo, t + 1):
                    A[s] = exp_nonpos(A[s])
                delta = 0.0
                for s in range(lo, t + 1):
                    delta += A[s] * C[s]
                for s in range(lo, t + 1):
                    a = A[s] / heads
                    if want_gx:
                        for d in range(D):
                            GX[n, s, d] += a * Gy[n, i, d]
                    g = a * (C[s] - delta) * inv_tau  # dS / tau
                    for j in range(c0, c0 + rh):
                        dC[n, i, j] += g * Bp[n, s, j]
                        if want_db:
                            dB[n, s, j] += g * Cp[n, i, j]


@njit(cache=True, error_model="numpy")
def softmax_forward_pairs(X, Bp, Cp, inv_tau, window, heads, first, Y, A):  # pragma: no cover - compiled
    """(A1)-(A3) for short sequences, per sequence and head in small fixed-order products
    (:func:`~mamba_dynamics.core.simd.gemm`): every score ``S = C^k B^k^T`` ``(T - first, T)`` at once, the masked
    row softmax in place (entries outside ``W(t)`` exactly 0), ``Y = (1/h) sum_k A^k X``.  Writes ``Y`` ``(N, T -
    first, D)`` and the weights ``A`` ``(N, h, T - first, T)``, which the adjoint reads."""
    N, T, D = X.shape
    r = Bp.shape[2]
    rh = r // heads
    R = T - first
    BT = np.empty((rh, T))  # head k's b_s as columns: the product's right factor, row-major
    sx0, sx1 = X.strides[0] // 8, X.strides[1] // 8
    sc0, sc1 = Cp.strides[0] // 8, Cp.strides[1] // 8
    sy0, sy1 = Y.strides[0] // 8, Y.strides[1] // 8
    for n in range(N):
        for k in range(heads):
            c0 = k * rh
            for j in range(rh):
                for s in range(T):
                    BT[j, s] = Bp[n, s, c0 + j]
            off = (n * heads + k) * R * T
            gemm(Cp, n * sc0 + c0, sc1, 1, BT, 0, T, A, off, T, R, rh, T, False)
            for i in range(R):
                t = i + first
                lo = _first_key(t, window)
                m = -np.inf
                for s in range(lo, t + 1):
                    v = A[n, k, i, s] * inv_tau
                    A[n, k, i, s] = v
                    if v > m:
                        m = v
                for s in range(lo, t + 1):
                    A[n, k, i, s] = exp_nonpos(A[n, k, i, s] - m)
                z = 0.0
                for s in range(lo, t + 1):
                    z += A[n, k, i, s]
                inv = 1.0 / z
                for s in range(lo, t + 1):
                    A[n, k, i, s] *= inv
                for s in range(lo):
                    A[n, k, i, s] = 0.0
                for s in range(t + 1, T):
                    A[n, k, i, s] = 0.0
            gemm(A, off, T, 1, X, n * sx0, sx1, Y, n * sy0, sy1, R, T, D, k > 0)
        if heads > 1:
            for i in range(R):
                for d in range(D):
                    Y[n, i, d] /= heads


@njit(cache=True, error_model="numpy")
def softmax_adjoint_pairs(X, Bp, Cp, inv_tau, heads, first, Gy, A, want_gx, GX, want_db, dB,
                          dC):  # pragma: no cover - compiled
    """(A4)-(A6) for short sequences from the forward's weights ``A`` (:func:`softmax_forward_pairs`), per sequence
    and head in small fixed-order products: ``C = Gy X^T``, ``dS`` by (A5) in place of a scratch row block,
    ``GX = (1/h) sum_k A^k^T Gy``, ``dC^k = dS^k B^k / tau``, ``dB^k = dS^k^T C^k / tau``.  Shapes and the skipped
    sequences as :func:`softmax_adjoint`."""
    N, T, D = X.shape
    r = Bp.shape[2]
    rh = r // heads
    R = T - first
    XT = np.empty((D, T))
    Cm = np.empty((R, T))
    dS = np.empty((R, T))
    sg0, sg1 = Gy.strides[0] // 8, Gy.strides[1] // 8
    sb0, sb1 = Bp.strides[0] // 8, Bp.strides[1] // 8
    sc0, sc1 = Cp.strides[0] // 8, Cp.strides[1] // 8
    sd0, sd1 = dC.strides[0] // 8, dC.strides[1] // 8
    for n in range(N):
        if _cleared(n, Gy, want_gx, GX, want_db, dB, dC):
            continue
        for d in range(D):
            for s in range(T):
                XT[d, s] = X[n, s, d]
        gemm(Gy, n * sg0, sg1, 1, XT, 0, T, Cm, 0, T, R, D, T, False)  # C_ts = Gy_t . x_s
        for k in range(heads):
            c0 = k * rh
            off = (n * heads + k) * R * T
            for i in range(R):
                delta = 0.0
                for s in range(T):
                    delta += A[n, k, i, s] * Cm[i, s]
                for s in range(T):
                    dS[i, s] = A[n, k, i, s] * (Cm[i, s] - delta) * (inv_tau / heads)
            if want_gx:  # GX += A^k^T Gy (the 1/h below)
                gemm(A, off, 1, T, Gy, n * sg0, sg1, GX, n * (GX.strides[0] // 8), GX.strides[1] // 8, T, R, D, True)
            gemm(dS, 0, T, 1, Bp, n * sb0 + c0, sb1, dC, n * sd0 + c0, sd1, R, T, rh, False)
            if want_db:
                gemm(dS, 0, 1, T, Cp, n * sc0 + c0, sc1, dB, n * dB.strides[0] // 8 + c0, dB.strides[1] // 8, T,
                     R, rh, False)
        if want_gx and heads > 1:
            for s in range(T):
                for d in range(D):
                    GX[n, s, d] /= heads


#: sequences of at most this many tokens take the pairs form (:func:`softmax_forward_pairs`: every score of a
#: sequence in one small product, twice the causal half's arithmetic but in vector tiles); longer ones the row
#: form (O(T) memory)
PAIRS_MAX_T = 64


def softmax_mix(X: np.ndarray, Bp: np.ndarray, Cp: np.ndarray, att: Attention, first: int, Y: np.ndarray,
                get=None) -> np.ndarray:
    """(A1)-(A3) into ``Y`` ``(N, T - first, D)`` in the form the length picks (:data:`PAIRS_MAX_T`), with scratch
    from ``get(name, shape)`` (a :func:`~mamba_dynamics.core.workspace.getter`; fresh arrays without one).  Returns
    what the adjoint needs (:func:`softmax_mix_adjoint`): the weights ``(N, h, T - first, T)`` (pairs form) or the
    rows' log-sum-exp ``(N, h, T - first)`` (row form)."""
    N, T, _ = X.shape
    att.check_width(Bp.shape[2])
    get = get or (lambda name, shape: np.empty(shape))
    if T <= PAIRS_MAX_T:
        A = get("softmax_A", (N, att.heads, T - first, T))
        softmax_forward_pairs(X, Bp, Cp, 1.0 / att.temperature, att.window, att.heads, first, Y, A)
        return A
    LSE = get("softmax_LSE", (N, att.heads, T - first))
    softmax_forward(X, Bp, Cp, 1.0 / att.temperature, att.window, att.heads, first, Y, LSE)
    return LSE


def softmax_mix_adjoint(X: np.ndarray, Bp: np.ndarray, Cp: np.ndarray, att: Attention, first: int, Gy: np.ndarray,
                        saved: np.ndarray, GX: np.ndarray | None, dB: np.ndarray | None, dC: np.ndarray) -> None:
    """(A4)-(A6) from :func:`softmax_mix`'s ``saved`` (its form follows from its shape): writes ``dC`` ``(N, T -
    first, r)`` and, where given, ``GX`` ``(N, T, D)`` (the value path) and ``dB`` ``(N, T, r)``."""
    none = np.empty((0, 0, 0))
    args = (GX is not None, none if GX is None else GX, dB is not None, none if dB is None else dB, dC)
    Gy = np.ascontiguousarray(Gy, dtype=np.float64)
    if saved.ndim == 4:
        softmax_adjoint_pairs(X, Bp, Cp, 1.0 / att.temperature, att.heads, first, Gy, saved, *args)
    else:
        softmax_adjoint(X, Bp, Cp, 1.0 / att.temperature, att.window, att.heads, first, Gy, saved, *args)


def softmax_weights_reference(Bp: np.ndarray, Cp: np.ndarray, att: Attention, first: int = 0) -> np.ndarray:
    """``A[n, k, t - first, s]`` ``(N, h, T - first, T)`` of (A1)-(A2) in NumPy: the scores of every pair, the
    masked ones (``s > t`` or outside the window) exactly 0 after a max-shifted softmax."""
    N, T, r = Bp.shape
    att.check_width(r)
    h, rh = att.heads, r // att.heads
    Bh = Bp.reshape(N, T, h, rh)
    Ch = Cp.reshape(N, Cp.shape[1], h, rh)
    S = np.einsum("ntkj,nskj->nkts", Ch, Bh) / att.temperature
    t = np.arange(first, T)[:, None]
    s = np.arange(T)[None, :]
    keep = (s <= t) & ((att.window == 0) | (t - s < att.window))
    S = np.where(keep[None, None], S, -np.inf)
    S = S - S.max(axis=3, keepdims=True)
    E = np.exp(S)
    return E / E.sum(axis=3, keepdims=True)


def softmax_forward_reference(X: np.ndarray, Bp: np.ndarray, Cp: np.ndarray, att: Attention,
                              first: int = 0) -> np.ndarray:
    """(A3) in NumPy: ``Y`` ``(N, T - first, D)``."""
    A = softmax_weights_reference(Bp, Cp, att, first)
    return np.einsum("nkts,nsd->ntd", A, X) / att.heads


def softmax_adjoint_reference(X: np.ndarray, Bp: np.ndarray, Cp: np.ndarray, att: Attention, Gy: np.ndarray,
                              first: int = 0) -> tuple:
    """The derivative of (A1)-(A3) written out in NumPy: ``(GX, dB, dC)`` as :func:`softmax_adjoint`, each row's
    ``dLoss/dS = J dLoss/dA`` with the softmax's Jacobian ``J = diag(a) - a a^T`` built explicitly."""
    N, T, r = Bp.shape
    h, rh = att.heads, r // att.heads
    A = softmax_weights_reference(Bp, Cp, att, first)  # (N, h, R, T)
    dA = np.einsum("ntd,nsd->nts", Gy, X)[:, None] / h  # (N, 1, R, T)
    J = np.einsum("nkts,su->nktsu", A, np.eye(T)) - np.einsum("nkts,nktu->nktsu", A, A)
    dS = np.einsum("nktsu,nktu->nkts", J, np.broadcast_to(dA, A.shape)) / att.temperature
    GX = np.einsum("nkts,ntd->nsd", A, Gy) / h
    Bh = Bp.reshape(N, T, h, rh)
    Ch = Cp.reshape(N, Cp.shape[1], h, rh)
    dC = np.einsum("nkts,nskj->ntkj", dS, Bh).reshape(Cp.shape)
    dB = np.einsum("nkts,ntkj->nskj", dS, Ch).reshape(Bp.shape)
    return GX, dB, dC


def last_row_weights(X: np.ndarray, W_B: np.ndarray, W_C: np.ndarray, att: Attention) -> np.ndarray:
    """The last token's attention weights ``(N, T)`` on every token of ``X`` ``(N, T, D)`` (the query's, as a head
    that reads the last token sees them), averaged over the heads: what the softmax mixer gives each example,
    the counterpart of a gate ``G_i`` (0 outside the window).  ``W_B``, ``W_C`` ``(r, D)``; NumPy."""
    Bp = X @ W_B.T
    Cq = X[:, -1:, :] @ W_C.T
    return softmax_weights_reference(Bp, Cq, att, first=X.shape[1] - 1)[:, :, 0, :].mean(axis=1)


def softmax_outputs_symbolic(W_B, W_C, X: list, att: Attention) -> list:
    """(A1)-(A3) in sympy from the raw definition (``exp`` and a sum, no max-shift): ``X`` a list of token columns
    ``(D, 1)``, ``W_B``, ``W_C`` ``(r, D)`` sympy matrices; every output ``y_t``."""
    import sympy as sp

    r = W_B.shape[0]
    rh = r // att.heads
    out = []
    for t, x_t in enumerate(X):
        keys = [s for s in range(t + 1) if att.window == 0 or t - s < att.window]
        c = W_C * x_t
        y = sp.zeros(x_t.shape[0], 1)
        for k in range(att.heads):
            rows = slice(k * rh, (k + 1) * rh)
            e = [sp.exp((c[rows, :].T * (W_B * X[s])[rows, :])[0] / sp.Float(att.temperature)) for s in keys]
            z = sum(e)
            for s, es in zip(keys, e):
                y += (es / z) * X[s] / att.heads
        out.append(y)
    return out


def adjoint_checks(T: int = 3, window: int = 0) -> dict:
    """The hand-derived adjoint (A4)-(A6) minus sympy's derivative of the raw definition, simplified, for a
    sequence of ``T`` scalar tokens (``D = r = 1``, one head) with symbolic values ``x_t``, projections ``b_t``,
    ``c_t``, temperature ``tau`` and output gradients ``g_t`` (``Loss = sum_t g_t y_t``).  Every entry is 0 when the
    formulas hold: ``dL/dx_s|value = sum_t A_ts g_t``, ``dL/dc_t = sum_s dS_ts b_s / tau``, ``dL/db_s = sum_t dS_ts
    c_t / tau`` with ``dS_ts = A_ts (C_ts - sum_u A_tu C_tu)``, ``C_ts = g_t x_s``."""
    import sympy as sp

    x, b, c, g = (sp.symbols(f"{n}0:{T}", real=True) for n in ("x", "b", "c", "g"))
    tau = sp.Symbol("tau", positive=True)
    keys = [[s for s in range(t + 1) if window == 0 or t - s < window] for t in range(T)]
    A = {}
    for t in range(T):
        z = sum(sp.exp(c[t] * b[s] / tau) for s in keys[t])
        for s in keys[t]:
            A[t, s] = sp.exp(c[t] * b[s] / tau) / z
    loss = sum(g[t] * sum(A[t, s] * x[s] for s in keys[t]) for t in range(T))
    C = {(t, s): g[t] * x[s] for t in range(T) for s in keys[t]}
    dS = {(t, s): A[t, s] * (C[t, s] - sum(A[t, u] * C[t, u] for u in keys[t])) for t in range(T) for s in keys[t]}
    out = {}
    for s in range(T):
        rows = [t for t in range(T) if s in keys[t]]
        out[f"dx_{s}"] = sp.simplify(sp.diff(loss, x[s]) - sum(A[t, s] * g[t] for t in rows))
        out[f"db_{s}"] = sp.simplify(sp.diff(loss, b[s]) - sum(dS[t, s] * c[t] for t in rows) / tau)
        out[f"dc_{s}"] = sp.simplify(sp.diff(loss, c[s]) - sum(dS[s, u] * b[u] for u in keys[s]) / tau)
    return out


__all__ = ("Attention", "softmax_mix", "softmax_mix_adjoint", "PAIRS_MAX_T", "softmax_forward", "softmax_adjoint",
           "softmax_forward_pairs", "softmax_adjoint_pairs", "softmax_weights_reference", "softmax_forward_reference",
           "softmax_adjoint_reference", "last_row_weights", "softmax_outputs_symbolic", "adjoint_checks")
