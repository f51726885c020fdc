"""Hand-derived gradients of the hinge loss (F6) of the feature-filtering models (arXiv 2602.12499): the
derivation, the gate-only reading's Numba scan, and the plain NumPy reference every fast path is checked against.

Derivation (docs/features.md, eqs. F7-F10).  With ``g_n = -y_n 1{y_n F_n < 1} / N`` and
``r_{n,l,i} = g_n a_i 1{v_i^T y_l > 0} / L``:

(F7)  dLoss/dv_i = sum_{n,l} r_{n,l,i} y_{n,l}            dLoss/dy_{n,l} =: Gy_{n,l} = sum_i r_{n,l,i} v_i
(F8)  SSM, adjoint of the scan (F2):  G_L = Gy_L,  G_l = Gy_l + (1 - sigma_{l+1}) G_{l+1},
      dLoss/dw = sum_{n,l} sigma_l (1 - sigma_l) <G_l, x_l - h_{l-1}> x_l                       (O(L d))
(F9)  SSM, closed form (F3):  dbeta_s^(l)/dw = beta_s^(l) [ (1 - sigma_s) x_s - sum_{j=s+1}^{l} sigma_j x_j ],
      dLoss/dw = sum_{n, s<=l} <Gy_l, x_s> dbeta_s^(l)/dw                                        (O(L^2 d))
(F10) linear attention (F4):  dLoss/dW = sum_{n, s<=l} omega_{l,s} <Gy_l, x_s> x_s x_l^T   (omega = 1/l, or 1/k in a
      window of the last k tokens)

The paper's mixer (Eq. 5, ``content``), with ``b_t = W_B^T x_t``, ``c_t = W_C^T x_t``, state ``H_t`` ``(d, r)``:

(P1)  adjoint of the scan H_t = (1 - sigma_t) H_{t-1} + sigma_t x_t b_t^T, y_t = H_t c_t:
      Gh_L = Gy_L c_L^T,  Gh_t = Gy_t c_t^T + (1 - sigma_{t+1}) Gh_{t+1}                           ((d, r))
      dLoss/dw   = sum_t sigma_t (1 - sigma_t) [ x_t^T Gh_t b_t - <Gh_t, H_{t-1}>_F ] x_t
      dLoss/dW_B = sum_t sigma_t x_t (Gh_t^T x_t)^T        dLoss/dW_C = sum_t x_t (H_t^T Gy_t)^T        (O(L d r))
(P2)  closed form, with C_{ts} = <Gy_t, x_s>, S_{ts} = b_s^T c_t, M = C * beta:
      dLoss/dw = (F9) with C replaced by C * S;   dLoss/db_s = sum_t M_{ts} c_t,  dLoss/dc_t = sum_s M_{ts} b_s,
      dLoss/dW_B = sum_s x_s (dLoss/db_s)^T,  dLoss/dW_C = sum_t x_t (dLoss/dc_t)^T                (O(L^2 (d + r)))

Where each fast path lives (every one a Numba kernel, ``@njit(cache=True)``, serial, fastmath off), beside its
reference here:

===================================  ===========================================================================
model                                fast path
===================================  ===========================================================================
``ssm`` (Eq. 5, P1/P2)               :mod:`mamba_dynamics.features.content` (the core mixer: P1 = M1/M3-M4,
                                     P2 = M2)
``lt-mlp`` (F4, F10)                 :mod:`mamba_dynamics.features.attention`
``ssm``, gate-only reading (F2, F8)  :func:`gate_only_grads` here (:func:`ssm_scan`, :func:`ssm_scan_adjoint`)
the head (F7), every model           :mod:`mamba_dynamics.features.head`
deep stacks                          :mod:`mamba_dynamics.features.stack`
===================================  ===========================================================================

:func:`hinge_grads_reference` is plain NumPy: the closed form (F3) in log space, the closed-form derivative (F9),
a per-neuron head and einsum (F10); it shares no code with the fast paths beyond ``softplus``.  Every path
returns a :class:`~mamba_dynamics.core.losses.LossGrad` ``(loss, grads, F)`` with ``grads`` holding ``"w"``
``(d,)`` (SSM), ``"W_B"``, ``"W_C"`` ``(d, r)`` (SSM with ``content``) or ``"W"`` ``(d, d)`` (attention), and
``"V"`` ``(m, d)``; ``F`` ``(N,)``.  ``st-mlp`` (causal softmax attention) runs the core's softmax mixer
(:func:`mamba_dynamics.features.attention.softmax_grads`).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ..core import gates
from ..core.gates import VectorGate, as_gate
from ..core.gating import softplus_scalar
from ..core.losses import LossGrad
from ..core.workspace import Workspace, getter
from . import model
from .head import f64, head, head_reference


@njit(cache=True)
def ssm_scan(X, w, Y, T):
    """(F2) for a batch: ``X`` ``(N, L, d)``, ``w`` ``(d,)``; writes ``Y`` ``(N, L, d)`` and the gate
    pre-activations ``T`` ``(N, L)``."""
    N, L, d = X.shape
    for n in range(N):
        for l in range(L):
            t = 0.0
            for k in range(d):
                t += X[n, l, k] * w[k]
            T[n, l] = t
            s = np.exp(-softplus_scalar(-t))  # sigma(t)
            keep = np.exp(-softplus_scalar(t))  # 1 - sigma(t)
            for k in range(d):
                prev = Y[n, l - 1, k] if l > 0 else 0.0
                Y[n, l, k] = keep * prev + s * X[n, l, k]


@njit(cache=True)
def ssm_scan_adjoint(X, Y, T, Gy, dw):
    """(F8): accumulate ``dLoss/dw`` into ``dw`` ``(d,)`` from ``Gy = dLoss/dY`` ``(N, L, d)``."""
    N, L, d = X.shape
    G = np.empty(d)
    for n in range(N):
        for k in range(d):
            G[k] = 0.0
        for l in range(L - 1, -1, -1):
            if l < L - 1:
                keep_next = np.exp(-softplus_scalar(T[n, l + 1]))
                for k in range(d):
                    G[k] = Gy[n, l, k] + keep_next * G[k]
            else:
                for k in range(d):
                    G[k] = Gy[n, l, k]
            dot = 0.0
            for k in range(d):
                prev = Y[n, l - 1, k] if l > 0 else 0.0
                dot += G[k] * (X[n, l, k] - prev)
            t = T[n, l]
            coef = dot * np.exp(-softplus_scalar(t) - softplus_scalar(-t))  # sigma (1 - sigma) <G, x - h>
            for k in range(d):
                dw[k] += coef * X[n, l, k]


def gate_only_outputs(X: np.ndarray, w: np.ndarray, work: Workspace | None = None) -> tuple:
    """(F2) for a batch: ``(Y (N, L, d), T (N, L))`` by :func:`ssm_scan`, in ``work``'s arrays when given."""
    get = getter(work)
    X = f64(X)
    Y, T = get("Ymix", X.shape), get("T", X.shape[:2])
    ssm_scan(X, f64(w), Y, T)
    return Y, T


def gate_only_grads(params: "model.Params", X: np.ndarray, y: np.ndarray,
                    work: Workspace | None = None) -> LossGrad:
    """The gate-only reading's hinge loss and gradients ``{"w": (d,), "V": (m, d)}`` (F2, F7, F8): the scan, the
    head (in ``work``'s arrays), the adjoint of the scan.  ``X`` ``(N, L, d)``, ``y`` ``(N,)``."""
    X = f64(X)
    Y, T = gate_only_outputs(X, params.w)
    loss, F, dV, Gy, _ = head(Y, params.V, params.a, y, compact=False, work=work)
    dw = np.zeros(X.shape[2])
    ssm_scan_adjoint(X, Y, T, f64(Gy), dw)
    return LossGrad(loss, {"w": dw, "V": dV}, F)


def hinge_grads_reference(params: "model.Params", X: np.ndarray, y: np.ndarray, gated,
                          content: bool = False, window: int = 0, attention=None) -> LossGrad:
    """Plain NumPy reference of every one-layer model: closed forms (F3)/(Eq. 5)/(F4)
    (:func:`~mamba_dynamics.features.model.mix`), per-neuron head (F7,
    :func:`~mamba_dynamics.features.head.head_reference`), derivatives (F9)/(P2)/(F10) written out with einsum.
    ``X`` ``(N, L, d)``, ``y`` ``(N,)``; ``grads`` as the fast paths' (every block, ``W_B``, ``W_C`` included).
    ``attention``: softmax attention (``st-mlp``), its derivative written out with the softmax's Jacobian
    (:func:`~mamba_dynamics.core.attention.softmax_adjoint_reference`), ``dLoss/dW = sum_t dC_t x_t^T``."""
    L = X.shape[1]
    Y = model.mix(params, X, gated, content, window, attention)
    loss, F, dV, Gy = head_reference(Y, params.V, params.a, y)
    if attention is not None:
        from ..core.attention import softmax_adjoint_reference

        _, _, dC = softmax_adjoint_reference(X, X, X @ params.W.T, attention, Gy)
        return LossGrad(loss, {"W": np.einsum("ntk,ntd->kd", dC, X), "V": dV}, F)
    if isinstance(gated, VectorGate):  # GLA: the vector-gate mixer's derivative written out (core.gla_mixer)
        from ..core.gla_mixer import gla_mix_adjoint_reference

        _, dB, dC, dT = gla_mix_adjoint_reference(X, X @ params.W_B, X @ params.W_C, X @ params.w, Gy, gated)
        return LossGrad(loss, {"w": np.einsum("nsd,nsr->dr", X, dT), "W_B": np.einsum("nsd,nsr->dr", X, dB),
                               "W_C": np.einsum("nld,nlr->dr", X, dC), "V": dV}, F)
    C = np.einsum("nld,nsd->nls", Gy, X)  # C[n, l, s] = <Gy_l, x_s>
    if gated:
        t = X @ params.w
        gate = as_gate(gated)
        beta = np.exp(model.log_beta(t, gate))
        # d log beta_s^(l) / dw = alpha_s x_s + sum_{s<j<=l} beta_j x_j (Mamba: alpha = 1 - sigma, beta = -sigma)
        cum = np.cumsum(gates.dlog_decay(t, gate)[:, :, None] * X, axis=1)  # cum[l] = sum_{j<=l} beta_j x_j
        S = model.content_scores(X, params.W_B, params.W_C) if content else 1.0
        K = C * S * beta  # (N, l, s), zero above the diagonal
        own = gates.dlog_coef(t, gate)[:, :, None] * X - cum  # alpha_s x_s - sum_{j<=s} beta_j x_j
        dw = np.einsum("nls,nsd->d", K, own) + np.einsum("nls,nld->d", K, cum)
        if not content:
            return LossGrad(loss, {"w": dw, "V": dV}, F)
        M = C * beta
        Bp, Cp = X @ params.W_B, X @ params.W_C  # b_s, c_t  (N, L, r)
        db = np.einsum("nls,nlr->nsr", M, Cp)
        dc = np.einsum("nls,nsr->nlr", M, Bp)
        return LossGrad(loss, {"w": dw, "W_B": np.einsum("nsd,nsr->dr", X, db),
                               "W_C": np.einsum("nld,nlr->dr", X, dc), "V": dV}, F)
    dW = np.einsum("nls,nsd,nle->de", C * model.attention_weights(L, window)[None], X, X)
    return LossGrad(loss, {"W": dW, "V": dV}, F)


__all__ = ("ssm_scan", "ssm_scan_adjoint", "gate_only_outputs", "gate_only_grads", "hinge_grads_reference")
