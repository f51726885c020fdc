"""The feature-filtering models (arXiv 2602.12499) as objects of the one model interface
(:mod:`mamba_dynamics.core.model`).

==========================  ====================================================================================
class                       what it is
==========================  ====================================================================================
:class:`SSM`                ``ssm``, the paper's reading: the Eq. 5 mixer (gate, ``W_B``, ``W_C``) + the Eq. 6
                            head (:mod:`~mamba_dynamics.features.content`)
:class:`GateOnlySSM`        ``ssm`` with ``reading = "gate-only"``: the scan without the content factor (F2)
:class:`LinearAttentionMLP` ``lt-mlp``: causal linear attention, global or windowed (F4,
                            :mod:`~mamba_dynamics.features.attention`), with either head
:class:`SoftmaxAttentionMLP` ``st-mlp``: causal softmax attention, global or windowed, the Transformer of Fig. 6
                            (the core's softmax mixer with ``b = x``, ``c = W x``)
:class:`SSMStack`           ``ssm`` with ``layers > 1``: Eq. 5 blocks on a residual stream (Table 3,
                            :mod:`~mamba_dynamics.features.stack`)
==========================  ====================================================================================

:data:`REGISTRY` builds one from a :class:`~mamba_dynamics.features.config.FeaturesConfig`: the model name and the
reading pick the class, ``layers`` its stacked form, in that one place.  Every model reads a
:class:`~mamba_dynamics.features.data.Sequences` batch (``X`` ``(N, L, d)``, ``y`` ``(N,)``) and trains the blocks
of :attr:`~Model.trained` (``a`` never; the gate with ``gate = "learned"``; ``W_B``, ``W_C`` with ``wbc =
"trained"``); its scratch arrays are its own (``step``: the training step's, ``head``: the head's, ``active``: the
active sequences' cache rows, ``eval``: the evaluations').

Glossary: ``params`` = :class:`~mamba_dynamics.features.model.Params` or
:class:`~mamba_dynamics.features.stack.StackParams`; ``evaluation`` = :class:`Evaluation` (test set and pattern
basis ``O`` ``(d, d)``).
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import numpy as np

from ..core.losses import LossGrad
from ..core.model import Model, Registry
from . import attention, content, gradients, metrics, model, stack
from .data import Sequences
from .head import head_outputs


class Evaluation(NamedTuple):
    """What a run's tracked quantities are measured on: the fixed test set and the pattern basis ``O``."""

    test: Sequences
    O: np.ndarray


class _FeatureModel(Model):
    """What every feature model shares: the fixed second layer, the trained blocks, the outputs and the
    prediction through the model's own outputs (:meth:`outputs`), and the tracked quantities."""

    Params = model.Params
    #: the mixer's options for :mod:`mamba_dynamics.features.metrics` (``gated``, ``content``, ``window``)
    gated = True
    content = False

    @property
    def window(self) -> int:
        return self.cfg.window

    @functools.cached_property
    def mixer_gate(self):
        """What the mixer's functions take as ``gated``: the Eq. 5 mixer's
        :class:`~mamba_dynamics.core.gates.Gate` (``--gate-type``), False for attention (made once per model:
        the config is frozen)."""
        return self.cfg.mixer_gate if self.gated else False

    @property
    def trained(self) -> tuple:
        """``w`` (unless the gate is fixed), ``W_B``, ``W_C`` (paper reading, ``wbc = trained``), ``W``
        (attention) and ``V``; ``a`` is never trained."""
        cfg = self.cfg
        if not self.gated:
            return ("W", "V")
        blocks = () if cfg.gate == "fixed" or not cfg.mixer_gate.learned else ("w",)
        if self.content and cfg.wbc == "trained":
            blocks += ("W_B", "W_C")
        return blocks + ("V",)

    def init_params(self, rng: np.random.Generator):
        return model.init_params(self.cfg, rng)

    def params_from(self, arrays: dict):
        """A container from ``{block: array}`` with the fixed blocks (``a``, and ``W`` / ``w`` of the other
        mixer) filled in: ``a`` must be among the arrays."""
        d = arrays["V"].shape[1]
        w0 = np.zeros((d, d) if self.cfg.gate_type == "gla" else d)
        return model.Params(w=arrays.get("w", w0), W=arrays.get("W", np.eye(d)), V=arrays["V"],
                            a=arrays["a"], W_B=arrays.get("W_B"), W_C=arrays.get("W_C"))

    def outputs(self, params, X: np.ndarray, *, reference: bool = False) -> np.ndarray:
        """The mixer's per-token outputs ``Y`` ``(N, L, d)``: fast, in the model's evaluation arrays (overwritten
        by its next evaluation), or with ``reference`` the NumPy closed form (fresh)."""
        if reference:
            return model.mix(params, X, self.mixer_gate, self.content, self.window)
        return self._outputs(params, X)

    def predict(self, params, X: np.ndarray, *, reference: bool = False) -> np.ndarray:
        if reference:
            return model.forward(params, X, self.mixer_gate, self.content, self.window)
        return head_outputs(self._outputs(params, X), params.V, params.a, self.scratch("eval"))

    def _reference_grads(self, params, batch) -> LossGrad:
        """The NumPy reference, with the blocks the fast path returns (frozen ``W_B``, ``W_C``: none)."""
        res = gradients.hinge_grads_reference(params, batch.X, batch.y, self.mixer_gate, self.content, self.window)
        if self.content and "W_B" not in self.trained:
            res = res._replace(grads={k: g for k, g in res.grads.items() if k not in ("W_B", "W_C")})
        return res

    def tracked(self, params, evaluation: Evaluation) -> dict:
        """Every key of :data:`~mamba_dynamics.features.metrics.KEYS` and ``test_err``, and the profiles of
        :data:`~mamba_dynamics.features.metrics.PROFILE_KEYS`."""
        return metrics.snapshot(self, params, evaluation.test, evaluation.O)

    def _head_rows(self, result) -> list:
        cfg, h = self.cfg, result.history
        hit = result.final["iters_to_target"]
        return [("status", result.status), ("steps done", str(result.steps_done)),
                ("wall time", f"{result.wall_time:.1f} s"), ("final train hinge loss", f"{h['train_loss'][-1]:.4g}"),
                ("train error / test error", f"{h['train_err'][-1]:.4f} / {h['test_err'][-1]:.4f}"),
                (f"iterations to test error <= {cfg.target_err}", "not reached" if hit != hit else f"{hit:.0f}")]

    def describe(self) -> str:
        """One line naming the model's reading (the summary table's second row)."""
        cfg = self.cfg
        if not self.gated:
            return (f"linear attention ({'window ' + str(cfg.window) if cfg.window else 'global'}), "
                    f"{'Eq. 6' if cfg.content else 'half/half'} head")
        if self.content:
            kind = "" if cfg.gate_type == "mamba" else f" ({cfg.gate_type}{self._gate_setting()})"
            return f"Eq. 5 mixer (W_B, W_C {cfg.wbc}, W^(0) = {cfg.wbc0:g} I), gate {cfg.gate}{kind}, Eq. 6 head"
        return f"gate-only reading, gate {cfg.gate}"

    def _gate_setting(self) -> str:
        cfg = self.cfg
        return {"gret": f", tau {cfg.gate_tau:g}", "gla": f", tau {cfg.gate_tau:g}",
                "retnet": f", gamma {cfg.decay:g}"}.get(cfg.gate_type, "")

    def summary(self, result) -> tuple[list, dict]:
        """The summary table's rows (alignments, gates, the head's lucky neurons) and the sidecar's theory
        section (:func:`mamba_dynamics.features.theory.predicted`)."""
        from . import theory

        cfg, h = self.cfg, result.history
        th = theory.predicted(cfg)
        mixer = "w" if self.gated else "W"
        rows = [("model, regime", f"{cfg.model}, {cfg.regime}"), ("model reading", self.describe())]
        rows += self._head_rows(result)
        rows += [(f"<{mixer}, o_+>, <{mixer}, o_->" if self.gated else "o_+^T W o_+, o_-^T W o_-",
                  f"{h['w_pos'][-1]:.4g}, {h['w_neg'][-1]:.4g}"),
                 ("irrelevant: mean, max |.|", f"{h['w_irr'][-1]:.4g}, {h['w_irr_abs'][-1]:.4g}"),
                 ("cos with o_+, o_-, irrelevant (mean)",
                  f"{h['cos_pos'][-1]:.3f}, {h['cos_neg'][-1]:.3f}, {h['cos_irr'][-1]:.3f}")]
        if self.gated:
            rows.append(("mean gate: relevant, irrelevant tokens",
                         f"{h['gate_rel'][-1]:.3g}, {h['gate_irr'][-1]:.3g}"))
        if getattr(self, "attention", None) is not None:
            rows.append(("attention mass on relevant tokens, on the near pair's span",
                         f"{h['attn_rel'][-1]:.3f}, {h['attn_near'][-1]:.3f}"))
        rows += [("share of output on o_+, o_-", f"{h['rel_share'][-1]:.3f}"),
                 ("W_O rows: cos with o_+ (v>0), with o_- (v<0)", f"{h['mlp_pos'][-1]:.3f}, {h['mlp_neg'][-1]:.3f}"),
                 ("lucky neurons (Fig. 5)", f"{h['lucky_frac'][-1]:.2f}"),
                 ("signal (alpha_r - alpha_c or delta)", f"{th['signal']:.4g}")]
        return rows, th

    def figure(self, result):
        from .plotting import plot_features_run

        return plot_features_run(result)


class LinearAttentionMLP(_FeatureModel):
    """``lt-mlp``: causal linear attention (F4; ``window = k``: the last ``k`` tokens) and the MLP head."""

    gated = False  # (the head, Eq. 6 or half/half by the reading, is in ``params.a``)

    def loss_and_grad(self, params, batch, *, reference: bool = False) -> LossGrad:
        if reference:
            return self._reference_grads(params, batch)
        return attention.attention_grads(params, batch.X, batch.y, self.window, self.scratch("head"))

    def _outputs(self, params, X):
        return attention.attention_outputs(X, params.W, self.window, self.scratch("eval"))


class SoftmaxAttentionMLP(_FeatureModel):
    """``st-mlp``: causal softmax attention (scores ``x_s^T W x_t / tau``, ``heads`` heads over the coordinates,
    the last ``window`` tokens when set) and the MLP head; ``W`` (identity at the start, as the LT-MLP's) and
    ``V`` trained."""

    gated = False

    @property
    def attention(self):
        return self.cfg.attention

    def loss_and_grad(self, params, batch, *, reference: bool = False) -> LossGrad:
        if reference:
            return gradients.hinge_grads_reference(params, batch.X, batch.y, False, attention=self.attention)
        return attention.softmax_grads(params, batch.X, batch.y, self.attention, self.scratch("head"))

    def outputs(self, params, X: np.ndarray, *, reference: bool = False) -> np.ndarray:
        if reference:
            return model.mix_softmax(X, params.W, self.attention)
        return self._outputs(params, X)

    def predict(self, params, X: np.ndarray, *, reference: bool = False) -> np.ndarray:
        if reference:
            return model.forward(params, X, False, attention=self.attention)
        return head_outputs(self._outputs(params, X), params.V, params.a, self.scratch("eval"))

    def _outputs(self, params, X):
        return attention.softmax_outputs(X, params.W, self.attention, self.scratch("eval"))[0]

    def describe(self) -> str:
        att, cfg = self.attention, self.cfg
        return (f"softmax attention ({'window ' + str(att.window) if att.window else 'global'}, temperature "
                f"{att.temperature:g}, {att.heads} head{'s' if att.heads > 1 else ''}), "
                f"{'Eq. 6' if cfg.content else 'half/half'} head")


class GateOnlySSM(_FeatureModel):
    """``ssm`` in the earlier gate-only reading: the scan (F2) without the content factor, half/half head."""

    def loss_and_grad(self, params, batch, *, reference: bool = False) -> LossGrad:
        if reference:
            return self._reference_grads(params, batch)
        return gradients.gate_only_grads(params, batch.X, batch.y, self.scratch("head"))

    def _outputs(self, params, X):
        return gradients.gate_only_outputs(X, params.w, self.scratch("eval"))[0]


class SSMStack(_FeatureModel):
    """``layers`` Eq. 5 blocks on a residual stream (RMSNorm from block 2 on), the Eq. 6 head on the last
    mixer's outputs (Table 3).  Every block's ``w`` and the head are trained (and ``W_B``, ``W_C`` with ``wbc =
    trained``); the training loop runs it on one BLAS thread."""

    Params = stack.StackParams
    content = True
    blas_threads = 1

    @property
    def trained(self) -> tuple:
        return ("w", "W_B", "W_C", "V") if self.cfg.wbc == "trained" else ("w", "V")

    def init_params(self, rng: np.random.Generator):
        return stack.init_stack_params(self.cfg, rng)

    def params_from(self, arrays: dict):
        return stack.StackParams(**arrays)

    def loss_and_grad(self, params, batch, *, reference: bool = False) -> LossGrad:
        if reference:
            return stack.stack_grads(params, batch.X, batch.y, self.cfg.norm, fast=False,
                                     want_wbc="W_B" in self.trained)
        return stack.stack_grads(params, batch.X, batch.y, self.cfg.norm, want_wbc="W_B" in self.trained,
                                 work=self.scratch("step"), head_work=self.scratch("head"),
                                 active_work=self.scratch("active", rows=True))

    def outputs(self, params, X: np.ndarray, *, reference: bool = False) -> np.ndarray:
        return stack.outputs(params, X, self.cfg.norm, fast=not reference,
                             work=None if reference else self.scratch("eval"))

    def predict(self, params, X: np.ndarray, *, reference: bool = False) -> np.ndarray:
        return stack.predict(params, X, self.cfg.norm, fast=not reference,
                             work=None if reference else self.scratch("eval"))

    def tracked(self, params, evaluation: Evaluation) -> dict:
        """:data:`~mamba_dynamics.features.metrics.STACK_KEYS` and the per-block
        :data:`~mamba_dynamics.features.metrics.STACK_BLOCK_KEYS`."""
        return metrics.stack_snapshot(self, params, evaluation.test, evaluation.O)

    def summary(self, result) -> tuple[list, dict]:
        """The summary table's rows (per-block gating alignment, the head's alignment; Table 3) and the sidecar's
        theory section (none: the paper's theorems are for one layer)."""
        cfg, h = self.cfg, result.history
        fmt = lambda key: " / ".join(f"{v:.3f}" for v in h[key][-1])  # noqa: E731
        rows = [("model, regime", f"{self.label} (norm {cfg.norm}), {cfg.regime}")] + self._head_rows(result) + [
            ("cos(w_k, o_+) per block", fmt("cos_pos_blocks")), ("cos(w_k, o_-) per block", fmt("cos_neg_blocks")),
            ("cos(w_k, relevant plane) per block", fmt("cos_rel_blocks")),
            ("mean cos(w_k, o_j), irrelevant j, per block", fmt("cos_irr_blocks")),
            ("W_O rows: cos with relevant plane (mean)", f"{h['mlp_rel'][-1]:.3f}"),
            ("W_O rows: cos with o_+ (v>0), o_- (v<0)", f"{h['mlp_pos'][-1]:.3f}, {h['mlp_neg'][-1]:.3f}")]
        return rows, {"note": "the paper's theorems are for one layer; a stack is measured, not bounded"}

    def figure(self, result):
        from .plotting import plot_features_stack_run

        return plot_features_stack_run(result)


class SSM(_FeatureModel):
    """``ssm``, the paper's model: the Eq. 5 mixer (``W_B``, ``W_C`` frozen at ``wbc0 I`` unless trained) and
    the Eq. 6 head, through the core's mixer block in its cheapest form (:mod:`~mamba_dynamics.features.content`)."""

    content = True

    def loss_and_grad(self, params, batch, *, reference: bool = False) -> LossGrad:
        if reference:
            return self._reference_grads(params, batch)
        return content.content_grads(params, batch.X, batch.y, "W_B" in self.trained, self.scratch("step"),
                                     self.scratch("head"), self.scratch("active", rows=True), self.mixer_gate)

    def _outputs(self, params, X):
        return content.content_outputs(params, X, self.scratch("eval"), self.mixer_gate)


class _Registry(Registry):
    """The family's registry: the gate-only reading is a class of its own under the name ``ssm``."""

    def model_class(self, cfg) -> type:
        cls = super().model_class(cfg)
        return GateOnlySSM if cls is SSM and not cfg.content else cls


#: the family's models by ``--model`` name (``REGISTRY.build(cfg)``)
REGISTRY = _Registry("features")
REGISTRY.register("ssm", stacked=SSMStack)(SSM)
REGISTRY.register("lt-mlp")(LinearAttentionMLP)
REGISTRY.register("st-mlp")(SoftmaxAttentionMLP)


__all__ = ("REGISTRY", "Evaluation", "SSM", "GateOnlySSM", "LinearAttentionMLP", "SoftmaxAttentionMLP", "SSMStack")
