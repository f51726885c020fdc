"""Frozen, validated configuration of the single-index ICL simulator (arXiv 2510.12026; docs/single_index.md).

Glossary (field -> symbol): ``d`` = ambient dimension d; ``r`` = intrinsic dimension r = |I|; ``link`` = g_*;
``tau`` = label noise tau (zeta ~ Unif{-tau, tau}); ``N_pt`` = pretraining context length; ``T1``, ``T2`` = prompts
of Stage I and Stage II; ``rho`` = gate temperature rho; ``gate_bias`` = b (``None``: ``b = -log N - gate_offset``,
so that the effective context size grows with N); ``width`` = MLP width m; ``bias_range`` = B, Stage-II biases b_j ~ U[-B, B] (the Mamba output is scaled to unit
standard deviation, so B = 3 puts kinks across the whole range of M; the template's B = 1 cannot bend beyond one
standard deviation); ``a0`` = initial output weight alpha;
``gamma0`` = initial diagonal gamma^(0) (``None``: ``1/sqrt(d~)``); ``lam2`` = ridge lambda_2 (``None``: chosen on
held-out Stage-II prompts); ``gate`` = ``"mamba"`` (sigma(y/rho + b)) or ``"constant"`` (linear attention,
G_i = 1/N); ``stage1`` = ``"gradient"`` (Algorithm 1's one step) or ``"ideal"`` (gamma* = 1 on the relevant
quadratic features, and on the relevant linear ones for links with an odd part: the selection Stage I reaches as
T1 -> infinity, for links where Algorithm 1 would need T1 ~ d^(ie+2) prompts) or ``"ideal-linear"`` (gamma* = 1
on the relevant linear features alone: the h3 lead of docs/single_index.md); ``queries`` = queries scored per
prompt in Stage II and at test (they share the prompt's context); ``n_test`` = test prompts per context length.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar, Optional

from ..core.config import ConfigBase, ConfigError, check_choice, check_int, check_non_negative, check_positive
from ..core.optim import OPTIMIZERS
from .hermite import parse_link

#: Model names of this family (``--model``), what each is, and the gate it uses.
MODELS = {"mamba-single-index": "gated Mamba readout + MLP, Algorithm 1 of arXiv 2510.12026",
          "la-single-index": "linear-attention readout (G = 1/N) + MLP, arXiv 2510.12026",
          "mamba-single-index-e2e": "one-layer Mamba + MLP trained end to end (Adam), arXiv 2510.12026",
          "la-single-index-e2e": "linear attention + MLP trained end to end (Adam), arXiv 2510.12026",
          "st-single-index-e2e": "softmax attention + MLP trained end to end (Adam): the Transformer of arXiv "
                                 "2510.12026's comparison"}
GATE = {"mamba-single-index": "mamba", "la-single-index": "constant",
        "mamba-single-index-e2e": "mamba", "la-single-index-e2e": "constant", "st-single-index-e2e": "softmax"}
#: The models trained end to end (:class:`NetworkConfig`); the others run Algorithm 1 (:class:`SingleIndexConfig`).
END_TO_END = ("mamba-single-index-e2e", "la-single-index-e2e", "st-single-index-e2e")
GATES = ("mamba", "constant")
#: the end-to-end networks' mixers: the Mamba gate, linear attention (G = 1/N) or softmax attention
NETWORK_GATES = ("mamba", "constant", "softmax")
STAGE1 = ("gradient", "ideal", "ideal-linear")


def check_task(cfg) -> None:
    """The task fields every single-index config shares: ``r <= d``, ``tau >= 0``, a seed, a known link."""
    if cfg.r > cfg.d:
        raise ConfigError(f"the relevant subspace does not fit in d: r = {cfg.r} > d = {cfg.d}")
    check_non_negative("tau", cfg.tau)
    check_int("seed", cfg.seed, 0)
    try:
        parse_link(cfg.link)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


@dataclass(frozen=True)
class SingleIndexConfig(ConfigBase):
    """Complete setting of one single-index run (see the module glossary and docs/single_index.md)."""

    DERIVED: ClassVar[dict] = {"a0": ("width",), "gamma0": ("d",)}

    gate: str = "mamba"
    d: int = 16
    r: int = 8
    link: str = "h2"
    tau: float = 0.1
    N_pt: int = 256
    T1: int = 20000
    T2: int = 4000
    rho: float = 4.0
    gate_bias: Optional[float] = None
    gate_offset: float = 1.0
    width: int = 256
    bias_range: float = 3.0
    stage1: str = "gradient"
    queries: int = 256
    a0: Optional[float] = None
    gamma0: Optional[float] = None
    lam2: Optional[float] = None
    n_test: int = 500
    seed: int = 0

    def __post_init__(self) -> None:
        check_choice("gate", self.gate, GATES)
        check_choice("stage1", self.stage1, STAGE1)
        for name in ("d", "r", "N_pt", "T1", "T2", "width", "queries", "n_test"):
            check_int(name, getattr(self, name))
        check_task(self)
        check_positive("rho", self.rho)
        check_positive("bias_range", self.bias_range)
        if self.lam2 is not None:
            check_positive("lam2", self.lam2)
        if self.gate_bias is not None and not math.isfinite(self.gate_bias):
            raise ConfigError(f"gate_bias must be finite, got {self.gate_bias}")
        if not math.isfinite(self.gate_offset):
            raise ConfigError(f"gate_offset must be finite, got {self.gate_offset}")
        if self.a0 is None:
            self._set("a0", 1e-3 / self.width)
        if self.gamma0 is None:
            self._set("gamma0", 1.0 / math.sqrt(self.dt))

    @property
    def dt(self) -> int:
        """Embedding size ``d~ = (d+1)(d+2)/2``: constant, d linear, d squares, d(d-1)/2 cross products."""
        return (self.d + 1) * (self.d + 2) // 2

    @property
    def gated(self) -> bool:
        return self.gate == "mamba"

    @property
    def model(self) -> str:
        """The model's name (``--model``): ``mamba-single-index`` or ``la-single-index``."""
        return "mamba-single-index" if self.gated else "la-single-index"

    def bias_for(self, N: int) -> float:
        """Gate bias b for a prompt of N examples (``gate_bias`` if set, else ``-log N - gate_offset``)."""
        return self.gate_bias if self.gate_bias is not None else -math.log(N) - self.gate_offset

    def derived_values(self) -> dict:
        return {"dt": self.dt}

    def memory(self, test_N=(), krr_max_N: int = 0, krr_prompts: int = 0, n_eval: int | None = None,
               runs: int = 1):
        """Estimated peak memory of a run of this config (:func:`mamba_dynamics.single_index.memory.estimate`) at
        the test lengths ``test_N``, with kernel ridge regression up to ``krr_max_N``."""
        from .memory import estimate

        return estimate(self, test_N, krr_max_N, krr_prompts, n_eval, runs)


TOKENS = ("hermite", "raw")


def token_width(d: int, tokens: str) -> int:
    """Token width ``D``: ``(d+1)(d+2)/2 + 1`` for Hermite tokens, ``d + 1`` for raw ones (the label last)."""
    return (d + 1) * (d + 2) // 2 + 1 if tokens == "hermite" else d + 1


@dataclass(frozen=True)
class NetworkConfig(ConfigBase):
    """Setting of one end-to-end trained network (:mod:`mamba_dynamics.single_index.network`; docs/single_index.md,
    "End-to-end networks").  The task fields (``d, r, link, tau, seed``) mean what they mean in
    :class:`SingleIndexConfig`, and the same seed draws the same index set ``I``.

    Glossary (field -> symbol): ``gate`` = ``"mamba"`` (trained selective gate) or ``"constant"`` (linear
    attention, G = 1/N); ``tokens`` = ``"hermite"`` (phi(x), the paper's embedding) or ``"raw"`` (x);
    ``state`` = state size m_s (rows of W_B, W_C); ``width`` = MLP width m; ``N_min``..``N_max`` = training
    context lengths (one N per step, log-uniform); ``batch`` = prompts per step; ``queries`` = queries per prompt
    (they share its context); ``steps``, ``lr``, ``optimizer``, ``weight_decay`` = the optimiser's;
    ``init_scale`` = W_B, W_C entries ~ N(0, init_scale^2 / D); ``temperature`` = the softmax attention's tau
    (``gate = "softmax"`` only; default ``sqrt(state)``, the Transformer's usual ``1/sqrt(d_k)`` scaling of the
    scores); ``rho0`` = initial gate temperature (w_y = 1/rho0,
    the Algorithm-1 gate) and ``gate_offset0`` = initial gate bias -b; ``log_every`` = steps between logs;
    ``n_eval`` = prompts of the fixed evaluation batch (at N_max) logged during training; ``n_test`` = test
    prompts per context length afterwards (``test_queries`` queries each); ``diverge_norm`` = stop when a block's
    norm exceeds it.
    """

    DERIVED: ClassVar[dict] = {"temperature": ("state", "gate")}

    gate: str = "mamba"
    tokens: str = "hermite"
    d: int = 16
    r: int = 8
    link: str = "h2"
    tau: float = 0.1
    state: int = 64
    width: int = 64
    N_min: int = 16
    N_max: int = 256
    batch: int = 64
    queries: int = 4
    steps: int = 12000
    lr: float = 3e-3
    optimizer: str = "adam"
    weight_decay: float = 0.0
    init_scale: float = 1.0
    rho0: float = 4.0
    gate_offset0: float = 1.0
    log_every: int = 100
    n_eval: int = 200
    n_test: int = 300
    test_queries: int = 256
    diverge_norm: float = 1e6
    temperature: Optional[float] = None
    seed: int = 0

    def __post_init__(self) -> None:
        check_choice("gate", self.gate, NETWORK_GATES)
        check_choice("tokens", self.tokens, TOKENS)
        check_choice("optimizer", self.optimizer, OPTIMIZERS)
        for name in ("d", "r", "state", "width", "N_min", "N_max", "batch", "queries", "steps", "log_every",
                     "n_eval", "n_test", "test_queries"):
            check_int(name, getattr(self, name))
        check_task(self)
        if self.N_min > self.N_max:
            raise ConfigError(f"N_min = {self.N_min} exceeds N_max = {self.N_max}")
        check_non_negative("weight_decay", self.weight_decay)
        for name in ("lr", "init_scale", "rho0", "diverge_norm"):
            check_positive(name, getattr(self, name))
        if self.gate != "softmax":
            if self.temperature is not None:
                raise ConfigError(f"temperature applies to the softmax network (st-single-index-e2e) only, not to "
                                  f"gate {self.gate}")
        else:
            if self.temperature is None:
                self._set("temperature", math.sqrt(self.state))
            check_positive("temperature", self.temperature)
        if not math.isfinite(self.gate_offset0):
            raise ConfigError(f"gate_offset0 must be finite, got {self.gate_offset0}")

    @property
    def gated(self) -> bool:
        return self.gate == "mamba"

    @property
    def model(self) -> str:
        """The model's name (``--model``): ``mamba-single-index-e2e``, ``la-single-index-e2e`` or
        ``st-single-index-e2e``."""
        return {"mamba": "mamba-single-index-e2e", "constant": "la-single-index-e2e",
                "softmax": "st-single-index-e2e"}[self.gate]

    @property
    def D(self) -> int:
        """Token width: ``(d+1)(d+2)/2 + 1`` (Hermite) or ``d + 1`` (raw)."""
        return token_width(self.d, self.tokens)

    def memory(self, test_N=(), krr_prompts: int = 0, n_eval: int | None = None, runs: int = 1):
        """Estimated peak memory of training this network and testing it at ``test_N`` (with kernel ridge
        regression on ``krr_prompts`` prompts per length; :func:`mamba_dynamics.single_index.memory.estimate`)."""
        from .memory import estimate

        return estimate(self, test_N, krr_prompts=krr_prompts, n_eval=n_eval, runs=runs)

    def derived_values(self) -> dict:
        return {"D": self.D}
