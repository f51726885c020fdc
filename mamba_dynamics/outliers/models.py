"""The outlier-ICL models (arXiv 2510.00399) as objects of the one model interface (:mod:`mamba_dynamics.core.model`).

========================  ======================================================================================
class                     what it is
========================  ======================================================================================
:class:`OneLayer`         ``mamba`` (eq. 3) and ``lt`` (the linear Transformer, ``G == 1``): one layer, the
                          paper's model
:class:`SoftmaxOneLayer`  ``st``, the softmax Transformer of App. B.1, at one layer: eq. 3 with the gate times
                          the score replaced by a softmax weight (its own kernel, the stack's NumPy path at depth
                          1 as its reference)
:class:`Stack`            any of the three mixers in ``layers > 1`` residual blocks (Table 1, App. B.1 Table 4;
                          :mod:`mamba_dynamics.outliers.stack`)
========================  ======================================================================================

:data:`REGISTRY` builds one from an :class:`~mamba_dynamics.outliers.config.OutlierConfig`
(``REGISTRY.build(cfg)``): ``cfg.model`` picks the mixer and ``cfg.layers`` the class, in that one place.  Both
read a :class:`~mamba_dynamics.outliers.data.PromptBatch` (``P`` ``(B, l+1, d+1)``, ``z`` ``(B,)``), train ``W_B``,
``W_C`` and, for Mamba, ``w`` (the linear Transformer's ``w`` stays fixed), and track the Cor. 1-2 quantities on
two fixed test sets (:class:`TestSets`).  What a run prints (:meth:`OneLayer.summary`) sits here too: the rows of
the summary table are what the model tracks, and the theorems cover the one-layer model only.

Glossary: ``params`` = :class:`~mamba_dynamics.outliers.model.Params` (one layer) or
:class:`~mamba_dynamics.outliers.stack.StackParams`; ``tests`` = :class:`TestSets` (clean and outlier prompts).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..core.losses import LossGrad
from ..core.model import Model, Registry
from . import gla, gradients, metrics, model, stack
from .data import PromptBatch


#: the family's models by ``--model`` name (``REGISTRY.build(cfg)``)
REGISTRY = Registry("outliers")


class TestSets(NamedTuple):
    """The fixed evaluation sets of a run: clean prompts (``alpha = 0``) and prompts with unseen outliers."""

    clean: PromptBatch
    noisy: PromptBatch


class _OutlierModel(Model):
    """What both depths share: the gate is the mixer's, and the trained blocks."""

    @property
    def gated(self):
        """The mixer's gate (:attr:`~mamba_dynamics.outliers.config.OutlierConfig.gate`), as every function of the
        family takes it: a scalar :class:`~mamba_dynamics.core.gates.Gate` (Mamba's, App. E.6's, or none: falsy)
        or GLA's vector gate."""
        return self.cfg.gate

    @property
    def trained(self) -> tuple:
        return ("W_B", "W_C", "w") if self.gated.learned else ("W_B", "W_C")

    @property
    def attention(self):
        """The softmax Transformer's :class:`~mamba_dynamics.core.attention.Attention` (``st``), else None."""
        return self.cfg.attention

    def _common_rows(self, result) -> list:
        cfg, h = self.cfg, result.history
        return [("status", result.status), ("steps done", str(result.steps_done)),
                ("wall time", f"{result.wall_time:.1f} s"),
                ("final train hinge loss", f"{h['train_loss'][-1]:.4g}"),
                ("test error, clean (alpha=0)", f"{h['test_err_clean'][-1]:.4f}"),
                (f"test error, alpha={cfg.alpha} ({cfg.label_rule}, {cfg.placement})", f"{h['test_err'][-1]:.4f}")]


class Stack(_OutlierModel):
    """``cfg.layers`` Mamba, linear-Transformer, softmax-attention or App. E.6 gated blocks (Mamba-2, gated
    retention, RetNet, GLA: ``core.gla_mixer``'s block, ``w`` = ``W_a`` ``(L, m, d+1)``) on a residual stream, read
    at the query's label channel (:mod:`mamba_dynamics.outliers.stack`); the training loop runs its small products on
    one BLAS thread (more cost more than they give, docs/performance_history.md, "Deep stacks")."""

    Params = stack.StackParams
    blas_threads = 1

    def init_params(self, rng: np.random.Generator):
        return stack.init_stack_params(self.cfg, rng)

    def loss_and_grad(self, params, batch, *, reference: bool = False) -> LossGrad:
        return stack.stack_grads(params.W_B, params.W_C, params.w, batch.P, batch.z, self.gated, not reference,
                                 self.cfg.norm, None if reference else self.scratch("step"), self.attention)

    def predict(self, params, P: np.ndarray, *, reference: bool = False) -> np.ndarray:
        return stack.forward(params, P, self.gated, not reference, self.cfg.norm,
                             None if reference else self.scratch("eval"), self.attention)

    def tracked(self, params, tests: TestSets) -> dict:
        """:func:`~mamba_dynamics.outliers.metrics.stack_snapshot`: test errors, norms, per-block Cor. 1-2 (for
        softmax attention the query's weights play the gate's part)."""
        return metrics.stack_snapshot(params, tests.clean, tests.noisy, self.gated, self.cfg.norm,
                                      self.scratch("eval"), self.attention)

    def snapshot(self, params, clean: PromptBatch, noisy: PromptBatch) -> dict:
        """The one-layer snapshot's keys (:data:`~mamba_dynamics.outliers.metrics.SNAPSHOT_KEYS`), the Cor. 1-2
        quantities from the last block, the one the readout reads (phase-diagram cells)."""
        st = self.tracked(params, TestSets(clean, noisy))
        out = {k: st[k] for k in ("test_err_clean", "test_err", "norm_W_B", "norm_W_C", "norm_w")}
        out.update({k: float(st[f"{k}_blocks"][-1]) for k in ("attn_same", "attn_other", "gate_outlier",
                                                               "gate_clean")})
        out["attn_other_unseen"] = float("nan")
        return out

    def summary(self, result) -> tuple[list, dict]:
        """The summary table's rows (per-block Cor. 1-2 quantities) and the sidecar's theory section (none: the
        paper's theorems are for one layer)."""
        cfg, h = self.cfg, result.history
        fmt = lambda key, f: " / ".join(format(v, f) for v in h[key][-1])  # noqa: E731
        att = self.attention
        weight = "mean gate" if att is None else "mean softmax weight"
        what = (f"{self.label} (norm {cfg.norm})" if att is None else
                f"{self.label} (softmax, temperature {att.temperature:g}, heads {att.heads}, "
                f"window {att.window or 'none'}{', norm ' + cfg.norm if cfg.layers > 1 else ''})")
        rows = [("model", what)] + self._common_rows(result) + [
            ("attention sum, same pattern, per block", fmt("attn_same_blocks", ".4g")),
            ("attention sum, other examples, per block", fmt("attn_other_blocks", ".4g")),
            (f"{weight}, outlier examples, per block", fmt("gate_outlier_blocks", ".3e")),
            (f"{weight}, clean examples, per block", fmt("gate_clean_blocks", ".3e")),
            ("weight on clean same-pattern examples, per block", fmt("weight_same_blocks", ".3g")),
            ("residual stream norm / prompt's, per block", fmt("stream_norm_blocks", ".3g"))]
        note = ("the paper's theorems cover Mamba and the linear Transformer; the softmax Transformer is measured, "
                "not bounded" if att is not None else
                "the paper's theorems are for one layer; a stack is measured, not bounded")
        return rows, {"note": note}

    def figure(self, result):
        from .plotting import plot_stack_run

        return plot_stack_run(result)


@REGISTRY.register("mamba", "lt", stacked=Stack)
class OneLayer(_OutlierModel):
    """One-layer Mamba (eq. 3) or the linear Transformer: hand-derived hinge gradients
    (:func:`~mamba_dynamics.outliers.gradients.hinge_grads`, reference
    :func:`~mamba_dynamics.outliers.gradients.hinge_grads_reference`), output :func:`~mamba_dynamics.outliers.model
    .forward` (NumPy, gates in log space: the same function with or without ``reference``)."""

    Params = model.Params

    def init_params(self, rng: np.random.Generator):
        return model.init_params(self.cfg, rng)

    def loss_and_grad(self, params, batch, *, reference: bool = False) -> LossGrad:
        fn = gradients.hinge_grads_reference if reference else gradients.hinge_grads  # looked up at call time
        return fn(params.W_B, params.W_C, params.w, batch.P, batch.z, self.gated)

    def predict(self, params, P: np.ndarray, *, reference: bool = False) -> np.ndarray:
        return model.forward(params, P, self.gated, self.attention)

    def tracked(self, params, tests: TestSets) -> dict:
        """:data:`~mamba_dynamics.outliers.metrics.SNAPSHOT_KEYS`, ``weight_same`` and the Cor. 2 profiles
        (:data:`~mamba_dynamics.outliers.metrics.PROFILE_KEYS`, each ``(l_ts,)``)."""
        scalars, prof = metrics.snapshot_with_profile(params, tests.clean, tests.noisy, self.gated, self.attention)
        return {**scalars, **{k: prof[k] for k in metrics.PROFILE_KEYS}}

    def snapshot(self, params, clean: PromptBatch, noisy: PromptBatch) -> dict:
        """:data:`~mamba_dynamics.outliers.metrics.SNAPSHOT_KEYS` (phase-diagram cells)."""
        return metrics.snapshot(params, clean, noisy, self.gated, self.attention)

    def summary(self, result) -> tuple[list, dict]:
        """The summary table's rows and the sidecar's theory section (Thms 1-4, Cors 1-2 at this setting)."""
        from . import theory

        cfg, h = self.cfg, result.history
        th = {
            "alpha_max": theory.alpha_max(cfg.model, cfg.p_a, cfg.l_tr, cfg.l_ts),
            "covered_by_theorem": theory.covered(cfg.model, cfg.alpha, cfg.p_a, cfg.l_tr, cfg.l_ts, cfg.M1),
            "conditions": [{"condition": n, "holds": ok, "detail": d} for n, ok, d in theory.conditions(cfg)],
            "iterations_scale": (theory.iterations_mamba(cfg.eta, cfg.p_a, cfg.beta, cfg.M1) if cfg.gated else
                                 theory.iterations_lt(cfg.eta, cfg.p_a, cfg.beta, cfg.M1, cfg.l_tr)),
            "trained_checks": ([{"check": n, "holds": ok, "detail": d}
                                for n, ok, d in theory.trained_checks(cfg, result.final)]
                               if "gate_by_rank" in result.final else []),
        }
        rows = [("model", cfg.model)] + self._common_rows(result) + [
            ("attention sum, same pattern (Cor. 1)", f"{h['attn_same'][-1]:.4g}"),
            ("attention sum, other examples (Cor. 1)", f"{h['attn_other'][-1]:.4g}"),
            ("mean gate, outlier examples (Cor. 2)", f"{h['gate_outlier'][-1]:.3e}"),
            ("mean gate, clean examples (Cor. 2)", f"{h['gate_clean'][-1]:.3e}"),
            ("||W_B||, ||W_C||, ||w||", f"{h['norm_W_B'][-1]:.3f}, {h['norm_W_C'][-1]:.3f}, {h['norm_w'][-1]:.3f}"),
            ("theory: largest alpha covered", f"{th['alpha_max']:.3g} (Thm {2 if cfg.gated else 4})"),
            ("theory: this alpha covered", str(th["covered_by_theorem"])),
            ("theory: conditions that fail", ", ".join(theory.failing(cfg)) or "none"),
            ("theory: conditions that cannot be checked",
             str(sum(c["holds"] is None for c in th["conditions"])) + " (unstated orders; results.json)"),
            ("theory: trained-model checks that fail (Cor. 1-2)",
             ", ".join(c["check"] for c in th["trained_checks"] if not c["holds"]) or "none")]
        return rows, th

    def figure(self, result):
        from .plotting import plot_run

        return plot_run(result)


@REGISTRY.register("st", stacked=Stack)
class SoftmaxOneLayer(OneLayer):
    """The one-layer softmax Transformer (App. B.1): the same parameters as eq. 3 (``w`` kept, fixed and unused),
    hand-derived gradients :func:`~mamba_dynamics.outliers.gradients.softmax_hinge_grads` (Numba), the stack's
    NumPy path at depth 1 (:func:`~mamba_dynamics.outliers.stack.stack_grads`, ``fast=False``: the softmax's
    Jacobian written out) as the reference; output :func:`~mamba_dynamics.outliers.gradients.softmax_outputs`
    (reference :func:`~mamba_dynamics.outliers.model.forward`).  It tracks what eq. 3 does, with its softmax
    weights standing for the gates."""

    def loss_and_grad(self, params, batch, *, reference: bool = False) -> LossGrad:
        if not reference:
            return gradients.softmax_hinge_grads(params.W_B, params.W_C, batch.P, batch.z, self.attention)
        lg = stack.stack_grads(params.W_B[None], params.W_C[None], params.w[None], batch.P, batch.z, False,
                               False, self.cfg.norm, None, self.attention)
        return LossGrad(lg.loss, {k: v[0] for k, v in lg.grads.items()}, lg.F)

    def predict(self, params, P: np.ndarray, *, reference: bool = False) -> np.ndarray:
        if reference:
            return model.forward(params, P, False, self.attention)
        return gradients.softmax_outputs(params.W_B, params.W_C, P, self.attention)

    def summary(self, result) -> tuple[list, dict]:
        """The summary table's rows (what the model tracks) and the sidecar's theory section (none: the paper's
        theorems cover Mamba and the linear Transformer)."""
        h, att = result.history, self.attention
        rows = [("model", f"{self.label} (softmax, temperature {att.temperature:g}, heads {att.heads}, "
                          f"window {att.window or 'none'})")] + self._common_rows(result) + [
            ("attention sum, same pattern (Cor. 1's quantity)", f"{h['attn_same'][-1]:.4g}"),
            ("attention sum, other examples (Cor. 1's quantity)", f"{h['attn_other'][-1]:.4g}"),
            ("mean softmax weight, outlier examples", f"{h['gate_outlier'][-1]:.3e}"),
            ("mean softmax weight, clean examples", f"{h['gate_clean'][-1]:.3e}"),
            ("softmax mass on clean same-pattern examples", f"{h['weight_same'][-1]:.3g}"),
            ("||W_B||, ||W_C||", f"{h['norm_W_B'][-1]:.3f}, {h['norm_W_C'][-1]:.3f}")]
        return rows, {"note": "the paper's theorems cover Mamba and the linear Transformer; the softmax "
                              "Transformer is measured, not bounded"}


@REGISTRY.register("mamba2", "gret", "retnet", stacked=Stack)
class GatedOneLayer(OneLayer):
    """Eq. 3 with another scalar gate of App. E.6 in Mamba's place (:mod:`mamba_dynamics.core.gates`): Mamba-2,
    gated retention or RetNet; the same kernel and reference as Mamba's with the gate's ``a``, ``lambda`` and
    their log-slopes (:func:`~mamba_dynamics.outliers.gradients.hinge_grads`).  It tracks what Mamba does (Cor.
    1-2's quantities, the gate by rank); the theorems cover Mamba and the LT only."""

    def _what(self) -> str:
        cfg = self.cfg
        extra = {"gret": f", tau {cfg.gate_tau:g}", "gla": f", tau {cfg.gate_tau:g}",
                 "retnet": f", gamma {cfg.decay:g}"}.get(cfg.model, "")
        return f"{self.label} (gate {cfg.model}{extra})"

    def summary(self, result) -> tuple[list, dict]:
        """The summary table's rows (what the model tracks) and the sidecar's theory section (a note: the
        paper's theorems cover Mamba and the linear Transformer; App. E.6 claims the extension without bounds)."""
        h = result.history
        rows = [("model", self._what())] + self._common_rows(result) + [
            ("attention sum, same pattern (Cor. 1's quantity)", f"{h['attn_same'][-1]:.4g}"),
            ("attention sum, other examples (Cor. 1's quantity)", f"{h['attn_other'][-1]:.4g}"),
            ("mean gate, outlier examples (Cor. 2's quantity)", f"{h['gate_outlier'][-1]:.3e}"),
            ("mean gate, clean examples (Cor. 2's quantity)", f"{h['gate_clean'][-1]:.3e}"),
            ("gate mass on clean same-pattern examples", f"{h['weight_same'][-1]:.3g}"),
            ("||W_B||, ||W_C||, ||w||", f"{h['norm_W_B'][-1]:.3f}, {h['norm_W_C'][-1]:.3f}, {h['norm_w'][-1]:.3f}")]
        return rows, {"note": "App. E.6 says the analysis extends to this gate; no bound is stated, so it is "
                              "measured, not bounded"}


@REGISTRY.register("gla", stacked=Stack)
class GLAOneLayer(GatedOneLayer):
    """Gated linear attention in eq. 3's place: a vector gate on the key dimension (``w`` is ``W_a`` ``(m,
    d+1)``), its own kernel :func:`~mamba_dynamics.outliers.gla.gla_grads` and reference
    :func:`~mamba_dynamics.outliers.gla.gla_grads_reference`; its tracked "gate" on an example is the mean over the
    coordinates of its decay products.  ``--layers L`` stacks GLA blocks (:class:`Stack`)."""

    def loss_and_grad(self, params, batch, *, reference: bool = False) -> LossGrad:
        fn = gla.gla_grads_reference if reference else gla.gla_grads
        return fn(params.W_B, params.W_C, params.w, batch.P, batch.z, self.gated)

    def predict(self, params, P: np.ndarray, *, reference: bool = False) -> np.ndarray:
        if reference:
            return model.gla_forward(params, P, self.gated)
        return gla.gla_outputs(params.W_B, params.W_C, params.w, P, self.gated)


__all__ = ("REGISTRY", "TestSets", "OneLayer", "SoftmaxOneLayer", "GatedOneLayer", "GLAOneLayer", "Stack")
