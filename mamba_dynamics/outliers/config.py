"""Frozen, validated configuration of the outlier-ICL simulator (arXiv 2510.00399).

Every symbol of the paper's setting is one field; validation lives here and only here
(``OutlierConfig.__post_init__``), so the CLI, the sweeps and the tests all reject the same bad input
with the same one-line message (:class:`ConfigError`).

Glossary (code name -> paper symbol, Section 3 / Section 4 of the paper):

============== ============ =====================================================================
field          symbol       meaning
============== ============ =====================================================================
model          --           ``"mamba"`` (eq. 3), ``"lt"`` (linear Transformer, ``G_i == 1``), ``"st"`` (softmax), or
                            a gate of App. E.6's family: ``mamba2``, ``gret``, ``retnet``, ``gla`` (:data:`MODELS`)
gate_tau       tau          gated retention's and GLA's gate exponent ``sigmoid(.)^(1/tau)`` (16)
decay          gamma        RetNet's fixed decay (``1 - 2^-5``)
preset         --           ``plain`` (default: the paper's text read plainly) or ``tuned`` (the choices that make
                            Fig. 2 come out as reported); fills ``train_tasks``, ``outlier_count``, ``K_test`` and
                            ``kappa_a_test`` when they are not given (:data:`PRESETS`)
d              d            input dimension; prompts live in ``R^{d+1}`` (label channel last)
M1, M2, V      M_1, M_2, V  number of relevant / irrelevant / outlier patterns (``M1+M2+V <= d``)
beta           beta         norm of every relevant and irrelevant pattern (``beta >= 1``)
kappa_a        kappa_a      magnitude of a training outlier ``kappa_a v*_s`` (``||v*_s|| = 1``)
K              K            irrelevant-pattern scale ``kappa ~ U(-K, K)`` in training (``K <= 1/2``)
p_a            p_a          probability that a training context example carries an outlier
l_tr, l_ts     l_tr, l_ts   training / testing prompt length (context examples, query excluded)
train_tasks    T_tr         training-task split: ``matching``, ``ring``, ``random`` or ``all`` (data.py)
delta          delta        initial diagonal of ``W_B`` and ``W_C``
m              m            rows of ``W_B, W_C`` (hidden width; ``m >= d``, default ``d+1``)
layers         --           blocks in the stack (1 = the paper's one-layer model; Table 1 uses 3; docs/stacks.md)
norm           --           input of blocks 2..L: ``rms`` (RMSNorm of the residual stream, default) or ``none``
eta, batch     eta, B       SGD step and batch size (Algorithm 1)
steps          T            SGD iterations
alpha          alpha        fraction of outlier examples in a *test* prompt
kappa_a_test   kappa'_a     magnitude of a test outlier (``>= kappa_a``); plain ``kappa_a``, tuned ``kappa_a / L``
K_test         K'           irrelevant-pattern scale in test prompts; plain 1.5 (the paper allows ``K' > 1``), tuned K
test_coefs     --           rows = coefficients of the unseen outliers ``v'_s`` on ``v*_1..v*_V``
test_orth      --           weight of the part of ``v'_s`` orthogonal to every pattern
label_rule     (A)/(B)/(C)  test-outlier labels: ``flip`` / ``targeted`` / ``random``
placement      R/FQ/CQ      test-outlier positions: random / farthest from / closest to the query
outlier_count  --           ``exact``: round(alpha l_ts) outliers per test prompt; ``per-example``: each example is
                            an outlier with probability alpha (the paper's Def. 2)
diverge_norm   --           training stops as diverged when a parameter norm exceeds this
============== ============ =====================================================================

``L`` (the smallest coefficient sum of the ``v'_s``) is derived from ``test_coefs``
(:attr:`OutlierConfig.L`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar, Optional, Tuple

from ..core.config import (ConfigBase, ConfigError, check_choice, check_fraction, check_int, check_non_negative,
                           check_positive)

#: Model names of this family (``--model``) and what each is.
MODELS = {"mamba": "one-layer Mamba, eq. 3 of arXiv 2510.00399",
          "lt": "linear Transformer (gate G == 1), arXiv 2510.00399",
          "st": "softmax Transformer: eq. 3 with softmax-normalised attention weights, arXiv 2510.00399 App. B.1",
          "mamba2": "Mamba-2 gate in eq. 3: G_i = Delta_i prod_{j>i} exp(-Delta_j), Delta = softplus(w^T p) "
                    "(App. E.6)",
          "gret": "gated retention in eq. 3: G_i = prod_{j>i} sigmoid(w^T p_j)^(1/tau) (App. E.6)",
          "retnet": "RetNet in eq. 3: G_i = gamma^(l+1-i), a fixed decay (App. E.6)",
          "gla": "gated linear attention in eq. 3: a vector gate on the key dimension, "
                 "sigmoid(W_a p_j)^(1/tau) (App. E.6)"}
LABEL_RULES = ("flip", "targeted", "random")
PLACEMENTS = ("R", "FQ", "CQ")
TRAIN_TASKS = ("matching", "ring", "random", "all")
OUTLIER_COUNTS = ("exact", "per-example")
STACK_NORMS = ("rms", "none")
#: What each preset derives for the choices the paper leaves open (fields left unset).  ``plain``: the paper's text
#: read plainly (test outliers as large as training ones, Remark 3; each test example an outlier with probability
#: alpha, Def. 2; K' > 1; a task split that covers every pattern and was not picked for its result).  ``tuned``:
#: the values that make Fig. 2 come out as the paper reports it (docs/outliers.md, "Sensitivity").
PRESETS = {
    "plain": {"train_tasks": "random", "outlier_count": "per-example", "K_test": 1.5, "kappa_a_test": "kappa_a"},
    "tuned": {"train_tasks": "matching", "outlier_count": "exact", "K_test": "K", "kappa_a_test": "kappa_a / L"},
}

#: Unseen test outliers of the paper's Section 4 (coefficients on v*_1, v*_2, v*_3); their sums give L = 0.3.
PAPER_TEST_COEFS: Tuple[Tuple[float, ...], ...] = (
    (0.7, 0.6, -0.4),
    (0.4, 0.7, -0.6),
    (-0.7, 0.5, 0.5),
)


def _default_test_coefs(V: int) -> Tuple[Tuple[float, ...], ...]:
    """Coefficients of the unseen outliers: the paper's three for ``V == 3``, else ``V`` rotations of a fixed
    unit vector with coefficient sum ``>= 0.3`` (documented in docs/outliers.md)."""
    if V == 3:
        return PAPER_TEST_COEFS
    base = [1.0] + [0.0] * (V - 1)
    if V > 1:
        # A fixed, reproducible direction with mixed signs, sum >= 0.3, norm 1.
        base = [0.7 if k == 0 else (0.5 if k % 2 else -0.3) for k in range(V)]
        s = math.sqrt(sum(b * b for b in base))
        base = [b / s for b in base]
    return tuple(tuple(base[(k - s) % V] for k in range(V)) for s in range(V))


@dataclass(frozen=True)
class OutlierConfig(ConfigBase):
    """Complete setting of one simulation; defaults are the paper's Section 4 (see docs/outliers.md)."""

    DERIVED: ClassVar[dict] = {"m": ("d",), "test_coefs": ("V",),
                               "kappa_a_test": ("kappa_a", "test_coefs", "V", "preset"), "K_test": ("K", "preset"),
                               "train_tasks": ("preset",), "outlier_count": ("preset",)}

    model: str = "mamba"
    preset: str = "plain"
    # data (Section 3.2)
    d: int = 30
    M1: int = 6
    M2: int = 10
    V: int = 3
    beta: float = 3.0
    kappa_a: float = 2.0
    K: float = 0.5
    p_a: float = 0.6
    l_tr: int = 20
    l_ts: int = 20
    train_tasks: Optional[str] = None
    # test distribution
    alpha: float = 0.4
    kappa_a_test: Optional[float] = None
    K_test: Optional[float] = None
    test_coefs: Optional[Tuple[Tuple[float, ...], ...]] = None
    test_orth: float = 0.0
    label_rule: str = "flip"
    target_label: int = 1
    placement: str = "R"
    outlier_count: Optional[str] = None
    # model and training (Algorithm 1)
    m: Optional[int] = None
    layers: int = 1
    norm: str = "rms"
    # the softmax Transformer (model "st"; core.attention)
    temperature: float = 1.0
    heads: int = 1
    window: int = 0
    # the gated-mixer family (models mamba2, gret, retnet, gla; core.gates)
    gate_tau: float = 16.0
    decay: float = 1.0 - 2.0 ** -5
    delta: float = 0.2
    eta: float = 0.1
    batch: int = 64
    steps: int = 3000
    seed: int = 0
    # bookkeeping
    n_test: int = 2000
    log_every: int = 50
    diverge_norm: float = 1e6

    def __post_init__(self) -> None:
        set_ = self._set
        check_choice("model", self.model, MODELS)
        check_choice("preset", self.preset, tuple(PRESETS))
        chosen = PRESETS[self.preset]
        for name in ("train_tasks", "outlier_count"):
            if getattr(self, name) is None:
                set_(name, chosen[name])
        for name in ("d", "M1", "M2", "V", "l_tr", "l_ts", "batch", "n_test", "log_every", "layers"):
            check_int(name, getattr(self, name))
        check_int("steps", self.steps, 0)
        if self.M1 < 2:
            raise ConfigError(f"M1 must be at least 2 (a task is a pair of relevant patterns), got {self.M1}")
        if self.M1 + self.M2 + self.V > self.d:
            raise ConfigError(
                f"patterns do not fit in d: M1 + M2 + V = {self.M1 + self.M2 + self.V} > d = {self.d}"
            )
        if self.m is None:
            set_("m", self.d + 1)
        if not isinstance(self.m, int) or self.m < self.d:
            raise ConfigError(f"m must be an integer >= d = {self.d}, got {self.m!r}")
        for name in ("beta", "kappa_a", "eta", "diverge_norm", "temperature"):
            check_positive(name, getattr(self, name), "must be positive and finite")
        check_int("heads", self.heads)
        check_int("window", self.window, 0)
        if self.model != "st" and (self.heads != 1 or self.window != 0 or self.temperature != 1.0):
            raise ConfigError(f"temperature, heads and window apply to the softmax Transformer (st) only, not to "
                              f"{self.model}")
        check_positive("gate_tau", self.gate_tau, "must be positive and finite")
        if self.model not in ("gret", "gla") and self.gate_tau != 16.0:
            raise ConfigError(f"gate_tau applies to gated retention and GLA (gret, gla) only, not to {self.model}")
        if not 0 < self.decay < 1:
            raise ConfigError(f"decay must lie in (0, 1), got {self.decay}")
        if self.model != "retnet" and self.decay != 1.0 - 2.0 ** -5:
            raise ConfigError(f"decay applies to RetNet (retnet) only, not to {self.model}")
        if self.m % self.heads:
            raise ConfigError(f"heads = {self.heads} must divide m = {self.m} (each head reads m / heads "
                              f"coordinates)")
        if self.beta < 1:
            raise ConfigError(f"beta must be >= 1 (paper Section 3.2), got {self.beta}")
        if not 0 <= self.K <= 0.5:
            raise ConfigError(f"K must lie in [0, 1/2] (paper Section 3.2), got {self.K}")
        check_fraction("p_a", self.p_a, high_open=True, label="p_a (train outlier fraction)")
        check_fraction("alpha", self.alpha, label="alpha (test outlier fraction)")
        if not 0 < self.delta <= 0.2:
            raise ConfigError(f"delta must lie in (0, 0.2] (paper Section 3.1), got {self.delta}")
        check_choice("train_tasks", self.train_tasks, TRAIN_TASKS, "train-task split")
        check_choice("norm", self.norm, STACK_NORMS, "block normalisation")
        check_choice("label_rule", self.label_rule, LABEL_RULES, "label rule")
        check_choice("placement", self.placement, PLACEMENTS, "placement")
        check_choice("outlier_count", self.outlier_count, OUTLIER_COUNTS, "outlier count")
        if self.target_label not in (-1, 1):
            raise ConfigError(f"target_label must be +1 or -1, got {self.target_label!r}")
        check_int("seed", self.seed, 0)
        # test-outlier directions
        coefs = self.test_coefs if self.test_coefs is not None else _default_test_coefs(self.V)
        coefs = tuple(tuple(float(c) for c in row) for row in coefs)
        if len(coefs) == 0 or any(len(row) != self.V for row in coefs):
            raise ConfigError(f"each test outlier needs exactly V = {self.V} coefficients")
        set_("test_coefs", coefs)
        if self.L <= 0:
            raise ConfigError(f"every test outlier needs a positive coefficient sum (L > 0), got L = {self.L:g}")
        check_non_negative("test_orth", self.test_orth)
        if self.test_orth > 0 and self.M1 + self.M2 + self.V >= self.d:
            raise ConfigError("test_orth must be >= 0 and needs d > M1 + M2 + V for an orthogonal direction")
        if self.K_test is None:
            set_("K_test", self.K if chosen["K_test"] == "K" else chosen["K_test"])
        check_non_negative("K_test", self.K_test)
        if self.kappa_a_test is None:
            set_("kappa_a_test", self.kappa_a / self.L if chosen["kappa_a_test"] == "kappa_a / L" else self.kappa_a)
        check_positive("kappa_a_test", self.kappa_a_test, "must be positive and finite")
        if not self.kappa_a_test >= self.kappa_a:
            raise ConfigError(
                f"kappa_a_test must be >= kappa_a = {self.kappa_a} (paper Section 3.2), got {self.kappa_a_test}"
            )

    @property
    def L(self) -> float:
        """Smallest coefficient sum of the unseen outliers ``v'_s`` on the training outliers (paper: L > 0)."""
        coefs = self.test_coefs if self.test_coefs is not None else _default_test_coefs(self.V)
        return float(min(sum(row) for row in coefs))

    @property
    def gated(self) -> bool:
        """True for Mamba (gate ``G(w)`` trained), False for the linear and softmax Transformers and the other
        gates (which :attr:`gate` describes)."""
        return self.model == "mamba"

    @property
    def gate(self):
        """The gate of eq. 3's weight: a scalar :class:`~mamba_dynamics.core.gates.Gate` (Mamba's, Mamba-2's, gated
        retention's, RetNet's, or none for the LT and ST) or GLA's :class:`~mamba_dynamics.core.gates.VectorGate`."""
        from ..core.gates import Gate, VectorGate

        if self.model == "gla":
            return VectorGate(self.gate_tau)
        kind = self.model if self.model in ("mamba", "mamba2", "gret", "retnet") else "none"
        return Gate(kind, tau=self.gate_tau, gamma=self.decay)

    @property
    def attention(self):
        """The softmax Transformer's :class:`~mamba_dynamics.core.attention.Attention` (None for Mamba and the
        LT)."""
        from ..core.attention import Attention

        return Attention(self.temperature, self.window, self.heads) if self.model == "st" else None

    def memory(self, n_eval: int | None = None, runs: int = 1):
        """Estimated peak memory of a run of this config (:func:`mamba_dynamics.outliers.memory.estimate`; a
        script's ``n_eval`` evaluation prompts and ``runs`` kept runs too)."""
        from .memory import estimate

        return estimate(self, n_eval, runs)

    def derived_values(self) -> dict:
        return {"L": self.L}


__all__ = ["OutlierConfig", "ConfigError", "MODELS", "LABEL_RULES", "PLACEMENTS", "TRAIN_TASKS", "OUTLIER_COUNTS",
           "PRESETS", "PAPER_TEST_COEFS"]
