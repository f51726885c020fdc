"""Gated linear attention (GLA) as a sequence-to-sequence block: the vector-gate mixer a deep stack or the feature
model's Eq. 5 place repeats, with its adjoint (arXiv 2510.00399 App. E.6; the scalar gates' block is
:mod:`mamba_dynamics.core.mixer`).

Per sequence ``X`` ``(T, D)`` with projections ``b_t``, ``c_t`` ``(r,)`` and gate pre-activations ``t_t = W_a
x_t`` ``(r,)``, one decay per key coordinate ``lambda_ta = sigmoid(t_ta)^(1/tau)`` (gated retention's decay,
:class:`~mamba_dynamics.core.gates.VectorGate`) and no input coefficient:

(V1) scan          H_0 = 0,   H_t = H_{t-1} diag(lambda_t) + x_t b_t^T   ``(D, r)``,   y_t = H_t c_t
(V2) closed form   y_t = sum_{s<=t} (sum_a c_ta D_tsa b_sa) x_s,   D_tsa = prod_{j=s+1}^{t} lambda_ja

Its adjoint, given ``Gy_t = dLoss/dy_t``: the scalar mixer's (M3)-(M4) coordinate by coordinate, with input
coefficient 1 (``alpha = 0``) and the decay's log-slope ``beta_ta = (1 - sigmoid(t_ta)) / tau``:

(V3) Lambda_T = Gy_T c_T^T,  Lambda_t = Lambda_{t+1} diag(lambda_{t+1}) + Gy_t c_t^T     ``(D, r)``
     dLoss/dx_t (the value x_s of V2) = Lambda_t b_t,   dLoss/db_t = Lambda_t^T x_t,   dLoss/dc_t = H_t^T Gy_t
(V4) col_ta = b_ta (dLoss/db_t)_a = sum_{u>=t} K_tua,   row_ta = c_ta (dLoss/dc_t)_a = sum_{s<=t} K_sta
     (``K_sua = D_usa c_ua b_sa (Gy_u . x_s)``, the loss's weight on the pair through coordinate ``a``), so that
     dLoss/dt_ja = beta_ja sum_{u>=j} (row_ua - col_ua)

((V4) is ``d log lambda_ja = sum_{s<j<=u} K_sua = sum_{u>=j} row_ua - sum_{s>=j} col_sa``; derivation:
docs/derivations.md, "The gated-mixer family".)  With ``tau -> infinity`` every decay is 1: linear attention.

Two implementations with one contract:
- :func:`gla_mix_forward`, :func:`gla_mix_adjoint`: Numba (``@njit(cache=True)``, serial, fastmath off), the
  scans, O(T D r) per sequence, the decays and slopes from the scalar gates' vectorisable
  :func:`~mamba_dynamics.core.gates.gate_terms`; the adjoint re-runs the forward scan for ``dC`` (memory O(T (D
  + r)) at any length) and skips the sequences whose ``Gy`` is all zero (an inactive hinge);
- :func:`gla_mix_forward_reference`, :func:`gla_mix_adjoint_reference`: plain NumPy of (V2) with the ``(T, T,
  r)`` decay products built in log space and the derivative of ``D`` written out (O(T^3 r) for the gate).

Glossary: ``X`` ``(N, T, D)``; ``Z`` ``(N, T, 3r)`` = ``[b, c, t]`` packed (one product makes it); ``Bp``,
``Cp``, ``Tg`` ``(N, T, r)`` its three parts; ``KEEP`` ``(N, T, r)`` = ``lambda``; ``SLOPE`` ``(N, T, r)`` =
``beta``; ``Gy`` = ``dLoss/dY``; ``GX`` = ``dLoss/dX`` through the value path only; ``dZ`` like ``Z``.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from . import gates as gate_kinds
from .gates import VectorGate, gate_terms
from .mixer import skip_inactive
from .simd import dot


@njit(cache=True, error_model="numpy")
def _decays(Z, r, inv_tau, KEEP, SLOPE):  # pragma: no cover - compiled
    """The decays ``KEEP`` and their log-slopes ``SLOPE`` ``(N, T, r)`` from ``t = Z[:, :, 2r:]`` (gated
    retention's per coordinate, :func:`~mamba_dynamics.core.gates.gate_terms`): the pre-activations gathered
    into ``KEEP``, then one flat loop over contiguous arrays (it vectorises), each element read then written."""
    N, T, _ = Z.shape
    for n in range(N):
        for t in range(T):
            for a in range(r):
                KEEP[n, t, a] = Z[n, t, 2 * r + a]
    kf, sf = KEEP.reshape(N * T * r), SLOPE.reshape(N * T * r)
    for q in range(N * T * r):
        _, kf[q], _, sf[q] = gate_terms(3, kf[q], inv_tau, 1.0)


@njit(cache=True)
def gla_mix_forward(X, Z, r, inv_tau, first, Y, KEEP, SLOPE):  # pragma: no cover - compiled
    """(V1) for a batch.  ``X`` ``(N, T, D)``; ``Z`` ``(N, T, 3r)`` = ``[b, c, t]`` (all C-contiguous);
    ``inv_tau`` = ``1 / tau``; writes ``Y`` ``(N, T - first, D)`` (the rows from ``first`` on: a head that reads
    the last token needs ``first = T-1``) and ``KEEP``, ``SLOPE`` ``(N, T, r)``.  One ``(D, r)`` state, in
    cache; each row's update is elementwise (it vectorises) and ``y_ti = H_i . c_t`` a fixed-order
    :func:`~mamba_dynamics.core.simd.dot`."""
    N, T, D = X.shape
    P = Z.shape[2]
    H = np.empty((D, r))
    _decays(Z, r, inv_tau, KEEP, SLOPE)
    for n in range(N):
        H[:, :] = 0.0
        for t in range(T):
            k, zb = KEEP[n, t], Z[n, t]
            zc = (n * T + t) * P + r
            for i in range(D):
                xi = X[n, t, i]
                h = H[i]
                for a in range(r):
                    h[a] = k[a] * h[a] + xi * zb[a]
                if t >= first:
                    Y[n, t - first, i] = dot(H, i * r, Z, zc, r)


@njit(cache=True)
def gla_mix_adjoint(X, Z, r, Gy, KEEP, SLOPE, want_gx, GX, dZ):  # pragma: no cover - compiled
    """(V3)-(V4) for a batch: writes ``GX`` ``(N, T, D)`` (value path; unwritten unless ``want_gx``) and ``dZ``
    ``(N, T, 3r)`` = ``[dB, dC, dT]`` from ``Gy`` ``(N, T, D)`` (zero at rows not read out) and the forward's
    ``KEEP``, ``SLOPE`` (all C-contiguous).  A reverse scan (``Lambda``: ``dB``, ``GX``, ``col``), then the
    forward scan again (``dC``, ``row``), then (V4) as a suffix sum; sequences whose ``Gy`` is all zero are
    skipped (zeros written).  The state updates and the sums over tokens are elementwise; ``(Lambda_t b_t)_i``
    a fixed-order :func:`~mamba_dynamics.core.simd.dot`."""
    N, T, D = X.shape
    P = Z.shape[2]
    Lam = np.empty((D, r))
    H = np.empty((D, r))
    v = np.empty(r)
    acc = np.empty(r)
    col = np.empty((T, r))
    for n in range(N):
        if skip_inactive(Gy, n, want_gx, GX, dZ):
            continue
        Lam[:, :] = 0.0
        for t in range(T - 1, -1, -1):
            z = Z[n, t]
            zb = (n * T + t) * P
            carry = KEEP[n, t + 1] if t < T - 1 else KEEP[n, t]  # (unused at t = T-1: Lambda is zero there)
            v[:] = 0.0
            for i in range(D):
                g = Gy[n, t, i]
                xi = X[n, t, i]
                lam = Lam[i]
                for a in range(r):
                    u = carry[a] * lam[a] + g * z[r + a]
                    lam[a] = u
                    v[a] += u * xi
                if want_gx:
                    GX[n, t, i] = dot(Lam, i * r, Z, zb, r)
            for a in range(r):
                dZ[n, t, a] = v[a]
                col[t, a] = z[a] * v[a]
        H[:, :] = 0.0
        for t in range(T):
            k, z = KEEP[n, t], Z[n, t]
            v[:] = 0.0
            for i in range(D):
                xi = X[n, t, i]
                g = Gy[n, t, i]
                h = H[i]
                for a in range(r):
                    u = k[a] * h[a] + xi * z[a]
                    h[a] = u
                    v[a] += u * g
            for a in range(r):
                dZ[n, t, r + a] = v[a]
        acc[:] = 0.0  # sum_{u >= t} (row_ua - col_ua)
        for t in range(T - 1, -1, -1):
            for a in range(r):
                acc[a] += Z[n, t, r + a] * dZ[n, t, r + a] - col[t, a]
                dZ[n, t, 2 * r + a] = SLOPE[n, t, a] * acc[a]


def gla_log_decays_reference(Tg: np.ndarray, gate: VectorGate) -> np.ndarray:
    """``log D[n, t, s, a] = sum_{s<j<=t} log lambda_ja`` ``(N, T, T, r)`` from ``Tg`` ``(N, T, r)``, ``-inf`` for
    ``s > t`` (differences of cumulative sums of the log decays: nothing overflows)."""
    T = Tg.shape[1]
    cum = np.cumsum(gate_kinds.log_decay(Tg, gate.decay), axis=1)  # (N, T, r)
    logD = cum[:, :, None, :] - cum[:, None, :, :]
    return np.where(np.tril(np.ones((T, T), dtype=bool))[None, :, :, None], logD, -np.inf)


def gla_mix_forward_reference(X: np.ndarray, Bp: np.ndarray, Cp: np.ndarray, Tg: np.ndarray,
                              gate: VectorGate) -> np.ndarray:
    """(V2) in NumPy: ``Y`` ``(N, T, D)``; ``X`` ``(N, T, D)``, ``Bp``, ``Cp``, ``Tg`` ``(N, T, r)``."""
    Dg = np.exp(gla_log_decays_reference(Tg, gate))
    S = np.einsum("ntsa,nsa,nta->nts", Dg, Bp, Cp)  # the decayed scores
    return np.einsum("nts,nsd->ntd", S, X)


def gla_mix_adjoint_reference(X: np.ndarray, Bp: np.ndarray, Cp: np.ndarray, Tg: np.ndarray, Gy: np.ndarray,
                              gate: VectorGate) -> tuple:
    """The derivative of (V2) written out, in NumPy: ``(GX (N, T, D), dB, dC, dT (N, T, r))``, with ``dD_tsa /
    dt_ja = D_tsa beta_ja 1{s < j <= t}`` summed explicitly."""
    T = X.shape[1]
    Dg = np.exp(gla_log_decays_reference(Tg, gate))
    C = np.einsum("ntd,nsd->nts", Gy, X)  # C[n, t, s] = Gy_t . x_s
    GX = np.einsum("ntsa,nsa,nta,ntd->nsd", Dg, Bp, Cp, Gy)
    dB = np.einsum("ntsa,nta,nts->nsa", Dg, Cp, C)
    dC = np.einsum("ntsa,nsa,nts->nta", Dg, Bp, C)
    K = Dg * Bp[:, None, :, :] * Cp[:, :, None, :] * C[:, :, :, None]  # (N, t, s, r)
    idx = np.arange(T)
    between = ((idx[:, None, None] >= idx[None, None, :]) & (idx[None, :, None] < idx[None, None, :]))
    # between[t, s, j] = 1{s < j <= t}
    dT = gate_kinds.dlog_decay(Tg, gate.decay) * np.einsum("ntsa,tsj->nja", K, between.astype(float))
    return GX, dB, dC, dT


__all__ = ["gla_mix_forward", "gla_mix_adjoint", "gla_log_decays_reference", "gla_mix_forward_reference",
           "gla_mix_adjoint_reference"]
