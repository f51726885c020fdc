"""Selective SSM (or linear attention) + two-layer ReLU MLP of the feature-filtering paper (arXiv 2602.12499).

Equations (numbered as in docs/features.md):

(F1) gate       sigma_l = sigmoid(w^T x_l)                      (A = -I, Delta_l = softplus(w^T x_l))
(F2) recurrence h_0 = 0,  h_l = (1 - sigma_l) h_{l-1} + sigma_l x_l,  y_l = h_l          (raw selective scan)
(F3) closed form y_l = sum_{s<=l} beta_s^(l) x_s,  beta_s^(l) = sigma_s prod_{j=s+1}^{l} (1 - sigma_j)
                 log beta_s^(l) = -softplus(-w^T x_s) - sum_{j=s+1}^{l} softplus(w^T x_j)
(F4) linear attention (``lt-mlp``)  y_l = (1/l) sum_{s<=l} (x_s^T W x_l) x_s
(F5) head       F(X) = (1/L) sum_l sum_i a_i ReLU(v_i^T y_l),   a_i = +1/m (i < m/2), -1/m (else), fixed
(F6) loss       hinge  max(0, 1 - y F(X)), averaged over the batch

Glossary: ``w`` (d,) = gating vector w_Delta; ``W`` (d, d) = W_K^T W_Q of the linear attention; ``V`` (m, d) =
first MLP layer (rows v_i); ``a`` (m,) = second layer (fixed); ``Y`` (N, L, d) = per-token SSM outputs y_l;
``beta`` (N, L, L) = gate products beta_s^(l) (index ``[n, l, s]``, zero for ``s > l``).

The raw scan (:func:`scan_recurrence`, a plain loop) and the closed form (:func:`mix_closed_form`, log space) are
two independent implementations, tested equal; the fast path is the Numba scan in
:mod:`mamba_dynamics.features.gradients`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..core.gating import sigmoid, softplus
from ..core.train import ParamBlocks
from .config import FeaturesConfig


@dataclass
class Params(ParamBlocks):
    """Trainable state. w: ``(d,)`` gating vector (SSM); W: ``(d, d)`` attention matrix (lt-mlp); V: ``(m, d)``;
    a: ``(m,)`` fixed output layer."""

    w: np.ndarray
    W: np.ndarray
    V: np.ndarray
    a: np.ndarray


def output_layer(m: int) -> np.ndarray:
    """The fixed second layer ``a`` ``(m,)``: first half ``+1/m``, second half ``-1/m``."""
    a = np.full(m, -1.0 / m)
    a[: (m + 1) // 2] = 1.0 / m
    return a


def init_params(cfg: FeaturesConfig, rng: np.random.Generator) -> Params:
    """``w = 0`` (every gate 1/2, so ``beta_s^(l) = 2^-(l-s+1)``), ``W = I``, ``V ~ N(0, v0^2 I)``."""
    return Params(w=np.zeros(cfg.d), W=np.eye(cfg.d), V=cfg.v0 * rng.standard_normal((cfg.m, cfg.d)),
                  a=output_layer(cfg.m))


def scan_recurrence(X: np.ndarray, w: np.ndarray) -> np.ndarray:
    """(F2) literally: ``X`` ``(N, L, d)``, ``w`` ``(d,)`` -> ``Y`` ``(N, L, d)``."""
    sig = sigmoid(X @ w)
    h = np.zeros((X.shape[0], X.shape[2]))
    Y = np.empty_like(X)
    for l in range(X.shape[1]):
        h = (1.0 - sig[:, l, None]) * h + sig[:, l, None] * X[:, l]
        Y[:, l] = h
    return Y


def log_beta(t: np.ndarray) -> np.ndarray:
    """(F3) log gate products from pre-activations ``t = X w`` ``(N, L)`` -> ``(N, L, L)`` indexed ``[n, l, s]``
    (``-inf`` for ``s > l``)."""
    c = -softplus(t)  # log(1 - sigma_j)
    csum = np.cumsum(c, axis=-1)  # csum[l] = sum_{j<=l} c_j
    lb = -softplus(-t)[:, None, :] + csum[:, :, None] - csum[:, None, :]  # sum_{j=s+1}^{l} c_j
    L = t.shape[-1]
    return np.where(np.tril(np.ones((L, L), dtype=bool))[None], lb, -np.inf)


def mix_closed_form(X: np.ndarray, w: np.ndarray) -> np.ndarray:
    """(F3): ``Y[n, l] = sum_s beta_s^(l) x_s``; ``X`` ``(N, L, d)`` -> ``(N, L, d)``."""
    return np.einsum("nls,nsd->nld", np.exp(log_beta(X @ w)), X)


def mix_attention(X: np.ndarray, W: np.ndarray) -> np.ndarray:
    """(F4) causal linear attention: ``X`` ``(N, L, d)``, ``W`` ``(d, d)`` -> ``(N, L, d)``."""
    L = X.shape[1]
    S = np.einsum("nsd,de,nle->nls", X, W, X) * np.tril(np.ones((L, L)))[None]
    return np.einsum("nls,nsd->nld", S, X) / np.arange(1, L + 1)[None, :, None]


def mix(params: Params, X: np.ndarray, gated: bool) -> np.ndarray:
    """The model's per-token outputs ``(N, L, d)`` (SSM closed form or linear attention)."""
    return mix_closed_form(X, params.w) if gated else mix_attention(X, params.W)


def head(Y: np.ndarray, V: np.ndarray, a: np.ndarray) -> np.ndarray:
    """(F5) ``F`` ``(N,)`` from outputs ``Y`` ``(N, L, d)``, ``V`` ``(m, d)``, ``a`` ``(m,)``."""
    return (np.maximum(Y @ V.T, 0.0) @ a).sum(axis=1) / Y.shape[1]


def forward(params: Params, X: np.ndarray, gated: bool) -> np.ndarray:
    """``F(X)`` ``(N,)``."""
    return head(mix(params, X, gated), params.V, params.a)
