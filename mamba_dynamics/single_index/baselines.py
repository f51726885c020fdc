"""Kernel ridge regression baselines fitted on each test prompt's context alone (spec section 6).

Gaussian kernel ``exp(-||x - x'||^2 / (2 k))`` on ``k`` input coordinates (all ``d``, or the ``r`` relevant ones
``x_I``: the "intrinsic features" baseline), with ``lambda`` chosen per prompt by exact leave-one-out error over
``1e-4 .. 10`` (one eigendecomposition per prompt).  Glossary: ``X`` ``(n, N+1, k)``, ``Y`` ``(n, N+1)``.
"""

from __future__ import annotations

import numpy as np

LAMBDAS = np.geomspace(1e-4, 10.0, 11)


def krr_predict(X: np.ndarray, Y: np.ndarray, lambdas=LAMBDAS) -> np.ndarray:
    """Predictions ``(n,)`` of the query labels from the ``N`` context examples of each prompt."""
    n, lp1, k = X.shape
    out = np.empty(n)
    for p in range(n):
        ctx, q, y = X[p, :-1], X[p, -1], Y[p, :-1]
        sq = np.sum(ctx**2, 1)
        K = np.exp(-(sq[:, None] + sq[None, :] - 2 * ctx @ ctx.T) / (2 * k))
        kq = np.exp(-np.sum((ctx - q) ** 2, 1) / (2 * k))
        evals, U = np.linalg.eigh(K)
        Uy = U.T @ y
        best, best_err = None, np.inf
        for lam in lambdas:
            inv = 1.0 / (evals + lam)
            alpha = U @ (inv * Uy)
            hdiag = np.einsum("ij,j,ij->i", U, evals * inv, U)  # diag of K (K + lam)^-1
            loo = (y - K @ alpha) / np.maximum(1.0 - hdiag, 1e-12)
            err = float(np.mean(loo**2))
            if err < best_err:
                best, best_err = alpha, err
        out[p] = kq @ best
    return out
