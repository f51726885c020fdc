"""Frozen, validated configuration of the feature-filtering simulator (arXiv 2602.12499; docs/features.md).

Glossary (field -> symbol): ``model`` = ``ssm`` (selective SSM, gate sigma(w^T x)) or ``lt-mlp`` (causal linear
attention with the same MLP head); ``reading`` = ``paper`` (the paper's Eq. 5 mixer with the content factor
``(W_B^T x_s)^T (W_C^T x_t)`` and its Eq. 6 head with fixed random ``v_i = +-1/sqrt(m)``) or ``gate-only`` (the
package's earlier reading: no content factor, head ``a_i = +-1/m`` half and half); ``wbc`` = ``frozen`` (W_B, W_C
kept at ``W^(0)``, as the analysis does) or ``trained``; ``wbc0`` = scale delta of ``W_B^(0) = W_C^(0) = delta I_d``;
``gate`` = ``learned`` (w_Delta trained) or ``fixed`` (w_Delta kept at 0, every gate 1/2: "gating removed", Figs.
11-12); ``gate_sigma`` = the fixed gate's value sigma (``gate = fixed``; 1/2 by default, which is ``w = 0``): every
token is written with ``sigma`` and keeps ``1 - sigma`` of the state (the paper does not say which Delta it
fixed); ``gate_type`` = the Eq. 5 mixer's gate: ``mamba`` (the paper's) or another gate of 2510.00399 App. E.6
(``mamba2``, ``gret``, ``retnet``, or GLA's vector gate ``gla``, ``w`` then ``W_a`` ``(d, r)``;
:mod:`mamba_dynamics.core.gates`), ``gate_tau`` = gated retention's and GLA's exponent, ``decay`` = RetNet's
fixed decay; ``window`` = attention window of ``lt-mlp`` (0 = global causal attention, k = the last k tokens);
``preset`` = ``default`` (d = 10, m = 40) or ``paper`` (the paper's experiments: d = 32, m = 50; sizes given
explicitly override it; :data:`PRESETS`); ``regime`` = ``majority`` (majority voting) or ``locality`` (local
concentration); ``d`` = token dimension d (patterns o_+, o_-, o_3..o_d); ``L`` = tokens per sequence L;
``alpha_r``, ``alpha_c`` = fractions of relevant / confusing tokens (majority voting);
``gap_near`` = Delta L^+_{o_+} (distance of the label's pair), ``gap_far`` = Delta L^-_{o_+} (distance of the
other pair) (local concentration); ``tau`` = token noise level tau (noise ~ N(0, tau^2/d I), so E||xi||^2 =
tau^2); ``m`` = MLP width m; ``v0`` = std of the initial MLP weights; ``eta`` = step size eta (default per regime, :data:`REGIME_DEFAULTS`); ``n_train`` = N
training sequences; ``batch`` = SGD batch (0 = full-batch GD, as in the paper); ``steps`` = iterations T;
``target_err`` = test error that counts as converged (iterations-to-target); ``layers`` = blocks in the stack (1 =
the paper's one-layer model; Table 3 uses 5; SSM with the paper reading only; docs/stacks.md); ``norm`` = input of
blocks 2..L: ``rms`` (RMSNorm of the residual stream) or ``none``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Optional

from ..core.config import ConfigBase, ConfigError, check_choice, check_int, check_non_negative, check_positive

#: Model names of this family (``--model``) and what each is.
MODELS = {"ssm": "selective SSM + two-layer MLP, arXiv 2602.12499",
          "lt-mlp": "causal linear attention + two-layer MLP, arXiv 2602.12499",
          "st-mlp": "causal softmax attention (global or windowed) + two-layer MLP: Fig. 6's Transformer"}
#: the attention models (``window`` applies to them)
ATTENTION_MODELS = ("lt-mlp", "st-mlp")
#: per-regime defaults of the step size and the number of steps (docs/features.md, "Chosen values")
REGIME_DEFAULTS = {"majority": {"eta": 2.0, "steps": 200}, "locality": {"eta": 20.0, "steps": 1000}}
REGIMES = ("majority", "locality")
#: what each preset derives for the sizes left unset: ``default`` (this package's small setting) and ``paper`` (the
#: experiments' d = 32 and m = 50, as the v1 reader reports them; ../shared/specs/features_2602.12499_settings.md §4)
PRESETS = {"default": {"d": 10, "m": 40}, "paper": {"d": 32, "m": 50}}
#: the paper's success criterion: a run counts when its test hinge loss is below this (means over successes only)
PAPER_SUCCESS_LOSS = 1e-3
#: ``paper``: Eqs. 5-6 of the paper; ``gate-only``: the earlier reading (docs/features.md, "Two readings")
READINGS = ("paper", "gate-only")
WBC_MODES = ("frozen", "trained")
GATE_MODES = ("learned", "fixed")
#: the Eq. 5 mixer's gate (``--gate-type``): Mamba's or another gate of 2510.00399 App. E.6
#: (:mod:`mamba_dynamics.core.gates`; ``gla`` a vector gate, :mod:`mamba_dynamics.core.gla_mixer`)
GATE_TYPES = ("mamba", "mamba2", "gret", "retnet", "gla")


@dataclass(frozen=True)
class FeaturesConfig(ConfigBase):
    """Complete setting of one feature-filtering run (see the module glossary and docs/features.md)."""

    DERIVED: ClassVar[dict] = {"eta": ("regime",), "steps": ("regime",), "d": ("preset",), "m": ("preset",)}

    model: str = "ssm"
    preset: str = "default"
    regime: str = "majority"
    reading: str = "paper"
    wbc: str = "frozen"
    wbc0: float = 1.0
    gate: str = "learned"
    gate_sigma: float = 0.5
    gate_type: str = "mamba"
    gate_tau: float = 16.0
    decay: float = 1.0 - 2.0 ** -5
    window: int = 0
    temperature: float = 1.0
    heads: int = 1
    d: Optional[int] = None
    L: int = 12
    alpha_r: float = 0.3
    alpha_c: float = 0.1
    gap_near: int = 1
    gap_far: int = 4
    tau: float = 0.1
    m: Optional[int] = None
    v0: float = 0.1
    eta: Optional[float] = None
    n_train: int = 1000
    batch: int = 0
    steps: Optional[int] = None
    n_test: int = 1000
    target_err: float = 0.01
    layers: int = 1
    norm: str = "rms"
    log_every: int = 5
    diverge_norm: float = 1e6
    seed: int = 0

    def __post_init__(self) -> None:
        check_choice("model", self.model, MODELS)
        check_choice("regime", self.regime, REGIMES)
        check_choice("reading", self.reading, READINGS)
        check_choice("wbc", self.wbc, WBC_MODES)
        check_choice("gate", self.gate, GATE_MODES)
        check_choice("gate_type", self.gate_type, GATE_TYPES, "gate type")
        check_positive("gate_tau", self.gate_tau)
        if not 0 < self.decay < 1:
            raise ConfigError(f"decay must lie in (0, 1), got {self.decay}")
        if self.gate_type != "mamba" and (self.model != "ssm" or self.reading != "paper" or self.gate != "learned"
                                          or self.layers != 1):
            raise ConfigError(f"gate type {self.gate_type} needs model ssm, reading paper, gate learned and one layer")
        if self.gate_tau != 16.0 and self.gate_type not in ("gret", "gla"):
            raise ConfigError(f"gate_tau applies to gate types gret and gla only (gate type {self.gate_type})")
        if self.decay != 1.0 - 2.0 ** -5 and self.gate_type != "retnet":
            raise ConfigError(f"decay applies to gate type retnet only (gate type {self.gate_type})")
        for name, value in REGIME_DEFAULTS[self.regime].items():
            if getattr(self, name) is None:
                self._set(name, value)
        check_choice("preset", self.preset, PRESETS)
        for name, value in PRESETS[self.preset].items():
            if getattr(self, name) is None:
                self._set(name, value)
        for name in ("d", "L", "m", "n_train", "steps", "n_test", "log_every", "layers"):
            check_int(name, getattr(self, name))
        for name in ("gap_near", "gap_far", "batch", "seed", "window"):
            check_int(name, getattr(self, name), 0)
        if self.d < 3:
            raise ConfigError(f"d must be >= 3 (o_+, o_- and at least one irrelevant pattern), got {self.d}")
        for name in ("alpha_r", "alpha_c", "target_err"):
            v = getattr(self, name)
            if not (0.0 <= v <= 1.0):
                raise ConfigError(f"{name} must be a fraction in [0, 1], got {v}")
        for name in ("tau", "v0"):
            check_non_negative(name, getattr(self, name))
        for name in ("eta", "diverge_norm", "wbc0", "temperature"):
            check_positive(name, getattr(self, name))
        check_int("heads", self.heads)
        if self.model != "st-mlp" and (self.heads != 1 or self.temperature != 1.0):
            raise ConfigError(f"temperature and heads apply to st-mlp only (model {self.model})")
        if self.d % self.heads:
            raise ConfigError(f"heads = {self.heads} must divide d = {self.d} (each head reads d / heads "
                              f"coordinates)")
        if self.regime == "majority":
            if self.n_relevant <= self.n_confusing:
                raise ConfigError(f"majority voting needs more relevant than confusing tokens: round(alpha_r L) = "
                                  f"{self.n_relevant} <= round(alpha_c L) = {self.n_confusing}")
            if self.n_relevant + self.n_confusing > self.L:
                raise ConfigError(f"alpha_r + alpha_c = {self.alpha_r + self.alpha_c:g} puts "
                                  f"{self.n_relevant + self.n_confusing} pattern tokens in L = {self.L}")
        else:
            if not 1 <= self.gap_near < self.gap_far:
                raise ConfigError(f"local concentration needs 1 <= gap_near < gap_far, got {self.gap_near}, "
                                  f"{self.gap_far}")
            if self.gap_near + self.gap_far + 2 > self.L:
                raise ConfigError(f"the two pairs (gaps {self.gap_near} and {self.gap_far}) do not fit in L = "
                                  f"{self.L}: need L >= {self.gap_near + self.gap_far + 2}")
        if self.window and self.model not in ATTENTION_MODELS:
            raise ConfigError(f"window applies to {' and '.join(ATTENTION_MODELS)} only (model {self.model})")
        if self.window > self.L:
            raise ConfigError(f"window {self.window} exceeds L = {self.L}")
        if self.reading == "gate-only" and (self.wbc != "frozen" or self.wbc0 != 1.0):
            raise ConfigError("the gate-only reading has no W_B, W_C (wbc and wbc0 apply to the paper reading)")
        if self.gate == "fixed" and self.model != "ssm":
            raise ConfigError(f"gate fixed applies to the ssm only (model {self.model})")
        if not 0 < self.gate_sigma < 1:
            raise ConfigError(f"gate_sigma must lie in (0, 1), got {self.gate_sigma}")
        if self.gate_sigma != 0.5 and (self.gate != "fixed" or self.reading != "paper" or self.wbc != "frozen"):
            raise ConfigError("gate_sigma applies to a fixed gate (gate fixed) of the paper reading with W_B, W_C "
                              "frozen")
        check_choice("norm", self.norm, ("rms", "none"), "block normalisation")
        if self.layers > 1 and (self.model != "ssm" or self.reading != "paper" or self.gate != "learned"):
            raise ConfigError(f"a stack of {self.layers} blocks needs model ssm, reading paper and gate learned")
        if self.batch > self.n_train:
            raise ConfigError(f"batch {self.batch} exceeds n_train {self.n_train}")

    @property
    def n_relevant(self) -> int:
        """Relevant tokens per sequence, ``round(alpha_r L)`` (majority voting)."""
        return int(round(self.alpha_r * self.L))

    @property
    def n_confusing(self) -> int:
        """Confusing tokens per sequence, ``round(alpha_c L)`` (majority voting)."""
        return int(round(self.alpha_c * self.L))

    @property
    def gated(self) -> bool:
        return self.model == "ssm"

    @property
    def mixer_gate(self):
        """The Eq. 5 mixer's :class:`~mamba_dynamics.core.gates.Gate` (``gate_type``; Mamba's by default), or
        GLA's :class:`~mamba_dynamics.core.gates.VectorGate` (``gate_type = "gla"``: ``w`` is then ``W_a`` ``(d,
        r)``)."""
        from ..core.gates import Gate, VectorGate

        if self.gate_type == "gla":
            return VectorGate(self.gate_tau)
        if self.gate_sigma != 0.5:  # Mamba's gate fixed at sigma: sigma (1 - sigma)^(l - s) = sigma * RetNet's decay
            return Gate("retnet", gamma=1.0 - self.gate_sigma)  # (the factor sigma is in W_B: input_scale)
        return Gate(self.gate_type, tau=self.gate_tau, gamma=self.decay)

    @property
    def input_scale(self) -> float:
        """The factor in ``W_B^(0)`` that, with the decay ``1 - sigma`` of :attr:`mixer_gate`, makes a fixed gate at
        ``gate_sigma != 1/2`` exactly Mamba's ``sigma (1 - sigma)^(l - s)`` (1 otherwise)."""
        return self.gate_sigma if self.gate_sigma != 0.5 else 1.0

    @property
    def attention(self):
        """st-mlp's :class:`~mamba_dynamics.core.attention.Attention` (None for the other models)."""
        from ..core.attention import Attention

        return Attention(self.temperature, self.window, self.heads) if self.model == "st-mlp" else None

    @property
    def content(self) -> bool:
        """Whether the SSM has the paper's content factor ``(W_B^T x_s)^T (W_C^T x_t)`` (Eq. 5)."""
        return self.reading == "paper"

    @property
    def signal(self) -> float:
        """The regime's effective signal: ``alpha_r - alpha_c`` (as realised: counts / L) or
        ``(1/2)^gap_near - (1/2)^gap_far``."""
        if self.regime == "majority":
            return (self.n_relevant - self.n_confusing) / self.L
        return 0.5**self.gap_near - 0.5**self.gap_far

    def memory(self, n_eval: int | None = None, runs: int = 1):
        """Estimated peak memory of a run of this config (:func:`mamba_dynamics.features.memory.estimate`; a
        script's ``n_eval`` more test sequences and ``runs`` kept runs too)."""
        from .memory import estimate

        return estimate(self, n_eval, runs)

    def derived_values(self) -> dict:
        return {"signal": self.signal}
