"""The single-index models (arXiv 2510.12026) as objects of the one model interface (:mod:`mamba_dynamics.core.model`).

=======================  ======================================================================================
class                    what it is
=======================  ======================================================================================
:class:`Readout`         ``mamba-single-index`` / ``la-single-index``: the Algorithm-1 readout ``M = <gamma,
                         psi>`` (``W_B^T W_C = diag(gamma, 0)``, the gate fixed by ``rho`` and the bias) and the
                         MLP head; its gradient is Stage I's (``gamma`` only), its training the closed-form
                         Algorithm 1 (:func:`mamba_dynamics.single_index.train.pretrain`)
:class:`Network`         ``mamba-`` / ``la-single-index-e2e``: one-layer Mamba (or linear attention) + MLP, every
                         weight trained end to end with Adam or SGD in the one loop
                         (:func:`mamba_dynamics.single_index.network_train.train_network`)
:class:`SoftmaxNetwork`  ``st-single-index-e2e``: the same with causal softmax attention (a query attends to its
                         context and itself, weights ``softmax((W_B z_i) . (W_C z_q) / tau)``): the Transformer
=======================  ======================================================================================

:data:`REGISTRY` builds one from a :class:`~mamba_dynamics.single_index.config.SingleIndexConfig` or
:class:`~mamba_dynamics.single_index.config.NetworkConfig` by its model name (``cfg.model``).

Glossary: :class:`ReadoutParams` ``gamma`` ``(d~,)``, ``v``, ``bj``, ``a`` ``(m,)``; batches
:class:`~mamba_dynamics.single_index.gradients.ReadoutBatch` ``(X (T, N+1, d), Y (T, N+1))`` and
:class:`~mamba_dynamics.single_index.network_gradients.NetworkBatch` ``(Xc, Yc, Xq, yq)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..core.losses import LossGrad
from ..core.model import Model, Registry
from ..core.optim import Optimizer
from ..core.train import ParamBlocks
from . import gradients, model, network, network_gradients
from .metrics import effective_context, extracted_alignment
from .gradients import ReadoutBatch
from .network_gradients import NetworkBatch

#: the family's models by ``--model`` name (``REGISTRY.build(cfg)``, ``cfg.model``)
REGISTRY = Registry("single_index")


@dataclass
class ReadoutParams(ParamBlocks):
    """The readout's parameters: ``gamma`` ``(d~,)`` (``W_B^T W_C = diag(gamma, 0)``) and the MLP ``v`` (signs),
    ``bj`` (biases), ``a`` (output weights), each ``(m,)``."""

    gamma: np.ndarray
    v: np.ndarray
    bj: np.ndarray
    a: np.ndarray


@REGISTRY.register("mamba-single-index", "la-single-index")
class Readout(Model):
    """The Algorithm-1 readout and MLP with the Stage-I loss ``L1 = (1/2T) sum_t (f^t - y^t)^2`` (its gradient in
    ``gamma``: :func:`~mamba_dynamics.single_index.gradients.stage1_grads`, the fast ``psi`` a Numba kernel, the
    reference through the explicit embedding).  The gate bias follows the prompt length (``cfg.bias_for(N)``)."""

    Params = ReadoutParams

    @property
    def trained(self) -> tuple:
        return ("gamma",)

    def init_params(self, rng: np.random.Generator) -> ReadoutParams:
        """Stage I's starting point: ``gamma = gamma0 1``, ``v`` random signs (drawn from ``rng``), ``bj = 0``,
        ``a = a0 1``."""
        cfg = self.cfg
        v = np.where(rng.random(cfg.width) < 0.5, 1.0, -1.0)
        return ReadoutParams(np.full(cfg.dt, cfg.gamma0), v, np.zeros(cfg.width), np.full(cfg.width, cfg.a0))

    def loss_and_grad(self, params: ReadoutParams, batch: ReadoutBatch, *, reference: bool = False) -> LossGrad:
        cfg = self.cfg
        return gradients.stage1_grads(params.gamma, batch.X, batch.Y, cfg.rho, cfg.bias_for(batch.X.shape[1] - 1),
                                      cfg.gated, params.v, params.bj, params.a,
                                      model.psi_reference if reference else None)

    def predict(self, params: ReadoutParams, batch: ReadoutBatch, *, reference: bool = False) -> np.ndarray:
        """``f`` ``(T,)`` on single-query prompts (``Y[:, -1]`` is never read)."""
        cfg = self.cfg
        Yc = batch.Y.copy()
        Yc[:, -1] = 0.0
        psi = model.psi_reference if reference else model.psi
        M = psi(batch.X, Yc, cfg.rho, cfg.bias_for(batch.X.shape[1] - 1), cfg.gated) @ params.gamma
        return model.mlp(M, params.v, params.bj, params.a)


@REGISTRY.register("mamba-single-index-e2e", "la-single-index-e2e")
class Network(Model):
    """The end-to-end network (:mod:`mamba_dynamics.single_index.network`): squared loss, every block trained
    (the linear-attention network's ``w``, ``b`` get zero gradients), the context passes in the model's own
    workspaces."""

    Params = network.NetworkParams

    def init_params(self, rng: np.random.Generator) -> network.NetworkParams:
        """``W_B, W_C`` ~ N(0, init_scale^2 / D); gate ``w = e_label / rho0``, ``b = -gate_offset0`` (the
        Algorithm-1 gate: ``sig(y/rho0 - log N - gate_offset0)``); MLP ``v`` = +-1, ``c`` ~ U[-1, 1], ``a`` ~
        N(0, 1/m)."""
        cfg = self.cfg
        D, ms, m = cfg.D, cfg.state, cfg.width
        W_B = rng.standard_normal((ms, D)) * cfg.init_scale / math.sqrt(D)
        W_C = rng.standard_normal((ms, D)) * cfg.init_scale / math.sqrt(D)
        w = np.zeros(D)
        w[-1] = 1.0 / cfg.rho0
        v = np.where(rng.random(m) < 0.5, 1.0, -1.0)
        c = rng.uniform(-1.0, 1.0, m)
        a = rng.standard_normal(m) / math.sqrt(m)
        return network.NetworkParams(W_B, W_C, w, np.array([-cfg.gate_offset0]), v, c, a)

    def optimizer(self) -> Optimizer:
        cfg = self.cfg
        return Optimizer(cfg.optimizer, cfg.lr, cfg.weight_decay)

    def loss_and_grad(self, params, batch: NetworkBatch, *, reference: bool = False) -> LossGrad:
        return network_gradients.network_grads(params, batch, self.cfg.gated, self.cfg.tokens, reference,
                                               None if reference else self.scratch("step"))

    def predict(self, params, batch, *, reference: bool = False) -> np.ndarray:
        """``f`` ``(n, Q)`` for the contexts and queries of ``batch`` (its ``yq``, if any, is not read)."""
        return network.predict(params, batch.Xc, batch.Yc, batch.Xq, self.cfg.gated, self.cfg.tokens, reference,
                               None if reference else self.scratch("eval"))

    def evaluate(self, params, batch: tuple, work=None) -> dict:
        """Per prompt of ``batch`` = ``(Xc, Yc, Xq, yq, beta)``: the risk ``(n,)``, the effective context ``n_eff
        / N`` and the alignments ``cos_linear``, ``cos_quad`` of the query polynomial ``W_C^T W_B A`` with beta
        (:func:`mamba_dynamics.single_index.network_train.score`); ``work``: the context pass's workspace."""
        cfg = self.cfg
        Xc, Yc, Xq, yq, beta = batch
        N = Xc.shape[1]
        A, logG = network.context_statistic(Xc, Yc, params.w, params.b, cfg.gated, cfg.tokens, log_gates=True,
                                            work=work)
        M = network.scan_outputs(params, A, network.embed_tokens(Xq, None, cfg.tokens, fast=True), N, cfg.gated)[0]
        f = network.mlp_forward(M, params)[0]
        coef = (A @ params.W_B.T @ params.W_C)[:, :-1]  # the query polynomial's coefficients (n, D-1)
        if cfg.tokens == "hermite":
            cos_u, cos_q = extracted_alignment(coef, beta)
        else:
            un = np.linalg.norm(coef, axis=1)
            cos_u = np.einsum("nk,nk->n", coef, beta) / np.maximum(un, 1e-300)
            cos_q = np.full(len(coef), np.nan)
        return {"risk_prompts": np.mean((f - yq) ** 2, axis=1) / (1.0 + cfg.tau**2),
                "n_eff": effective_context(np.exp(logG)) / N, "cos_linear": cos_u, "cos_quad": cos_q}


class SoftmaxNetwork(Network):
    """The end-to-end network with causal softmax attention (``gate = "softmax"``): a query reads ``M = sum_i A_i
    y_i`` over its context, ``A = softmax_i((W_B z_i) . (W_C z_q) / tau)`` with the query itself among the keys
    (eq. 3 of arXiv 2510.00399 with softmax weights), then the MLP head; ``w``, ``b`` are unused (zero
    gradients).  Gradients: :func:`~mamba_dynamics.single_index.network_gradients.softmax_network_grads`."""

    def loss_and_grad(self, params, batch: NetworkBatch, *, reference: bool = False) -> LossGrad:
        return network_gradients.softmax_network_grads(params, batch, self.cfg.tokens, self.cfg.temperature,
                                                       reference)

    def _readout(self, params, Xc, Yc, Xq, reference: bool = False):
        tokens = self.cfg.tokens
        if reference:
            Zc, Zq = network.embed_tokens(Xc, Yc, tokens), network.embed_tokens(Xq, None, tokens)
            return network.softmax_readout_reference(params, Zc, Yc, Zq, self.cfg.temperature), None
        return network.softmax_readout(params, Xc, Yc, Xq, self.cfg.temperature, tokens)

    def predict(self, params, batch, *, reference: bool = False) -> np.ndarray:
        M = self._readout(params, batch.Xc, batch.Yc, batch.Xq, reference)[0]
        return network.mlp_forward(M, params)[0]

    def evaluate(self, params, batch: tuple, work=None) -> dict:
        """The risk per prompt and ``n_eff / N``: ``1 / sum_i A_i^2`` of the attention weights on the context,
        averaged over the queries, relative to N (the query polynomial of the gated and linear networks does not
        exist here: its alignments are NaN)."""
        Xc, Yc, Xq, yq, beta = batch
        M, (_, _, _, A, _, _) = self._readout(params, Xc, Yc, Xq)
        f = network.mlp_forward(M, params)[0]
        n_eff = (A.sum(axis=2) ** 2 / np.maximum((A**2).sum(axis=2), 1e-300)).mean(axis=1) / Xc.shape[1]
        nan = np.full(len(Xc), np.nan)
        return {"risk_prompts": np.mean((f - yq) ** 2, axis=1) / (1.0 + self.cfg.tau**2), "n_eff": n_eff,
                "cos_linear": nan, "cos_quad": nan.copy()}


REGISTRY.register("st-single-index-e2e")(SoftmaxNetwork)

__all__ = ("REGISTRY", "ReadoutParams", "Readout", "Network", "SoftmaxNetwork")
