"""Selective SSM (or linear attention) + two-layer ReLU MLP of the feature-filtering paper (arXiv 2602.12499).

The paper's model (``reading = "paper"``, the default; its Eqs. 2-6):

(Eq. 2-3) b_t = W_B^T x_t, c_t = W_C^T x_t, gate sigma_t = sigmoid(w^T x_t); state H_t (d, r):
          H_0 = 0,  H_t = (1 - sigma_t) H_{t-1} + sigma_t x_t b_t^T,  y_t = H_t c_t              (raw scan)
(Eq. 5)   y_t = sum_{s<=t} beta_s^(t) (b_s^T c_t) x_s,  beta_s^(t) = sigma_s prod_{j=s+1}^{t} (1 - sigma_j)
(Eq. 6)   F(X) = (1/L) sum_l sum_i v_i ReLU(W_O(i,:) y_l),  v_i in {+1/sqrt(m), -1/sqrt(m)} drawn once, fixed

The earlier reading (``reading = "gate-only"``; kept for comparison, docs/features.md) drops the content factor
and uses a half/half head:

(F1) gate       sigma_l = sigmoid(w^T x_l)                      (A = -I, Delta_l = softplus(w^T x_l))
(F2) recurrence h_0 = 0,  h_l = (1 - sigma_l) h_{l-1} + sigma_l x_l,  y_l = h_l          (raw selective scan)
(F3) closed form y_l = sum_{s<=l} beta_s^(l) x_s,  beta_s^(l) = sigma_s prod_{j=s+1}^{l} (1 - sigma_j)
                 log beta_s^(l) = -softplus(-w^T x_s) - sum_{j=s+1}^{l} softplus(w^T x_j)
(F4) linear attention (``lt-mlp``)  y_l = (1/l) sum_{s<=l} (x_s^T W x_l) x_s
(F5) head       F(X) = (1/L) sum_l sum_i a_i ReLU(v_i^T y_l),   a_i = +1/m (i < m/2), -1/m (else), fixed
(F6) loss       hinge  max(0, 1 - y F(X)), averaged over the batch

The linear-attention counterpart (F4) is Eq. 5 with ``beta_s^(t)`` replaced by ``1/t`` (``W = W_B W_C^T``), or by
``1/k`` over the last ``k`` tokens when ``window = k`` (local attention, Fig. 6).

Glossary: ``w`` (d,) = gating vector w_Delta; ``W_B``, ``W_C`` (d, r) = the input/output projections of Eq. 2
(``r = d``; ``W^(0) = wbc0 I_d``); ``W`` (d, d) = W_K^T W_Q of the linear attention; ``V`` (m, d) = first MLP
layer W_O (rows W_O(i,:)); ``a`` (m,) = second layer v (fixed); ``Y`` (N, L, d) = per-token outputs y_l;
``beta`` (N, L, L) = gate products beta_s^(l) (index ``[n, l, s]``, zero for ``s > l``); ``S`` (N, L, L) =
content scores ``b_s^T c_l`` (index ``[n, l, s]``).

The raw scan (:func:`scan_recurrence`, a plain loop) and the closed form (:func:`mix_closed_form`, log space) are
two independent implementations, tested equal; the fast path is the Numba scan in
:mod:`mamba_dynamics.features.gradients`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..core.gates import VectorGate
from ..core.gating import sigmoid
from ..core.mixer import log_gate_matrix_reference
from ..core.train import ParamBlocks
from .config import FeaturesConfig


@dataclass
class Params(ParamBlocks):
    """Trainable state. w: ``(d,)`` gating vector (SSM; GLA's ``W_a`` ``(d, r)``, ``t = W_a^T x``); W: ``(d, d)`` attention matrix (lt-mlp); V: ``(m, d)``
    = W_O; a: ``(m,)`` fixed output layer; W_B, W_C: ``(d, d)`` projections of Eq. 2 (paper reading)."""

    w: np.ndarray
    W: np.ndarray
    V: np.ndarray
    a: np.ndarray
    W_B: np.ndarray = None
    W_C: np.ndarray = None

    def __post_init__(self):
        d = len(self.w)
        if self.W_B is None:
            self.W_B = np.eye(d)
        if self.W_C is None:
            self.W_C = np.eye(d)


def output_layer(m: int) -> np.ndarray:
    """The fixed second layer ``a`` ``(m,)``: first half ``+1/m``, second half ``-1/m``."""
    a = np.full(m, -1.0 / m)
    a[: (m + 1) // 2] = 1.0 / m
    return a


def output_layer_random(m: int, rng: np.random.Generator) -> np.ndarray:
    """Eq. 6's fixed second layer ``v`` ``(m,)``: each entry ``+1/sqrt(m)`` or ``-1/sqrt(m)`` with probability 1/2."""
    return np.where(rng.random(m) < 0.5, 1.0, -1.0) / np.sqrt(m)


def init_params(cfg: FeaturesConfig, rng: np.random.Generator) -> Params:
    """``w = 0`` (every gate 1/2, so ``beta_s^(l) = 2^-(l-s+1)``), ``W = I``, ``V ~ N(0, v0^2 I)``; paper reading:
    ``W_B = W_C = wbc0 I_d`` (``W_B`` times ``sigma`` for a gate fixed at ``gate_sigma``) and the random Eq. 6 output
    layer; gate-only reading: the half/half layer.  GLA's
    gate (``gate_type = "gla"``): ``w`` = ``W_a = 0`` ``(d, d)`` (every decay ``2^(-1/tau)``)."""
    V = cfg.v0 * rng.standard_normal((cfg.m, cfg.d))
    if cfg.content:
        a = output_layer_random(cfg.m, rng)
        return Params(w=np.zeros((cfg.d, cfg.d) if cfg.gate_type == "gla" else cfg.d), W=np.eye(cfg.d), V=V, a=a,
                      W_B=cfg.wbc0 * cfg.input_scale * np.eye(cfg.d), W_C=cfg.wbc0 * np.eye(cfg.d))
    return Params(w=np.zeros(cfg.d), W=np.eye(cfg.d), V=V, a=output_layer(cfg.m))


def scan_recurrence(X: np.ndarray, w: np.ndarray) -> np.ndarray:
    """(F2) literally: ``X`` ``(N, L, d)``, ``w`` ``(d,)`` -> ``Y`` ``(N, L, d)``."""
    sig = sigmoid(X @ w)
    h = np.zeros((X.shape[0], X.shape[2]))
    Y = np.empty_like(X)
    for l in range(X.shape[1]):
        h = (1.0 - sig[:, l, None]) * h + sig[:, l, None] * X[:, l]
        Y[:, l] = h
    return Y


def log_beta(t: np.ndarray, gate=None) -> np.ndarray:
    """(F3) log gate products from pre-activations ``t = X w`` ``(N, L)`` -> ``(N, L, L)`` indexed ``[n, l, s]``
    (``-inf`` for ``s > l``): ``log sigma_s + sum_{s<j<=l} log(1 - sigma_j)``, or with ``gate`` (a
    :class:`~mamba_dynamics.core.gates.Gate`) ``log a(t_s) + sum_{s<j<=l} log lambda(t_j)``: the shared mixer's
    :func:`~mamba_dynamics.core.mixer.log_gate_matrix_reference`."""
    return log_gate_matrix_reference(t, True if gate is None else gate)


def mix_closed_form(X: np.ndarray, w: np.ndarray) -> np.ndarray:
    """(F3): ``Y[n, l] = sum_s beta_s^(l) x_s``; ``X`` ``(N, L, d)`` -> ``(N, L, d)``."""
    return np.einsum("nls,nsd->nld", np.exp(log_beta(X @ w)), X)


def scan_content_recurrence(X: np.ndarray, w: np.ndarray, W_B: np.ndarray, W_C: np.ndarray) -> np.ndarray:
    """Eqs. 2-3 literally, with the ``(d, r)`` state: ``X`` ``(N, L, d)``, ``w`` ``(d,)``, ``W_B``, ``W_C``
    ``(d, r)`` -> ``Y`` ``(N, L, d)``."""
    sig = sigmoid(X @ w)
    H = np.zeros((X.shape[0], X.shape[2], W_B.shape[1]))
    Y = np.empty_like(X)
    for l in range(X.shape[1]):
        x = X[:, l]
        H = (1.0 - sig[:, l, None, None]) * H + sig[:, l, None, None] * x[:, :, None] * (x @ W_B)[:, None, :]
        Y[:, l] = np.einsum("ndr,nr->nd", H, x @ W_C)
    return Y


def content_scores(X: np.ndarray, W_B: np.ndarray, W_C: np.ndarray) -> np.ndarray:
    """``S[n, l, s] = (W_B^T x_s)^T (W_C^T x_l)`` ``(N, L, L)`` (all pairs; the mixers mask ``s > l``)."""
    return np.einsum("nsr,nlr->nls", X @ W_B, X @ W_C)


def mix_content(X: np.ndarray, w: np.ndarray, W_B: np.ndarray, W_C: np.ndarray, gate=None) -> np.ndarray:
    """(Eq. 5) closed form: ``Y[n, l] = sum_{s<=l} beta_s^(l) S[n, l, s] x_s``; ``(N, L, d)`` (``gate``: the
    mixer's :class:`~mamba_dynamics.core.gates.Gate`, Mamba's when None)."""
    return np.einsum("nls,nsd->nld", np.exp(log_beta(X @ w, gate)) * content_scores(X, W_B, W_C), X)


def attention_weights(L: int, window: int = 0) -> np.ndarray:
    """``(L, L)`` weights of (F4): ``1/l`` on ``s <= l`` (global), or ``1/window`` on the last ``window`` tokens
    ``l - window < s <= l`` (``1/l`` while ``l < window``)."""
    rows = np.arange(L)[:, None]
    cols = np.arange(L)[None, :]
    keep = (cols <= rows) & ((window == 0) | (cols > rows - window))
    return keep / keep.sum(axis=1, keepdims=True)


def mix_attention(X: np.ndarray, W: np.ndarray, window: int = 0) -> np.ndarray:
    """(F4) causal linear attention, global or windowed: ``X`` ``(N, L, d)``, ``W`` ``(d, d)`` -> ``(N, L, d)``."""
    S = np.einsum("nsd,de,nle->nls", X, W, X) * attention_weights(X.shape[1], window)[None]
    return np.einsum("nls,nsd->nld", S, X)


def mix_softmax(X: np.ndarray, W: np.ndarray, att) -> np.ndarray:
    """Causal softmax attention (``st-mlp``; :mod:`mamba_dynamics.core.attention`) in NumPy: ``y_l = mean_k sum_s
    softmax_s(x_s^T W^k x_l / tau) x_s`` over ``s <= l`` (the last ``window`` tokens when set); ``(N, L, d)``."""
    from ..core.attention import softmax_forward_reference

    return softmax_forward_reference(X, X, X @ W.T, att)


def mix(params: Params, X: np.ndarray, gated, content: bool = False, window: int = 0,
        attention=None) -> np.ndarray:
    """The model's per-token outputs ``(N, L, d)``: SSM closed form (Eq. 5 with ``content``, else F3), linear
    attention (F4), or softmax attention (``attention`` given).  ``gated``: True (Mamba's gate), a
    :class:`~mamba_dynamics.core.gates.Gate` (Eq. 5 with that gate), GLA's
    :class:`~mamba_dynamics.core.gates.VectorGate` (Eq. 5 with a decay per key coordinate,
    :func:`~mamba_dynamics.core.gla_mixer.gla_mix_forward_reference`) or False (attention)."""
    if attention is not None:
        return mix_softmax(X, params.W, attention)
    if isinstance(gated, VectorGate):
        from ..core.gla_mixer import gla_mix_forward_reference

        return gla_mix_forward_reference(X, X @ params.W_B, X @ params.W_C, X @ params.w, gated)
    if gated:
        gate = gated if not isinstance(gated, bool) else None
        return mix_content(X, params.w, params.W_B, params.W_C, gate) if content else mix_closed_form(X, params.w)
    return mix_attention(X, params.W, window)


def head(Y: np.ndarray, V: np.ndarray, a: np.ndarray) -> np.ndarray:
    """(F5) ``F`` ``(N,)`` from outputs ``Y`` ``(N, L, d)``, ``V`` ``(m, d)``, ``a`` ``(m,)``."""
    return (np.maximum(Y @ V.T, 0.0) @ a).sum(axis=1) / Y.shape[1]


def forward(params: Params, X: np.ndarray, gated, content: bool = False, window: int = 0,
            attention=None) -> np.ndarray:
    """``F(X)`` ``(N,)``."""
    return head(mix(params, X, gated, content, window, attention), params.V, params.a)
