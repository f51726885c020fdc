"""Hand-derived gradients of the hinge loss (F6) of the feature-filtering model, fast and reference.

Derivation (docs/features.md, eqs. F7-F10).  With ``g_n = -y_n 1{y_n F_n < 1} / N`` and
``r_{n,l,i} = g_n a_i 1{v_i^T y_l > 0} / L``:

(F7)  dLoss/dv_i = sum_{n,l} r_{n,l,i} y_{n,l}            dLoss/dy_{n,l} =: Gy_{n,l} = sum_i r_{n,l,i} v_i
(F8)  SSM, adjoint of the scan (F2):  G_L = Gy_L,  G_l = Gy_l + (1 - sigma_{l+1}) G_{l+1},
      dLoss/dw = sum_{n,l} sigma_l (1 - sigma_l) <G_l, x_l - h_{l-1}> x_l                       (O(L d))
(F9)  SSM, closed form (F3):  dbeta_s^(l)/dw = beta_s^(l) [ (1 - sigma_s) x_s - sum_{j=s+1}^{l} sigma_j x_j ],
      dLoss/dw = sum_{n, s<=l} <Gy_l, x_s> dbeta_s^(l)/dw                                        (O(L^2 d))
(F10) linear attention (F4):  dLoss/dW = sum_{n, s<=l} (1/l) <Gy_l, x_s> x_s x_l^T

:func:`loss_and_grad` is the fast path: Numba scan / attention kernels (``@njit(cache=True)``, serial,
fastmath off) for the mixer and its adjoint (F8, F10), BLAS for the head (F7).  :func:`loss_and_grad_reference`
is plain NumPy: the closed form (F3) in log space, the closed-form derivative (F9), a per-neuron head and
einsum (F10); it shares no code with the fast path beyond ``softplus``.

Both return a :class:`~mamba_dynamics.core.losses.LossGrad` ``(loss, grads, F)`` with ``grads = {"w" or "W": ...,
"V": (m, d)}`` and ``F`` ``(N,)``.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ..core.gating import softplus, softplus_scalar
from ..core.losses import LossGrad, hinge_loss, hinge_slope
from . import model


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


@njit(cache=True)
def attention_mix(X, W, Y):
    """(F4) for a batch: writes ``Y`` ``(N, L, d)``."""
    N, L, d = X.shape
    U = np.empty(d)
    for n in range(N):
        for l in range(L):
            for i in range(d):
                acc = 0.0
                for k in range(d):
                    acc += W[i, k] * X[n, l, k]
                U[i] = acc  # W x_l
            for k in range(d):
                Y[n, l, k] = 0.0
            for s in range(l + 1):
                score = 0.0
                for k in range(d):
                    score += X[n, s, k] * U[k]
                score /= l + 1
                for k in range(d):
                    Y[n, l, k] += score * X[n, s, k]


@njit(cache=True)
def attention_adjoint(X, Gy, dW):
    """(F10): accumulate ``dLoss/dW`` into ``dW`` ``(d, d)``."""
    N, L, d = X.shape
    Z = np.empty(d)
    for n in range(N):
        for l in range(L):
            for k in range(d):
                Z[k] = 0.0
            for s in range(l + 1):
                c = 0.0
                for k in range(d):
                    c += Gy[n, l, k] * X[n, s, k]
                c /= l + 1
                for k in range(d):
                    Z[k] += c * X[n, s, k]
            for i in range(d):
                for k in range(d):
                    dW[i, k] += Z[i] * X[n, l, k]


def _head_fast(Y, V, a, y):
    N, L, d = Y.shape
    flat = Y.reshape(N * L, d)
    Z = flat @ V.T
    F = (np.maximum(Z, 0.0) @ a).reshape(N, L).sum(axis=1) / L
    g = hinge_slope(F, y)
    R = (Z > 0.0) * a[None, :] * np.repeat(g / L, L)[:, None]
    return F, g, R.T @ flat, (R @ V).reshape(N, L, d)


def _mix_fast(params: "model.Params", X: np.ndarray, gated: bool):
    """Fast outputs ``Y`` ``(N, L, d)`` and, for the SSM, the gate pre-activations ``T`` ``(N, L)`` (else None)."""
    X = np.ascontiguousarray(X, dtype=np.float64)
    Y = np.empty_like(X)
    if gated:
        T = np.empty(X.shape[:2])
        ssm_scan(X, np.ascontiguousarray(params.w, dtype=np.float64), Y, T)
        return X, Y, T
    attention_mix(X, np.ascontiguousarray(params.W, dtype=np.float64), Y)
    return X, Y, None


def outputs(params: "model.Params", X: np.ndarray, gated: bool) -> np.ndarray:
    """Fast per-token outputs ``Y`` ``(N, L, d)`` (Numba scan or attention); O(L d) per sequence for the SSM."""
    return _mix_fast(params, X, gated)[1]


def predict(params: "model.Params", X: np.ndarray, gated: bool) -> np.ndarray:
    """Fast ``F(X)`` ``(N,)``."""
    return model.head(outputs(params, X, gated), params.V, params.a)


def loss_and_grad(params: "model.Params", X: np.ndarray, y: np.ndarray, gated: bool):
    """Fast hinge loss and gradients.  ``X`` ``(N, L, d)``, ``y`` ``(N,)``; inputs are not modified."""
    X, Y, T = _mix_fast(params, X, gated)
    d = X.shape[2]
    F, _, dV, Gy = _head_fast(Y, params.V, params.a, y)
    loss = hinge_loss(F, y)
    if gated:
        dw = np.zeros(d)
        ssm_scan_adjoint(X, Y, T, np.ascontiguousarray(Gy), dw)
        return LossGrad(loss, {"w": dw, "V": dV}, F)
    dW = np.zeros((d, d))
    attention_adjoint(X, np.ascontiguousarray(Gy), dW)
    return LossGrad(loss, {"W": dW, "V": dV}, F)


def loss_and_grad_reference(params: "model.Params", X: np.ndarray, y: np.ndarray, gated: bool):
    """Plain NumPy reference: closed forms (F3)/(F4), per-neuron head (F7), derivatives (F9)/(F10)."""
    N, L, d = X.shape
    Y = model.mix(params, X, gated)
    dV = np.zeros_like(params.V)
    Gy = np.zeros_like(Y)
    pre = np.einsum("nld,md->nlm", Y, params.V)
    F = np.einsum("nlm,m->n", np.maximum(pre, 0.0), params.a) / L
    g = hinge_slope(F, y)
    for i in range(params.V.shape[0]):
        r = (pre[:, :, i] > 0) * params.a[i] * g[:, None] / L  # (N, L)
        dV[i] = np.einsum("nl,nld->d", r, Y)
        Gy += r[:, :, None] * params.V[i][None, None, :]
    loss = hinge_loss(F, y)
    C = np.einsum("nld,nsd->nls", Gy, X)  # C[n, l, s] = <Gy_l, x_s>
    if gated:
        t = X @ params.w
        beta = np.exp(model.log_beta(t))
        sig = np.exp(-softplus(-t))
        keep = np.exp(-softplus(t))
        cum = np.cumsum(sig[:, :, None] * X, axis=1)  # cum[l] = sum_{j<=l} sigma_j x_j
        K = C * beta  # (N, l, s), zero above the diagonal
        own = keep[:, :, None] * X + cum  # (1 - sigma_s) x_s + sum_{j<=s} sigma_j x_j
        dw = np.einsum("nls,nsd->d", K, own) - np.einsum("nls,nld->d", K, cum)
        return LossGrad(loss, {"w": dw, "V": dV}, F)
    mask = np.tril(np.ones((L, L)))[None] / np.arange(1, L + 1)[None, :, None]
    dW = np.einsum("nls,nsd,nle->de", C * mask, X, X)
    return LossGrad(loss, {"W": dW, "V": dV}, F)
