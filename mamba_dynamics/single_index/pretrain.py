"""Two-stage pretraining (Algorithm 1 of arXiv 2510.12026, after Nishikawa et al. 2025; spec section 3).

Stage I: one gradient step on gamma from the initialisation with weight decay ``lambda_1 = 1/eta_1``, which cancels
gamma^(0): ``gamma* = -eta_1 grad_gamma L1(gamma^(0), v, b = 0, a = a0 1)`` over ``T1`` prompts of length ``N_pt``.
The paper's eta_1 scaling is not known; we set eta_1 so that the Mamba output ``M = <gamma*, psi>`` has unit
standard deviation on the Stage-II prompts (any eta_1 gives the same direction of gamma*).
Stage II: fresh biases ``b_j ~ U[-1, 1]``, then ridge regression of the query labels on ``ReLU(v_j M + b_j)`` over
``T2`` fresh prompts; ``lambda_2`` is picked on a held-out fifth from ``1e-6 .. 1`` unless given.

Glossary: ``gamma`` ``(d~,)``, ``v``/``bj``/``a`` ``(m,)``, ``I`` relevant coordinates, ``coefs`` the link.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .config import SingleIndexConfig
from .data import relevant_mask, sample_prompts
from .model import mlp, mlp_slope, psi


@dataclass
class Pretrained:
    """A pretrained model: Mamba diagonal ``gamma`` and the MLP ``(v, bj, a)``; ``stats`` holds diagnostics."""

    cfg: SingleIndexConfig
    I: np.ndarray
    coefs: np.ndarray
    gamma: np.ndarray
    v: np.ndarray
    bj: np.ndarray
    a: np.ndarray
    stats: dict = field(default_factory=dict)

    def mamba_output(self, X: np.ndarray, Y: np.ndarray) -> np.ndarray:
        """``M`` ``(n,)`` for prompts of any length (the gate bias follows ``cfg.bias_for(N)``)."""
        N = X.shape[1] - 1
        return psi(X, Y, self.cfg.rho, self.cfg.bias_for(N), self.cfg.gated) @ self.gamma

    def predict(self, X: np.ndarray, Y: np.ndarray) -> np.ndarray:
        """Prediction ``f(Z)`` ``(n,)`` of the query labels (``Y[:, -1]`` is never read)."""
        Yc = Y.copy()
        Yc[:, -1] = 0.0
        return mlp(self.mamba_output(X, Yc), self.v, self.bj, self.a)


def share_relevant(gamma: np.ndarray, d: int, I: np.ndarray) -> float:
    """``S_rel = ||gamma_rel||^2 / ||gamma||^2`` over features that involve only coordinates in I."""
    mask = relevant_mask(d, I)
    return float(np.sum(gamma[mask] ** 2) / max(np.sum(gamma**2), 1e-300))


def _ridge(Phi: np.ndarray, y: np.ndarray, lam: float) -> np.ndarray:
    T, m = Phi.shape
    return np.linalg.solve(Phi.T @ Phi / T + lam * np.eye(m), Phi.T @ y / T)


def pretrain(cfg: SingleIndexConfig, I: np.ndarray, coefs: np.ndarray, rng: np.random.Generator,
             chunk: int = 500) -> Pretrained:
    """Run Stage I and Stage II; prompts are drawn in chunks so memory stays ``O(chunk N_pt d)``."""
    dt, m = cfg.dt, cfg.width
    gamma0 = np.full(dt, cfg.gamma0)
    v = np.where(rng.random(m) < 0.5, 1.0, -1.0)
    a0 = np.full(m, cfg.a0)
    b0 = np.zeros(m)
    b_gate = cfg.bias_for(cfg.N_pt)
    grad = np.zeros(dt)
    loss1 = 0.0
    done = 0
    while done < cfg.T1:  # Stage I: one full-batch gradient at the initialisation
        n = min(chunk, cfg.T1 - done)
        X, Y, _ = sample_prompts(n, cfg.N_pt, cfg.d, I, coefs, cfg.tau, rng)
        y = Y[:, -1].copy()
        Y[:, -1] = 0.0
        Ps = psi(X, Y, cfg.rho, b_gate, cfg.gated)
        M = Ps @ gamma0
        resid = mlp(M, v, b0, a0) - y
        grad += Ps.T @ (resid * mlp_slope(M, v, b0, a0))
        loss1 += 0.5 * float(np.sum(resid**2))
        done += n
    grad /= cfg.T1
    direction = -grad  # gamma* = -eta_1 grad (lambda_1 = 1/eta_1)
    X, Y, _ = sample_prompts(cfg.T2, cfg.N_pt, cfg.d, I, coefs, cfg.tau, rng)
    y = Y[:, -1].copy()
    Y[:, -1] = 0.0
    M_raw = psi(X, Y, cfg.rho, b_gate, cfg.gated) @ direction
    std = float(np.std(M_raw))
    eta1 = 1.0 / std if std > 0 else 1.0
    gamma = direction * eta1
    M = M_raw * eta1
    bj = rng.uniform(-1.0, 1.0, size=m)  # Stage II
    Phi = np.maximum(np.outer(M, v) + bj, 0.0)
    if cfg.lam2 is None:
        cut = int(0.8 * cfg.T2)
        grid = np.geomspace(1e-6, 1.0, 13)
        val = [float(np.mean((Phi[cut:] @ _ridge(Phi[:cut], y[:cut], lam) - y[cut:]) ** 2)) for lam in grid]
        lam2 = float(grid[int(np.argmin(val))])
    else:
        lam2 = cfg.lam2
    a = _ridge(Phi, y, lam2)
    stats = {"stage1_loss": loss1 / cfg.T1, "eta1": eta1, "lam2": lam2,
             "stage2_train_risk": float(np.mean((Phi @ a - y) ** 2)),
             "share_relevant": share_relevant(gamma, cfg.d, I)}
    return Pretrained(cfg, I, coefs, gamma, v, bj, a, stats)
