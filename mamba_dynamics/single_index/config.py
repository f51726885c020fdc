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
T1 -> infinity, for links where Algorithm 1 would need T1 ~ d^(ie+2) prompts); ``queries`` = queries scored per
prompt in Stage II and at test (they share the prompt's context); ``n_test`` = test prompts per context length.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Optional

from ..config import ConfigError
from .hermite import parse_link

GATES = ("mamba", "constant")
STAGE1 = ("gradient", "ideal")


@dataclass(frozen=True)
class SingleIndexConfig:
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
        if self.gate not in GATES:
            raise ConfigError(f"unknown gate {self.gate!r}; choose one of {', '.join(GATES)}")
        if self.stage1 not in STAGE1:
            raise ConfigError(f"unknown stage1 {self.stage1!r}; choose one of {', '.join(STAGE1)}")
        for name in ("d", "r", "N_pt", "T1", "T2", "width", "queries", "n_test"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ConfigError(f"{name} must be a positive integer, got {v!r}")
        if self.r > self.d:
            raise ConfigError(f"the relevant subspace does not fit in d: r = {self.r} > d = {self.d}")
        if not (self.tau >= 0 and math.isfinite(self.tau)):
            raise ConfigError(f"tau must be >= 0, got {self.tau}")
        if not (self.rho > 0 and math.isfinite(self.rho)):
            raise ConfigError(f"rho must be positive, got {self.rho}")
        if not (self.bias_range > 0 and math.isfinite(self.bias_range)):
            raise ConfigError(f"bias_range must be positive, got {self.bias_range}")
        if self.lam2 is not None and not self.lam2 > 0:
            raise ConfigError(f"lam2 must be positive, got {self.lam2}")
        if not isinstance(self.seed, int) or self.seed < 0:
            raise ConfigError(f"seed must be a non-negative integer, got {self.seed!r}")
        try:
            parse_link(self.link)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        if self.a0 is None:
            object.__setattr__(self, "a0", 1e-3 / self.width)
        if self.gamma0 is None:
            object.__setattr__(self, "gamma0", 1.0 / math.sqrt(self.dt))

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

    def replace(self, **changes) -> "SingleIndexConfig":
        base = dataclasses.asdict(self)
        if "width" in changes and "a0" not in changes:
            base["a0"] = None
        if "d" in changes and "gamma0" not in changes:
            base["gamma0"] = None
        base.update(changes)
        return SingleIndexConfig(**base)

    def to_dict(self) -> dict:
        out = dataclasses.asdict(self)
        out["dt"] = self.dt
        return out
