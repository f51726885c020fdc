"""The selective mixer as a sequence-to-sequence map, with its adjoint: the block a deep stack repeats.

Both seed papers' one-layer models are this map read at one place (arXiv 2510.00399 eq. 1 reads the label channel
of the query's output; arXiv 2602.12499 Eq. 5 feeds every output to an MLP).  Per sequence ``X`` ``(T, D)`` with
projections ``b_t`` and ``c_t`` ``(r,)`` and gate pre-activations ``t_t`` (``A = -I``, ``Delta = softplus(t)``):

(M1) scan          H_0 = 0,   H_t = a_t H_{t-1} + sigma_t x_t b_t^T   ``(D, r)``,   y_t = H_t c_t
(M2) closed form   y_t = sum_{s<=t} G_{ts} (b_s . c_t) x_s,   G_{ts} = sigma_s prod_{j=s+1}^{t} a_j
                   with sigma_t = sigmoid(t_t) and a_t = 1 - sigma_t; linear attention: sigma = a = 1 (G == 1)

Its adjoint, given ``Gy_t = dLoss/dy_t`` (derivation: docs/derivations.md, "Deep stacks"):

(M3) Lambda_T = Gy_T c_T^T,  Lambda_t = a_{t+1} Lambda_{t+1} + Gy_t c_t^T       ``(D, r)``, a reverse scan
     dLoss/dx_t (the value x_s of M2)  = sigma_t Lambda_t b_t
     dLoss/db_t = sigma_t Lambda_t^T x_t,        dLoss/dc_t = H_t^T Gy_t
(M4) col_t = sigma_t x_t^T Lambda_t b_t = sum_{u>=t} K_{tu},   row_t = Gy_t . y_t = sum_{s<=t} K_{st}
     (``K_{su} = G_{us} (b_s . c_u) (Gy_u . x_s)``, the loss's weight on the pair), so that
     dLoss/dt_t = (1 - sigma_t) col_t - sigma_t sum_{u>=t} (row_u - col_u)

Every gate of App. E.6's scalar family (:mod:`mamba_dynamics.core.gates`: ``sigma_t`` the input coefficient
``a(t_t)``, ``a_t`` the decay ``lambda(t_t)``) takes the same forms; its (M4) is ``dLoss/dt_t = alpha_t col_t +
beta_t sum_{u>=t} (row_u - col_u)`` with the log-slopes ``alpha``, ``beta`` (Mamba: ``1 - sigma_t``, ``-sigma_t``).

(M4) is the regrouping ``d log a_j = sum_{s<j<=u} K_{su} = sum_{u>=j} row_u - sum_{s>=j} col_s``: it needs neither
the states ``H_{t-1}`` of the reverse scan nor a division by ``a_t``; ``dLoss/dc`` re-runs the forward scan
(M1), so nothing of size ``T D r`` is stored and memory stays ``O(T D)`` at any length.

Three implementations with one contract:
- :func:`mix_forward`, :func:`mix_adjoint`: Numba (``@njit(cache=True)``, serial, fastmath off), the scans,
  O(T D r) per sequence, the gates from one ``exp`` per token (no cancellation for any ``t``);
- :func:`mix_forward_pairs`, :func:`mix_adjoint_pairs`: the pairwise form (M2), O(T^2 (D + r)), each one Numba
  call (:func:`pairs_forward_kernel`, :func:`pairs_adjoint_kernel`) of small fixed-order products
  (:func:`~mamba_dynamics.core.simd.bmm`, no BLAS) around passes that weigh the scores by the gate products,
  remade row by row as running products and never stored (:func:`_apply_gates`); cheaper for short sequences
  (:func:`quadratic_form` chooses); the scores may be any ``c_t . b_s`` (the stack also passes ``c = A = U Q``,
  ``b = u``);
- :func:`mix_forward_reference`, :func:`mix_adjoint_reference`: plain NumPy of the closed form (M2) with the
  ``(T, T)`` gate matrix built in log space and the derivative of ``G`` written out, O(T^2) (and O(T^3) for the
  gate gradient): the literal formulas, for checking.

Glossary: ``X`` ``(N, T, D)`` tokens (rows ``x_t``); ``Bp``, ``Cp`` ``(N, T, r)`` = ``b_t``, ``c_t``; ``Tg``
``(N, T)`` gate pre-activations ``t_t``; ``Z`` ``(N, T, 2r+1)`` = ``[b, c, t]`` packed in one array (the Numba
kernels' input: one product makes it, and contiguous rows keep the loops fast); ``SIG``, ``KEEP`` ``(N, T)``
= ``sigma_t``, ``a_t``; ``Y`` ``(N, T, D)`` outputs ``y_t``; ``Gy`` = ``dLoss/dY``; ``GX`` = ``dLoss/dX`` through
the value path only (the caller adds the paths through ``b``, ``c`` and ``t``, which depend on how they are made
from ``X``); ``dB``, ``dC`` ``(N, T, r)``, ``dT`` ``(N, T)``, packed as ``dZ`` like ``Z``.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .gates import as_gate, gate_terms
from . import gates as gate_kinds
from .gating import sigmoid_pair
from .simd import SMALL_BYTES, bmm, matmul


@njit(cache=True, inline="always")
def _coef_decay(g, t):  # pragma: no cover - compiled
    """The gate ``g = (code, 1/tau, gamma)``'s input coefficient and decay at ``t``: Mamba's ``(sigmoid(t), 1 -
    sigmoid(t))`` from one ``exp(-|t|)`` and one division (both without cancellation), the others'
    :func:`~mamba_dynamics.core.gates.gate_terms`; both 1 without a gate."""
    if g[0] == 1:
        return sigmoid_pair(t)
    a, lam, _, _ = gate_terms(g[0], t, g[1], g[2])
    return a, lam


@njit(cache=True, inline="always")
def _slopes(g, t, sig, keep):  # pragma: no cover - compiled
    """``(alpha, beta)`` = the log-slopes of the gate ``g``'s input coefficient and decay at ``t`` (Mamba's from its
    ``sig``, ``keep``: ``(1 - sigma, -sigma)``)."""
    if g[0] == 1:
        return keep, -sig
    _, _, al, be = gate_terms(g[0], t, g[1], g[2])
    return al, be


@njit(cache=True)
def _gates_row(Z, n, r, g, sig, keep):  # pragma: no cover - compiled
    """The input coefficients ``sig`` and decays ``keep`` ``(T,)`` of sequence ``n`` (:func:`_coef_decay`) from its
    pre-activations ``t = Z[n, :, 2r]``; both 1 without a gate."""
    for j in range(Z.shape[1]):
        if g[0] == 0:
            sig[j] = 1.0
            keep[j] = 1.0
            continue
        sig[j], keep[j] = _coef_decay(g, Z[n, j, 2 * r])


@njit(cache=True)
def all_zero(A, n):  # pragma: no cover - compiled
    """Whether ``A[n]`` is all zeros (a sequence the loss does not reach: an inactive hinge)."""
    for t in range(A.shape[1]):
        for i in range(A.shape[2]):
            if A[n, t, i] != 0.0:
                return False
    return True


@njit(cache=True)
def skip_inactive(Gy, n, want_gx, GX, dZ):  # pragma: no cover - compiled
    """Whether sequence ``n`` is one the loss does not reach (its ``Gy`` all zero, :func:`all_zero`); if so its
    adjoint's outputs ``dZ[n]`` (and ``GX[n]`` with ``want_gx``) are set to zero, and a scan's adjoint skips it."""
    if not all_zero(Gy, n):
        return False
    if want_gx:
        GX[n, :, :] = 0.0
    dZ[n, :, :] = 0.0
    return True


def quadratic_form(T: int, D: int, r: int) -> bool:
    """Whether the kernels take the pairwise form (M2) rather than the scan (M1).  Per token, forward and
    backward, the pair form costs about ``T (3 D + 3 r)`` multiply-adds in batched small products and keeps two
    ``(T, T)`` arrays per sequence; the scan ``7 D r`` in scalar loops, a few times slower per operation.  So
    short sequences (the outlier prompts, ``T = 21``) go pairwise and long ones (``T`` up to ``10^4``) scan in
    ``O(T)``; the threshold ``T (D + r) <= 8 D r`` (``T <= 4 D`` at ``r = D``) is where the two measured about
    even (benchmarks/stack_bench.py)."""
    return T * (D + r) <= 8 * D * r


@njit(cache=True)
def mix_forward(X, Z, r, g, first, Y, SIG, KEEP):  # pragma: no cover - compiled
    """(M1) for a batch, with the gate ``g`` = ``(code, 1/tau, gamma)`` (:func:`gate_args`: Mamba's, another of
    :mod:`~mamba_dynamics.core.gates`, or none).  ``X`` ``(N, T, D)``; ``Z`` ``(N, T, 2r+1)`` the packed
    projections ``[b, c, t]``
    (``(N, T, 2r)`` without a gate); writes ``Y`` ``(N, T, D)`` and ``SIG``, ``KEEP`` ``(N, T)`` (both 1 without
    a gate).  One ``(D, r)`` state, in cache.  Outputs before token ``first`` are not read out (left 0): a head
    that reads the last token only needs ``first = T-1``."""
    N, T, D = X.shape
    H = np.empty((D, r))
    for n in range(N):
        _gates_row(Z, n, r, g, SIG[n], KEEP[n])
        H[:, :] = 0.0
        for t in range(T):
            a = KEEP[n, t]
            sg = SIG[n, t]
            for i in range(D):
                sx = sg * X[n, t, i]
                acc = 0.0
                for j in range(r):
                    h = a * H[i, j] + sx * Z[n, t, j]
                    H[i, j] = h
                    acc += h * Z[n, t, r + j]
                Y[n, t, i] = acc if t >= first else 0.0


@njit(cache=True)
def mix_adjoint(X, Z, r, Y, Gy, SIG, KEEP, gp, want_gx, GX, dZ):  # pragma: no cover - compiled
    """(M3)-(M4) for a batch, gate ``gp`` as :func:`mix_forward`'s ``g``: writes ``GX`` ``(N, T, D)`` (value path)
    and ``dZ`` ``(N, T, 2r+1)``, the
    gradients ``[dB, dC, dT]`` of the packed projections (``(N, T, 2r)`` without a gate), from ``Gy`` ``(N, T, D)``
    and the forward's ``Y``, ``SIG``, ``KEEP``.  A reverse scan (``Lambda``), then the forward scan again for
    ``dC``; sequences whose ``Gy`` is all zero are skipped (their outputs set to 0).  ``want_gx = False`` leaves
    ``GX`` unwritten (the first block: no gradient into the tokens is needed)."""
    N, T, D = X.shape
    Lam = np.empty((D, r))
    H = np.empty((D, r))
    v = np.empty(r)
    col = np.empty(T)
    for n in range(N):
        if skip_inactive(Gy, n, want_gx, GX, dZ):
            continue
        Lam[:, :] = 0.0
        for t in range(T - 1, -1, -1):
            carry = KEEP[n, t + 1] if t < T - 1 else 0.0
            sg = SIG[n, t]
            v[:] = 0.0
            xu = 0.0
            for i in range(D):
                g = Gy[n, t, i]
                xi = X[n, t, i]
                u = 0.0
                for j in range(r):
                    lam = carry * Lam[i, j] + g * Z[n, t, r + j]
                    Lam[i, j] = lam
                    u += lam * Z[n, t, j]
                    v[j] += lam * xi
                if want_gx:
                    GX[n, t, i] = sg * u
                xu += xi * u
            for j in range(r):
                dZ[n, t, j] = sg * v[j]
            col[t] = sg * xu
        H[:, :] = 0.0
        for t in range(T):
            a = KEEP[n, t]
            sg = SIG[n, t]
            v[:] = 0.0
            for i in range(D):
                sx = sg * X[n, t, i]
                g = Gy[n, t, i]
                for j in range(r):
                    h = a * H[i, j] + sx * Z[n, t, j]
                    H[i, j] = h
                    v[j] += h * g
            for j in range(r):
                dZ[n, t, r + j] = v[j]
        if gp[0] != 0:
            acc = 0.0  # sum_{u >= t} (row_u - col_u)
            for t in range(T - 1, -1, -1):
                row = 0.0
                for i in range(D):
                    row += Gy[n, t, i] * Y[n, t, i]
                acc += row - col[t]
                al, be = _slopes(gp, Z[n, t, 2 * r], SIG[n, t], KEEP[n, t])
                dZ[n, t, 2 * r] = al * col[t] + be * acc


@njit(cache=True)
def _gathered(Tg):  # pragma: no cover - compiled
    """``Tg`` ``(N, T)`` (any strides) copied into a contiguous ``(N T,)`` array, and two more of that size (the
    gate loops' outputs)."""
    N, T = Tg.shape
    t = np.empty(N * T)
    for n in range(N):
        for j in range(T):
            t[n * T + j] = Tg[n, j]
    return t, np.empty(N * T), np.empty(N * T)


@njit(cache=True, error_model="numpy")
def _gate_values(Tg, g, SIG, KEEP):  # pragma: no cover - compiled
    """The input coefficients ``SIG`` and decays ``KEEP`` ``(N, T)`` of the gate ``g`` from the pre-activations
    ``Tg`` ``(N, T)`` (a view is fine), by :func:`_coef_decay` (Mamba: ``sigmoid``, ``1 - sigmoid``)."""
    N, T = SIG.shape
    if g[0] == 1:  # (Mamba's loop apart: no branch on the kind inside it)
        for n in range(N):
            for j in range(T):
                SIG[n, j], KEEP[n, j] = sigmoid_pair(Tg[n, j])
        return
    t, av, lv = _gathered(Tg)
    for q in range(N * T):  # one flat loop over contiguous arrays: it vectorises
        av[q], lv[q] = _coef_decay(g, t[q])
    for n in range(N):
        for j in range(T):
            SIG[n, j], KEEP[n, j] = av[n * T + j], lv[n * T + j]


@njit(cache=True)
def _apply_gates(A, SIG, KEEP, gated, first):  # pragma: no cover - compiled
    """``A[n, t - first, s] *= G_ts`` in place ``(N, T - first, T)`` (0 for ``s > t``), the gate products remade
    row by row and never stored: ``beta[s] = G_ts = sigma_s prod_{s<j<=t} a_j`` for ``s < t`` advanced from row ``t
    - 1`` by one product with ``a_t`` (running products: at most ``T`` roundings each, an underflow to 0 only where
    the true value is below the double range) in the same loop that weighs row ``t``, then ``G_tt = sigma_t`` and
    the zeros above the diagonal (multiplied, not written, so that a zero keeps the sign it had); without a gate
    ``G`` is 1 on and below the diagonal.  (Kept apart from the gates' ``exp`` loop: fused with it, this loop
    measured five times slower.  One fused loop per row instead of a pass advancing ``beta`` and a pass weighing
    the row: 25 % less time.)"""
    N, R, T = A.shape
    beta = np.zeros(T)
    for n in range(N):
        for t in range(T):
            i = t - first
            if gated:
                a = KEEP[n, t]
                if i >= 0:
                    for s in range(t):
                        b = beta[s] * a
                        beta[s] = b
                        A[n, i, s] *= b
                else:
                    for s in range(t):
                        beta[s] *= a
                g = SIG[n, t]
                beta[t] = g
                if i >= 0:
                    A[n, i, t] *= g
            if i >= 0:  # (without a gate the row is kept as it is on and below the diagonal: x * 1 == x)
                for s in range(t + 1, T):
                    A[n, i, s] *= 0.0


@njit(cache=True)
def _weigh_scores(Tg, g, first, SIG, KEEP, S):  # pragma: no cover - compiled
    """The gates ``SIG``, ``KEEP`` ``(N, T)`` from ``Tg`` (:func:`_gate_values`; both 1 without a gate) and the
    scores ``S`` ``(N, T - first, T)`` weighted by the gate products (:func:`_apply_gates`), in one call."""
    if g[0] != 0:
        _gate_values(Tg, g, SIG, KEEP)
    else:
        SIG[:, :] = 1.0
        KEEP[:, :] = 1.0
    _apply_gates(S, SIG, KEEP, g[0] != 0, first)


@njit(cache=True, error_model="numpy")
def _gate_grad(C, S, SIG, KEEP, Tg, g, first, dT):  # pragma: no cover - compiled
    """(M4): ``dT[n, t] = alpha_t col_t + beta_t sum_{u >= t} (row_u - col_u)`` ``(N, T)`` (Mamba: ``alpha = 1 -
    sigma``, ``beta = -sigma``; the others from ``Tg``, :func:`_slopes`) from the row sums ``row`` (rows read out;
    0 before) and column sums ``col`` of the pair weights ``K = C * S`` ``(N, T - first, T)``, summed in one pass
    per sequence (``K`` is never stored)."""
    N, R, T = C.shape
    row = np.empty(R)
    col = np.empty(T)
    mamba = g[0] == 1
    if not mamba:  # the log-slopes of every token first, in one flat loop that vectorises
        tf, alf, bef = _gathered(Tg)
        for q in range(N * T):
            alf[q], bef[q] = _slopes(g, tf[q], 0.0, 0.0)
    else:
        alf, bef = np.empty(0), np.empty(0)
    for n in range(N):
        col[:] = 0.0
        for i in range(R):
            acc = 0.0
            for s in range(T):
                k = C[n, i, s] * S[n, i, s]
                acc += k
                col[s] += k
            row[i] = acc
        acc = 0.0  # sum_{u >= t} (row_u - col_u)
        for t in range(T - 1, -1, -1):
            if t >= first:
                acc += row[t - first]
            acc -= col[t]
            if mamba:
                dT[n, t] = KEEP[n, t] * col[t] - SIG[n, t] * acc
            else:
                dT[n, t] = alf[n * T + t] * col[t] + bef[n * T + t] * acc


@njit(cache=True, error_model="numpy")
def pairs_forward_kernel(X, Bp, Cp, Tg, g, first, Y, SIG, KEEP, S):  # pragma: no cover - compiled
    """:func:`mix_forward_pairs` in one call: ``S = Cp Bp^T``, the gates (:func:`_weigh_scores`), ``Y = S X``
    (each product per sequence one fixed-order :func:`~mamba_dynamics.core.simd.gemm`, :func:`bmm`)."""
    bmm(Cp, Bp.transpose(0, 2, 1), S, False)
    _weigh_scores(Tg, g, first, SIG, KEEP, S)
    bmm(S, X, Y, False)


@njit(cache=True, error_model="numpy")
def pairs_adjoint_kernel(X, Bp, Cp, Gy, SIG, KEEP, Tg, g, first, S, GX, want_gx, dB, want_db, dC, dT,
                         C):  # pragma: no cover - compiled
    """:func:`mix_adjoint_pairs` in one call (``GX``, ``dB`` written only when ``want_gx``, ``want_db``; ``Tg`` the
    gate pre-activations, read by gates other than Mamba's)."""
    bmm(Gy, X.transpose(0, 2, 1), C, False)  # C = Gy X^T
    if want_gx:
        bmm(S.transpose(0, 2, 1), Gy, GX, False)  # GX = S^T Gy
    if g[0] != 0:  # (M4) from the pair weights K = C * S
        _gate_grad(C, S, SIG, KEEP, Tg, g, first, dT)
    _apply_gates(C, SIG, KEEP, g[0] != 0, first)  # M = G * C
    if want_db:
        bmm(C.transpose(0, 2, 1), Cp, dB, False)  # dB = M^T Cp
    bmm(C, Bp, dC, False)  # dC = M Bp


def pairs_small(T: int, D: int, r: int) -> bool:
    """Whether the pair form's per-sequence products run in the one-call kernels (:func:`pairs_forward_kernel`,
    :func:`pairs_adjoint_kernel`): sequences of ``T`` tokens whose ``(T, D)`` and ``(T, r)`` matrices are small
    enough for :func:`~mamba_dynamics.core.simd.bmm` (:data:`~mamba_dynamics.core.simd.SMALL_BYTES`); else
    batched products through :func:`~mamba_dynamics.core.simd.matmul`."""
    return T * max(D, r) * 8 <= SMALL_BYTES


def mix_forward_pairs(X, Bp, Cp, Tg, gated, first, Y, SIG, KEEP, S):
    """(M2) for a batch in the pairwise form: ``S = G * (C B^T)`` (rows ``t >= first``), ``Y = S X``, as small
    fixed-order products in one Numba call (:func:`pairs_forward_kernel`; long sequences: batched products).  ``X``
    ``(N, T, D)``; ``Bp`` ``(N, T, r)`` the ``b_s``; ``Cp`` ``(N, T - first, r)`` the ``c_t`` of the rows read
    out; ``Tg`` ``(N, T)`` the gate pre-activations (ignored without a gate; views of packed projections are
    fine).  Writes ``Y`` ``(N, T - first, D)`` (the rows read out), ``SIG``, ``KEEP`` ``(N, T)`` and the weighted
    scores ``S[n, t - first, s] = G_ts (b_s . c_t)`` ``(N, T - first, T)``, kept for the adjoint (the gate
    products themselves are remade where needed, never stored).  Per token ``(T/2)(D + r)`` multiply-adds."""
    if pairs_small(X.shape[1], X.shape[2], Bp.shape[2]):
        pairs_forward_kernel(X, Bp, Cp, Tg, gate_args(gated), first, Y, SIG, KEEP, S)
        return
    matmul(Cp, Bp.transpose(0, 2, 1), S)
    _weigh_scores(Tg, gate_args(gated), first, SIG, KEEP, S)
    matmul(S, X, Y)


def mix_adjoint_pairs(X, Bp, Cp, Gy, SIG, KEEP, gated, first, S, GX, dB, dC, dT, C=None, Tg=None):
    """(M3)-(M4) for a batch in the pairwise form, from the forward's weighted scores ``S = G * (C B^T)`` and
    gates: ``C = Gy X^T``, ``M = G * C``, ``GX = S^T Gy``, ``dB = M^T C``, ``dC = M B``, and (M4) from the row
    and column sums of ``K = C * S`` (:func:`_gate_grad`), in one Numba call (:func:`pairs_adjoint_kernel`; long
    sequences: batched products).  Shapes as :func:`mix_forward_pairs`, with ``Gy`` ``(N, T - first, D)`` at the
    rows read out; writes ``GX`` ``(N, T, D)``, ``dB`` ``(N, T, r)``, ``dC`` ``(N, T - first, r)`` and ``dT``
    ``(N, T)``; ``GX`` or ``dB`` None: not wanted (skipped); ``dT`` is ignored without a gate; ``Tg`` ``(N, T)`` the
    gate pre-activations, needed by the gates of :mod:`~mamba_dynamics.core.gates` other than Mamba's.  Returns
    ``M = G * (Gy X^T)`` ``(N, T - first, T)``, written into ``C`` when given (a reused array: a fresh one of a
    megabyte faults in every page)."""
    g = gate_args(gated)
    if Tg is None:
        if g[0] not in (0, 1):
            raise ValueError("the gate pre-activations Tg are needed by gates other than Mamba's")
        Tg = SIG  # unread
    if C is None:
        C = np.empty((len(X), Gy.shape[1], X.shape[1]))
    if pairs_small(X.shape[1], X.shape[2], Bp.shape[2]):
        none = np.empty((0, 0, 0))
        pairs_adjoint_kernel(X, Bp, Cp, np.ascontiguousarray(Gy), SIG, KEEP, Tg, g, first, S,
                             none if GX is None else GX, GX is not None, none if dB is None else dB, dB is not None,
                             dC, dT, C)
        return C
    matmul(Gy, X.transpose(0, 2, 1), C)  # (N, T - first, T): Gy_t . x_s
    if GX is not None:
        matmul(S.transpose(0, 2, 1), Gy, GX)
    if g[0] != 0:  # (M4) from the pair weights K = C * S: row sums over s, column sums over t
        _gate_grad(C, S, SIG, KEEP, Tg, g, first, dT)
    _apply_gates(C, SIG, KEEP, g[0] != 0, first)  # M = G * C
    if dB is not None:
        matmul(C.transpose(0, 2, 1), Cp, dB)
    matmul(C, Bp, dC)
    return C


def gate_args(gated) -> tuple:
    """``(code, 1/tau, gamma)`` of ``gated`` (a :class:`~mamba_dynamics.core.gates.Gate`, or True for Mamba's,
    False for none): what the Numba kernels take as ``g``."""
    return as_gate(gated).args


def log_gate_matrix_reference(Tg: np.ndarray, gated=True) -> np.ndarray:
    """``log G[n, t, s]`` ``(N, T, T)`` of (M2) from ``Tg`` ``(N, T)``: ``log a(t_s) + sum_{s<j<=t} log lambda(t_j)``
    for the gate ``gated`` (:mod:`~mamba_dynamics.core.gates`; 0 without a gate) on and below the diagonal,
    ``-inf`` above (a reverse of cumulative sums of the log decays, so nothing overflows)."""
    gate = as_gate(gated)
    T = Tg.shape[-1]
    cum = np.cumsum(gate_kinds.log_decay(Tg, gate), axis=-1)  # cum[t] = sum_{j<=t} log lambda_j
    log_G = gate_kinds.log_coef(Tg, gate)[:, None, :] + cum[:, :, None] - cum[:, None, :]
    return np.where(np.tril(np.ones((T, T), dtype=bool))[None], log_G, -np.inf)


def gate_matrix_reference(Tg: np.ndarray, gated=True) -> np.ndarray:
    """``G[n, t, s] = G_{ts}`` ``(N, T, T)`` of (M2) from ``Tg`` ``(N, T)``, built in log space
    (:func:`log_gate_matrix_reference`); zero for ``s > t``; all ones on and below the diagonal for linear
    attention."""
    return np.exp(log_gate_matrix_reference(Tg, gated))


def mix_forward_reference(X: np.ndarray, Bp: np.ndarray, Cp: np.ndarray, Tg: np.ndarray, gated=True):
    """(M2) in NumPy: ``Y`` ``(N, T, D)``.  Shapes as :func:`mix_forward`."""
    G = gate_matrix_reference(Tg, gated)
    S = np.einsum("nsr,ntr->nts", Bp, Cp)  # S[n, t, s] = b_s . c_t
    return np.einsum("nts,nsd->ntd", G * S, X)


def mix_adjoint_reference(X: np.ndarray, Bp: np.ndarray, Cp: np.ndarray, Tg: np.ndarray, Gy: np.ndarray,
                          gated=True):
    """The derivative of (M2) written out, in NumPy: ``(GX, dB, dC, dT)`` as :func:`mix_adjoint`, with
    ``dG_{ts}/dt_j = G_{ts} [alpha_s 1{j = s} + beta_j 1{s < j <= t}]`` (Mamba: ``alpha = 1 - sigma``, ``beta =
    -sigma``) summed explicitly."""
    gate = as_gate(gated)
    N, T, D = X.shape
    G = gate_matrix_reference(Tg, gate)
    S = np.einsum("nsr,ntr->nts", Bp, Cp)
    C = np.einsum("ntd,nsd->nts", Gy, X)  # C[n, t, s] = Gy_t . x_s
    GX = np.einsum("nts,ntd->nsd", G * S, Gy)
    M = G * C
    dB = np.einsum("nts,ntr->nsr", M, Cp)
    dC = np.einsum("nts,nsr->ntr", M, Bp)
    if not gate:
        return GX, dB, dC, np.zeros((N, T))
    K = M * S  # (N, t, s)
    idx = np.arange(T)
    between = (idx[None, :, None] < idx[None, None, :]) & (idx[None, None, :] <= idx[:, None, None])
    # between[t, s, j] = 1{s < j <= t}
    dT = gate_kinds.dlog_coef(Tg, gate) * np.einsum("nts->ns", K)  # the alpha_s 1{j = s} term
    dT += gate_kinds.dlog_decay(Tg, gate) * np.einsum("nts,tsj->nj", K, between.astype(float))
    return GX, dB, dC, dT


__all__ = ["gate_args", "log_gate_matrix_reference", "quadratic_form", "mix_forward", "mix_adjoint", "mix_forward_pairs", "mix_adjoint_pairs", "mix_forward_reference", "mix_adjoint_reference", "gate_matrix_reference"]
