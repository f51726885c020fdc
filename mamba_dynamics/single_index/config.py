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
from .hermite import parse_link

#: Model names of this family (``--model``), what each is, and the gate it uses.
MODELS = {"mamba-single-index": "gated Mamba readout + MLP, Algorithm 1 of arXiv 2510.12026",
          "la-single-index": "linear-attention readout (G = 1/N) + MLP, arXiv 2510.12026"}
GATE = {"mamba-single-index": "mamba", "la-single-index": "constant"}
GATES = ("mamba", "constant")
STAGE1 = ("gradient", "ideal", "ideal-linear")


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
        if self.r > self.d:
            raise ConfigError(f"the relevant subspace does not fit in d: r = {self.r} > d = {self.d}")
        check_non_negative("tau", self.tau)
        check_positive("rho", self.rho)
        check_positive("bias_range", self.bias_range)
        if self.lam2 is not None:
            check_positive("lam2", self.lam2)
        if self.gate_bias is not None and not math.isfinite(self.gate_bias):
            raise ConfigError(f"gate_bias must be finite, got {self.gate_bias}")
        if not math.isfinite(self.gate_offset):
            raise ConfigError(f"gate_offset must be finite, got {self.gate_offset}")
        check_int("seed", self.seed, 0)
        try:
            parse_link(self.link)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
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

    def bias_for(self, N: int) -> float:
        """Gate bias b for a prompt of N examples (``gate_bias`` if set, else ``-log N - gate_offset``)."""
        return self.gate_bias if self.gate_bias is not None else -math.log(N) - self.gate_offset

    def derived_values(self) -> dict:
        return {"dt": self.dt}
