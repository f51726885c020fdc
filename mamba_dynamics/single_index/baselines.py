"""Kernel ridge regression baselines fitted on each test prompt's context alone (spec section 6).

Gaussian kernel ``exp(-||x - x'||^2 / (2 k))`` on ``k`` input coordinates (all ``d``, or the ``r`` relevant ones
``x_I``: the "intrinsic features" baseline), with ``lambda`` chosen per prompt by exact leave-one-out error over
``1e-4 .. 10`` (one eigendecomposition per prompt).  Glossary: ``Xc`` ``(n, N, k)`` and ``Yc`` ``(n, N)`` the
contexts, ``Xq`` ``(n, q, k)`` the queries of each prompt.
"""

from __future__ import annotations

import numpy as np

LAMBDAS = np.geomspace(1e-4, 10.0, 11)


def _kernel(A: np.ndarray, B: np.ndarray, k: int) -> np.ndarray:
    sq = np.sum(A**2, 1)[:, None] + np.sum(B**2, 1)[None, :] - 2 * A @ B.T
    return np.exp(-np.maximum(sq, 0.0) / (2 * k))


def krr_predict(Xc: np.ndarray, Yc: np.ndarray, Xq: np.ndarray, lambdas=LAMBDAS) -> np.ndarray:
    """Predictions ``(n, q)`` at the queries from the ``N`` context examples of each prompt (O(N^3) per prompt)."""
    n, N, k = Xc.shape
    out = np.empty(Xq.shape[:2])
    for p in range(n):
        ctx, y = Xc[p], Yc[p]
        K = _kernel(ctx, ctx, k)
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
        out[p] = _kernel(Xq[p], ctx, k) @ best
    return out
