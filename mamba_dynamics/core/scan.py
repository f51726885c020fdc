"""The raw selective-scan recurrence of one-layer Mamba (arXiv 2510.00399, eq. 1), step by step: the naive
reference every gated readout is tested against (outlier ICL directly; single-index ICL with its embedding).

This is the ground truth that the closed form of eq. (3) (:func:`mamba_dynamics.outliers.model.forward`) reduces to;
the tests check the two agree.  With ``A = -I`` and zero-order-hold discretisation, per token ``p_t``:

    Delta_t = softplus(w^T p_t)
    H_t     = exp(-Delta_t) H_{t-1} + (1 - exp(-Delta_t)) p_t (W_B p_t)^T        H in R^{(d+1) x m}, H_0 = 0
    o_t     = H_t W_C p_t

and the prediction is the label channel of the last output, ``F = e_{d+1}^T o_{l+1}``.  The linear Transformer
is the same scan without decay or input gate (``exp(-Delta) -> 1``, ``1 - exp(-Delta) -> 1``).

:func:`selective_scan_symbolic` is the same recurrence in sympy, for the symbolic gradient checks.

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
    import sympy as sp

    lp1, D = P.shape
    H = sp.zeros(D, W_B.shape[0])
    for t in range(lp1):
        p = P.row(t).T
        if gated:
            delta = sp.log(1 + sp.exp((w.T * p)[0]))  # softplus
            decay, write = sp.exp(-delta), 1 - sp.exp(-delta)
        else:
            decay, write = 1, 1
        H = decay * H + write * (p * (W_B * p).T)
    return (H * (W_C * P.row(lp1 - 1).T))[D - 1]
