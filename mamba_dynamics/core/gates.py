"""The gated-mixer family of arXiv 2510.00399 App. E.6 as one scalar gate: an input coefficient times a product of
decays, with their log-derivatives (shared by every family's gated models).

Per token ``j`` with gate pre-activation ``t_j`` (``t_j = w^T p_j`` in eq. 3), example ``i`` reaches the query
``l+1`` with weight

    G_i = a(t_i) prod_{j=i+1}^{l+1} lambda(t_j),       log G_i = log a(t_i) + sum_{j>i} log lambda(t_j)

and its derivative is ``d log G_i / dt_j = alpha(t_j) 1{j = i} + beta(t_j) 1{j > i}`` with ``alpha = (log a)'``,
``beta = (log lambda)'``.  So every hand-derived gate gradient of the package is ``sum_i q_i [alpha_i p_i +
sum_{j>i} beta_j p_j] = sum_j (q_j alpha_j + Q_j beta_j) p_j`` with ``Q_j = sum_{i<j} q_i`` (docs/gated_mixers.md):

==========  =======================================  ======================  ==================  =====================
kind        source (App. E.6 reading)                a(t)                    lambda(t)           alpha, beta
==========  =======================================  ======================  ==================  =====================
``mamba``   Mamba, A = -1, zero-order hold (eq. 3)   sigmoid(t)              1 - sigmoid(t)      1 - sigma, -sigma
``mamba2``  Mamba-2, scalar A = -1, Euler input      softplus(t) = Delta     exp(-Delta)         sigma / Delta, -sigma
``gret``    gated retention (gate ^ 1/tau)           1                       sigmoid(t)^(1/tau)  0, (1 - sigma) / tau
``retnet``  RetNet, fixed decay gamma                1                       gamma               0, 0
``none``    linear Transformer                       1                       1                   0, 0
==========  =======================================  ======================  ==================  =====================

(``sigma = sigmoid(t)``, ``Delta = softplus(t)``.)  ``gla`` (a vector gate on the key dimension) has its own
model; its per-coordinate decay is ``gret``'s ``lambda`` (:func:`log_decay` with kind ``"gret"``).

Numerics: every log is formed without cancellation (``log sigmoid(t) = -softplus(-t)``; ``log softplus(t)`` from
``softplus`` computed as ``max(t, 0) + log1p(exp(-|t|))``); the products are sums of logs (NumPy) or running
products with exact power-of-two rescaling (the kernels), so nothing overflows for any ``t`` or ``l``.

Glossary: ``code`` = the kind as an integer for the Numba kernels (:data:`CODES`); ``inv_tau`` = ``1/tau``;
``gamma`` = RetNet's decay; ``A``, ``LAM`` = ``a(t_j)``, ``lambda(t_j)``; ``AL``, ``BE`` = ``alpha(t_j)``,
``beta(t_j)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

from .gating import _sigmoids_from_exp, softplus
from .simd import exp_nonpos, log1p_unit

#: the scalar gate kinds and what each is (``--gate`` / model names)
KINDS = {"mamba": "Mamba: input sigmoid(t), decay 1 - sigmoid(t) (zero-order hold, A = -1; eq. 3)",
         "mamba2": "Mamba-2: input Delta = softplus(t), decay exp(-Delta) (scalar A = -1, Euler input)",
         "gret": "gated retention: no input gate, decay sigmoid(t)^(1/tau)",
         "retnet": "RetNet: no input gate, fixed decay gamma (nothing learned in the gate)",
         "none": "no gate (linear attention): G == 1"}
#: below this pre-activation Mamba-2's ``log Delta = t`` and ``sigma / Delta = 1`` to double precision
SMALL_T = -40.0
#: integer codes of the kinds, as the Numba kernels take them
CODES = {"none": 0, "mamba": 1, "mamba2": 2, "gret": 3, "retnet": 4}
NONE, MAMBA, MAMBA2, GRET, RETNET = (CODES[k] for k in ("none", "mamba", "mamba2", "gret", "retnet"))
#: gated retention's usual exponent 1/tau (tau = 16, as in the issue's reading of the GLA / gated-retention papers)
DEFAULT_TAU = 16.0
#: RetNet's decay for one head: 1 - 2^-5 (RetNet gives head h the decay 1 - 2^(-5-h); head 0 here)
DEFAULT_GAMMA = 1.0 - 2.0 ** -5


@dataclass(frozen=True)
class Gate:
    """A scalar gate: ``kind`` (:data:`KINDS`), gated retention's ``tau > 0`` and RetNet's decay ``gamma`` in
    ``(0, 1)`` (each read by its kind only).  ``bool(gate)`` is False for ``"none"`` alone."""

    kind: str = "mamba"
    tau: float = DEFAULT_TAU
    gamma: float = DEFAULT_GAMMA

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"unknown gate {self.kind!r}; choose one of {', '.join(KINDS)}")
        if not (np.isfinite(self.tau) and self.tau > 0):
            raise ValueError(f"gate tau must be positive and finite, got {self.tau}")
        if not 0 < self.gamma < 1:
            raise ValueError(f"gate gamma must lie in (0, 1), got {self.gamma}")

    def __bool__(self) -> bool:
        return self.kind != "none"

    @property
    def code(self) -> int:
        return CODES[self.kind]

    @property
    def learned(self) -> bool:
        """Whether the gate depends on ``t`` (``w`` is trained): not for RetNet or no gate."""
        return self.kind in ("mamba", "mamba2", "gret")

    @property
    def args(self) -> tuple:
        """``(code, 1/tau, gamma)``: what the Numba kernels take."""
        return self.code, 1.0 / self.tau, float(self.gamma)


MAMBA_GATE = Gate("mamba")
NO_GATE = Gate("none")


def as_gate(gated) -> Gate:
    """A :class:`Gate` from ``gated``: a Gate is itself, True is Mamba's, False (or None) no gate."""
    if isinstance(gated, Gate):
        return gated
    return MAMBA_GATE if gated else NO_GATE


# ------------------------------------------------------------------------------------- NumPy (any shape of t)


def log_coef(t: np.ndarray, gate: Gate) -> np.ndarray:
    """``log a(t)`` elementwise (``t`` any shape)."""
    t = np.asarray(t, dtype=np.float64)
    if gate.kind == "mamba":
        return -softplus(-t)
    if gate.kind == "mamba2":  # log softplus(t); below -40 it is t to double precision (softplus may underflow)
        with np.errstate(divide="ignore"):
            return np.where(t < SMALL_T, t, np.log(softplus(t)))
    return np.zeros_like(t)


def log_decay(t: np.ndarray, gate: Gate) -> np.ndarray:
    """``log lambda(t)`` elementwise."""
    t = np.asarray(t, dtype=np.float64)
    if gate.kind in ("mamba", "mamba2"):
        return -softplus(t)
    if gate.kind == "gret":
        return -softplus(-t) / gate.tau
    if gate.kind == "retnet":
        return np.full_like(t, np.log(gate.gamma))
    return np.zeros_like(t)


def dlog_coef(t: np.ndarray, gate: Gate) -> np.ndarray:
    """``alpha(t) = d log a / dt`` elementwise."""
    t = np.asarray(t, dtype=np.float64)
    if gate.kind == "mamba":
        return np.exp(-softplus(t))
    if gate.kind == "mamba2":  # sigma / softplus -> 1 as t -> -inf (both underflow past -745)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(t < SMALL_T, 1.0, np.exp(-softplus(-t)) / softplus(t))
    return np.zeros_like(t)


def dlog_decay(t: np.ndarray, gate: Gate) -> np.ndarray:
    """``beta(t) = d log lambda / dt`` elementwise."""
    t = np.asarray(t, dtype=np.float64)
    if gate.kind in ("mamba", "mamba2"):
        return -np.exp(-softplus(-t))
    if gate.kind == "gret":
        return np.exp(-softplus(t)) / gate.tau
    return np.zeros_like(t)


def log_gates(t: np.ndarray, gate: Gate) -> np.ndarray:
    """O(l) log-gates: ``t`` ``(..., l+1)`` pre-activations (query last) -> ``(..., l)`` values ``log G_i``
    (a reverse cumulative sum of the log decays)."""
    c = log_decay(t, gate)
    suffix = np.cumsum(c[..., ::-1], axis=-1)[..., ::-1]  # suffix[i] = sum_{j >= i} log lambda_j
    return log_coef(t[..., :-1], gate) + suffix[..., 1:]


def log_gates_naive(t: np.ndarray, gate: Gate) -> np.ndarray:
    """Reference O(l^2) log-gates, the product written out (``later[i, j] = 1{j > i}``).  Shapes as
    :func:`log_gates`."""
    lp1 = t.shape[-1]
    later = np.triu(np.ones((lp1 - 1, lp1)), k=1)
    return log_coef(t[..., :-1], gate) + log_decay(t, gate) @ later.T


# ------------------------------------------------------------------------------ the vector gate (GLA)


@dataclass(frozen=True)
class VectorGate:
    """GLA's gate: a decay per key coordinate ``alpha_ja = sigmoid(t_ja)^(1/tau)``, ``t_j = W_a p_j`` ``(m,)``, no
    input coefficient; coordinate ``a`` of example ``i`` reaches the query with ``D_ia = prod_{j>i} alpha_ja``.
    Each coordinate's decay is gated retention's (:attr:`decay`)."""

    tau: float = DEFAULT_TAU
    kind = "gla"
    learned = True

    def __post_init__(self):
        if not (np.isfinite(self.tau) and self.tau > 0):
            raise ValueError(f"gate tau must be positive and finite, got {self.tau}")

    @property
    def decay(self) -> Gate:
        """The scalar gate of one coordinate (gated retention's, with this ``tau``)."""
        return Gate("gret", tau=self.tau)


def vector_log_gates(T: np.ndarray, gate: VectorGate) -> np.ndarray:
    """``log D_ia = sum_{j>i} log alpha_ja`` ``(..., l, m)`` from ``T`` ``(..., l+1, m)`` (query last): a reverse
    cumulative sum over the tokens, per coordinate."""
    c = log_decay(T, gate.decay)
    return np.cumsum(c[..., ::-1, :], axis=-2)[..., ::-1, :][..., 1:, :]


def vector_log_gates_naive(T: np.ndarray, gate: VectorGate) -> np.ndarray:
    """Reference of :func:`vector_log_gates`: the sum over ``j > i`` written out (``later[i, j] = 1{j > i}``)."""
    lp1 = T.shape[-2]
    later = np.triu(np.ones((lp1 - 1, lp1)), k=1)
    return np.einsum("ij,...ja->...ia", later, log_decay(T, gate.decay))


# ------------------------------------------------------------------------------------------- Numba (scalar)


@njit(cache=True, inline="always")
def gate_terms(code: int, t: float, inv_tau: float, gamma: float) -> tuple:
    """``(a, lambda, alpha, beta)`` at one pre-activation ``t`` for the kind ``code`` (:data:`CODES`), from one
    ``e = exp(-|t|)`` and, where a log is needed, ``log1p(e)``, without cancellation: ``softplus(t) = max(t, 0) +
    log1p(e)``, ``log sigmoid(t) = -(max(-t, 0) + log1p(e))``, gated retention's decay ``exp(log sigmoid(t) /
    tau)``.  The ``exp`` and ``log1p`` are :func:`~mamba_dynamics.core.simd.exp_nonpos` and
    :func:`~mamba_dynamics.core.simd.log1p_unit` (arithmetic alone, within 1 and 3 ulp of libm), so a loop of
    gate terms vectorises (Numba, inlined into the kernels' gate passes; Mamba's kernels keep their own
    one-exp form)."""
    if code == 4:  # RetNet
        return 1.0, gamma, 0.0, 0.0
    if code == 0:
        return 1.0, 1.0, 0.0, 0.0
    e = exp_nonpos(-abs(t))
    s, k = _sigmoids_from_exp(t, e)
    if code == 1:  # Mamba
        return s, k, k, -s
    lg = log1p_unit(e)
    if code == 2:  # Mamba-2; sigma / Delta = 1 - e^t / 2 + ... is 1 below t = -40 (where both may underflow)
        dt = (t if t > 0.0 else 0.0) + lg
        return dt, k, (s / dt if t >= SMALL_T else 1.0), -s
    lsp = -((-t if t < 0.0 else 0.0) + lg)  # log sigmoid(t), gated retention
    return 1.0, exp_nonpos(lsp * inv_tau), 0.0, k * inv_tau


# --------------------------------------------------------------------------------------------------- sympy


def symbolic_terms(t, gate: Gate):
    """``(a, lambda)`` of ``gate`` as sympy expressions of the symbol (or expression) ``t``, from the raw
    definitions (``sigmoid = 1 / (1 + e^-t)``, ``softplus = log(1 + e^t)``): what the derivations differentiate."""
    import sympy as sp

    sig = 1 / (1 + sp.exp(-t))
    delta = sp.log(1 + sp.exp(t))
    if gate.kind == "mamba":
        return sig, 1 - sig
    if gate.kind == "mamba2":
        return delta, sp.exp(-delta)
    if gate.kind == "gret":
        return sp.Integer(1), sig ** (sp.Integer(1) / sp.nsimplify(gate.tau))
    if gate.kind == "retnet":
        return sp.Integer(1), sp.nsimplify(gate.gamma)
    return sp.Integer(1), sp.Integer(1)


def slope_checks(gate: Gate) -> dict:
    """``alpha`` and ``beta`` as written in :func:`gate_terms` (and :func:`dlog_coef`, :func:`dlog_decay`) minus
    sympy's derivative of ``log a`` and ``log lambda`` from the raw definitions, simplified (both 0 when they
    hold), and the same at ten points in 30 digits (``num_*``, below 1e-25 when they hold)."""
    import sympy as sp

    t = sp.Symbol("t", real=True)
    a, lam = symbolic_terms(t, gate)
    sig = 1 / (1 + sp.exp(-t))
    delta = sp.log(1 + sp.exp(t))
    hand = {"mamba": (1 - sig, -sig), "mamba2": (sig / delta, -sig),
            "gret": (sp.Integer(0), (1 - sig) / sp.nsimplify(gate.tau)),
            "retnet": (sp.Integer(0), sp.Integer(0)), "none": (sp.Integer(0), sp.Integer(0))}[gate.kind]
    out = {}
    for name, expr, h in (("alpha", sp.log(a), hand[0]), ("beta", sp.log(lam), hand[1])):
        diff = sp.diff(expr, t) - h
        out[name] = sp.simplify(diff)
        out[f"num_{name}"] = max(abs(float(diff.subs(t, sp.Rational(str(v))).evalf(30))) for v in
                                 (-30, -5, -1.5, -0.3, 0, 0.2, 1, 3.7, 9, 40))
    return out


__all__ = ["KINDS", "CODES", "Gate", "MAMBA_GATE", "NO_GATE", "as_gate", "log_coef", "log_decay", "dlog_coef",
           "dlog_decay", "log_gates", "log_gates_naive", "gate_terms", "symbolic_terms", "slope_checks",
           "DEFAULT_TAU", "DEFAULT_GAMMA", "VectorGate", "vector_log_gates", "vector_log_gates_naive"]
