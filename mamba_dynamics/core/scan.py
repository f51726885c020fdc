"""The raw selective-scan recurrence of one-layer Mamba (arXiv 2510.00399, eq. 1), step by step: the naive
reference every gated readout is tested against (outlier ICL directly; single-index ICL with its embedding).

This is the ground truth that the closed form of eq. (3) (:func:`mamba_dynamics.outliers.model.forward`) reduces to;
the tests check the two agree.  With ``A = -I`` and zero-order-hold discretisation, per token ``p_t``:

    Delta_t = softplus(w^T p_t)
    H_t     = exp(-Delta_t) H_{t-1} + (1 - exp(-Delta_t)) p_t (W_B p_t)^T        H in R^{(d+1) x m}, H_0 = 0
    o_t     = H_t W_C p_t

and the prediction is the label channel of the last output, ``F = e_{d+1}^T o_{l+1}``.  The linear Transformer
is the same scan without decay or input gate (``exp(-Delta) -> 1``, ``1 - exp(-Delta) -> 1``).

:func:`selective_scan_symbolic` is the same recurrence in sympy, for the symbolic gradient checks;
:func:`mixer_adjoint_checks` and :func:`gla_adjoint_checks` prove the block adjoints of :mod:`~mamba_dynamics.core.mixer`
and :mod:`~mamba_dynamics.core.gla_mixer` against sympy's derivative of the raw recurrence.

Glossary: ``H`` = hidden state h_t, ``Delta`` = Delta_t, ``o`` = o_t, ``e_{d+1}`` = label coordinate (last).
"""

from __future__ import annotations

import numpy as np


def selective_scan(W_B: np.ndarray, W_C: np.ndarray, w: np.ndarray, P: np.ndarray, gated: bool = True) -> np.ndarray:
    """Run the recurrence over each prompt.  ``P`` ``(B, l+1, d+1)`` -> ``F`` ``(B,)``.

    Deliberately literal (no sigmoid identities, no log space): it is a reference, not a fast path.
    """
    B, lp1, D = P.shape
    F = np.empty(B)
    for b in range(B):
        H = np.zeros((D, W_B.shape[0]))
        for t in range(lp1):
            p = P[b, t]
            if gated:
                delta_t = np.logaddexp(0.0, w @ p)
                decay, write = np.exp(-delta_t), -np.expm1(-delta_t)
            else:
                decay, write = 1.0, 1.0
            H = decay * H + write * np.outer(p, W_B @ p)
        o = H @ (W_C @ P[b, -1])
        F[b] = o[-1]
    return F


def selective_scan_symbolic(W_B, W_C, w, P, gated: bool = True):
    """The same recurrence in sympy: ``F`` of one prompt ``P`` (an ``(l+1, D)`` sympy Matrix; ``W_B, W_C``
    ``(m, D)`` and ``w`` ``(D, 1)`` sympy matrices), ``H_t = e^{-Delta_t} H_{t-1} + (1 - e^{-Delta_t}) p_t (W_B
    p_t)^T``, ``F = e_{d+1}^T H_{l+1} W_C p_q`` (the query row of ``P`` must have label entry 0)."""
    lp1, D = P.shape
    return scan_outputs_symbolic(W_B, W_C, w, [P.row(t).T for t in range(lp1)], gated)[-1][D - 1]


def scan_outputs_symbolic(W_B, W_C, w, X: list, gated: bool = True) -> list:
    """The recurrence of one block as a sequence-to-sequence map, in sympy: ``X`` a list of token columns
    ``(D, 1)``, ``W_B``, ``W_C`` ``(r, D)`` and ``w`` ``(D, 1)`` sympy matrices; returns every output ``y_t =
    H_t W_C x_t`` with ``H_t = e^{-Delta_t} H_{t-1} + (1 - e^{-Delta_t}) x_t (W_B x_t)^T`` (``H`` ``(D, r)``)."""
    import sympy as sp

    from .gates import Gate, VectorGate, symbolic_terms

    H = sp.zeros(X[0].shape[0], W_B.shape[0])
    out = []
    for x in X:
        if isinstance(gated, VectorGate):  # GLA: H_t = H_{t-1} diag(alpha_t) + x_t (W_B x_t)^T
            alpha = [symbolic_terms(v, gated.decay)[1] for v in w * x]
            H = H * sp.diag(*alpha) + x * (W_B * x).T
            out.append(H * (W_C * x))
            continue
        if isinstance(gated, Gate) and gated.kind != "mamba":  # App. E.6's other scalar gates
            write, decay = symbolic_terms((w.T * x)[0], gated)
        elif gated:
            delta = sp.log(1 + sp.exp((w.T * x)[0]))  # softplus
            decay, write = sp.exp(-delta), 1 - sp.exp(-delta)
        else:
            decay, write = 1, 1
        H = decay * H + write * (x * (W_B * x).T)
        out.append(H * (W_C * x))
    return out


def stack_outputs_symbolic(blocks: list, X: list, gated: bool = True, norm: str = "rms",
                           readout: str = "stream", attention=None) -> list:
    """A residual stack of :func:`scan_outputs_symbolic` blocks in sympy (core.stack, S0-S3): ``blocks`` a list of
    ``(W_B, W_C, w)``; block ``k >= 2`` reads ``x / sqrt(mean(x^2) + eps)`` per token with ``norm = "rms"``;
    returns the head's input (the stream, or the last block's outputs).  ``attention``
    (:class:`~mamba_dynamics.core.attention.Attention`): every block is causal softmax attention instead
    (:func:`~mamba_dynamics.core.attention.softmax_outputs_symbolic`, from its raw definition; ``w`` unused)."""
    import sympy as sp

    from .stack import EPS

    stream = list(X)
    Y = stream
    for k, (W_B, W_C, w) in enumerate(blocks):
        if norm == "rms" and k > 0:
            D = stream[0].shape[0]
            U = [x / sp.sqrt(sum(v * v for v in x) / D + sp.Float(EPS)) for x in stream]
        else:
            U = stream
        if attention is not None:
            from .attention import softmax_outputs_symbolic

            Y = softmax_outputs_symbolic(W_B, W_C, U, attention)
        else:
            Y = scan_outputs_symbolic(W_B, W_C, w, U, gated)
        stream = [x + y for x, y in zip(stream, Y)]
    return stream if readout == "stream" else Y


def mixer_adjoint_checks(T: int = 3) -> dict:
    """The hand-derived adjoint of one block (core.mixer, M3-M4) minus sympy's derivative, simplified, for a
    sequence of ``T`` scalar tokens (``D = r = 1``) with symbolic values ``x_t``, projections ``b_t, c_t``, gate
    pre-activations ``t_t`` and output gradients ``g_t`` (``Loss = sum_t g_t y_t``).  Every entry is 0 when the
    formulas hold: ``dL/dx_t|value = sigma_t Lambda_t b_t``, ``dL/db_t = sigma_t Lambda_t x_t``, ``dL/dc_t = H_t
    g_t`` and ``dL/dt_j = (1 - sigma_j) col_j - sigma_j sum_{u>=j} (row_u - col_u)``."""
    import sympy as sp

    x, b, c, t, g = (sp.symbols(f"{n}0:{T}", real=True) for n in ("x", "b", "c", "t", "g"))
    sig = [1 / (1 + sp.exp(-v)) for v in t]
    H, Hs, Y = 0, [], []
    for s in range(T):  # the raw recurrence, scalar state
        H = (1 - sig[s]) * H + sig[s] * x[s] * b[s]
        Hs.append(H)
        Y.append(H * c[s])
    loss = sum(gi * yi for gi, yi in zip(g, Y))
    lam, Lam = 0, [None] * T
    for s in range(T - 1, -1, -1):
        lam = (1 - sig[s + 1]) * lam + g[s] * c[s] if s < T - 1 else g[s] * c[s]
        Lam[s] = lam
    col = [sig[s] * x[s] * Lam[s] * b[s] for s in range(T)]
    row = [g[u] * Y[u] for u in range(T)]
    # the value path: x_s enters as the written value only when b, c and t are held fixed (they are symbols here)
    out = {}
    for s in range(T):
        out[f"dx_{s}"] = sp.simplify(sp.diff(loss, x[s]) - sig[s] * Lam[s] * b[s])
        out[f"db_{s}"] = sp.simplify(sp.diff(loss, b[s]) - sig[s] * Lam[s] * x[s])
        out[f"dc_{s}"] = sp.simplify(sp.diff(loss, c[s]) - Hs[s] * g[s])
        tail = sum(row[u] - col[u] for u in range(s, T))
        out[f"dt_{s}"] = sp.simplify(sp.diff(loss, t[s]) - ((1 - sig[s]) * col[s] - sig[s] * tail))
    return out


def gla_adjoint_checks(T: int = 3, r: int = 2, tau: int = 3) -> dict:
    """GLA's hand-derived block adjoint (core.gla_mixer, V3-V4) minus sympy's derivative, simplified, for a sequence
    of ``T`` scalar tokens (``D = 1``) with ``r`` key coordinates: symbolic ``x_t``, ``b_ta``, ``c_ta``, gate
    pre-activations ``t_ta`` (decay ``sigmoid(t)^(1/tau)``) and output gradients ``g_t`` (``Loss = sum_t g_t
    y_t``).  Every entry is 0 when ``dL/dx_t|value = Lambda_t . b_t``, ``dL/db_ta = Lambda_ta x_t``, ``dL/dc_ta =
    H_ta g_t`` and ``dL/dt_ja = beta_ja sum_{u>=j} (row_ua - col_ua)`` hold."""
    import sympy as sp

    x, g = sp.symbols(f"x0:{T}", real=True), sp.symbols(f"g0:{T}", real=True)
    b, c, t = ([[sp.Symbol(f"{n}{s}_{a}", real=True) for a in range(r)] for s in range(T)] for n in "bct")
    sig = [[1 / (1 + sp.exp(-t[s][a])) for a in range(r)] for s in range(T)]
    lam = [[sig[s][a] ** sp.Rational(1, tau) for a in range(r)] for s in range(T)]
    H, Hs, Y = [0] * r, [], []
    for s in range(T):  # the raw recurrence, a (1, r) state
        H = [lam[s][a] * H[a] + x[s] * b[s][a] for a in range(r)]
        Hs.append(H)
        Y.append(sum(H[a] * c[s][a] for a in range(r)))
    loss = sum(gi * yi for gi, yi in zip(g, Y))
    Lam, cur = [None] * T, [0] * r
    for s in range(T - 1, -1, -1):
        cur = [(lam[s + 1][a] * cur[a] if s < T - 1 else 0) + g[s] * c[s][a] for a in range(r)]
        Lam[s] = cur
    col = [[b[s][a] * Lam[s][a] * x[s] for a in range(r)] for s in range(T)]
    row = [[c[u][a] * Hs[u][a] * g[u] for a in range(r)] for u in range(T)]
    out = {}
    for s in range(T):
        out[f"dx_{s}"] = sp.simplify(sp.diff(loss, x[s]) - sum(Lam[s][a] * b[s][a] for a in range(r)))
        for a in range(r):
            beta = (1 - sig[s][a]) / tau
            out[f"db_{s}{a}"] = sp.simplify(sp.diff(loss, b[s][a]) - Lam[s][a] * x[s])
            out[f"dc_{s}{a}"] = sp.simplify(sp.diff(loss, c[s][a]) - Hs[s][a] * g[s])
            tail = sum(row[u][a] - col[u][a] for u in range(s, T))
            out[f"dt_{s}{a}"] = sp.simplify(sp.diff(loss, t[s][a]) - beta * tail)
    return out
