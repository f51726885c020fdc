"""Quantities tracked during training of the feature-filtering model (arXiv 2602.12499; docs/features.md).

Glossary (key -> meaning, paper object):

==================  =======================================================================================
key                 meaning
==================  =======================================================================================
``w_pos``           <w, o_+>  (gating alignment with the relevant pattern of label +1; Lemma 4.1)
``w_neg``           <w, o_->
``w_irr``           mean_j <w, o_j> over irrelevant j (signed; Lemma 4.2 says strongly negative in locality)
``w_irr_abs``       max_j |<w, o_j>| over irrelevant j
``cos_pos``         cos(w, o_+); ``cos_neg``: cos(w, o_-); ``cos_irr``: mean_j cos(w, o_j) (0 when w = 0);
                    ``cos_irr_min``: min_j cos(w, o_j)
``norm_w``          ||w||  (``ssm``);  for ``lt-mlp`` the same keys use the attention matrix: ``w_pos`` =
                    o_+^T W o_+, ``w_neg`` = o_-^T W o_-, ``w_irr`` = mean_j o_j^T W o_j, ``cos_*`` = these /||W||_F
``gate_rel``        mean gate sigma(w^T x) on relevant/confusing tokens (o_+ or o_-) of the test set = beta_{s,s}
``gate_irr``        mean gate on irrelevant tokens
``beta_next``       mean beta_s^(s+1) = sigma_s (1 - sigma_{s+1}) (off-diagonal gate product of the proofs)
``rel_share``       share of output energy on the relevant directions, sum_l (<y_l,o_+>^2 + <y_l,o_->^2) /
                    sum_l ||y_l||^2 (any model)
``mlp_pos``         mean over neurons with a_i > 0 of cos(v_i, o_+)  (lucky-neuron alignment)
``mlp_neg``         mean over neurons with a_i < 0 of cos(v_i, o_-)
``mlp_irr``         mean over all neurons and irrelevant j of |cos(v_i, o_j)|
``mlp_pos_max``     max over neurons with a_i > 0 of cos(v_i, o_+); ``mlp_neg_max`` likewise with o_-
``lucky_frac``      fraction of "lucky" neurons (Fig. 5): rows W_O(i,:) whose largest |cosine| with the basis is
                    with the relevant pattern of their output sign (o_+ if a_i > 0, o_- if a_i < 0), and positive
                    (about 1/(2d) at a random initialisation)
``w_proj``          the full alignment vector <w, o_k>, k = +, -, 3..d, shape ``(d,)`` (every irrelevant j)
``wbc_rel_share``   share of ||W_B W_C^T||_F^2 on the relevant block span(o_+, o_-) (paper reading; 2/d^2 at
                    ``W^(0) = delta I``); NaN for other models
``margin``          min over the training set of y F(X)
``attn_rel``        softmax attention (``st-mlp``): the mean attention mass a token puts on relevant / confusing
                    tokens (o_+ or o_-), over the tokens of the test set (NaN for the other models)
``attn_near``       ``st-mlp``: the mean mass on the tokens within ``gap_near`` of the reading token (the near
                    pair's distance of local concentration; the token itself included)
==================  =======================================================================================
"""

from __future__ import annotations

import numpy as np

from ..core import gates
from ..core.gates import VectorGate
from ..core.gating import sigmoid
from ..core.losses import error_01
from . import model
from .data import Sequences
from .head import head_outputs

KEYS = ("w_pos", "w_neg", "w_irr", "w_irr_abs", "cos_pos", "cos_neg", "cos_irr", "cos_irr_min", "norm_w", "gate_rel",
        "gate_irr", "beta_next", "rel_share", "mlp_pos", "mlp_neg", "mlp_irr", "mlp_pos_max", "mlp_neg_max",
        "lucky_frac", "wbc_rel_share", "attn_rel", "attn_near")
#: the attention statistics read at most this many test sequences, and none past this length (the weights are
#: ``(N, h, L, L)``)
ATTENTION_STATS_SEQUENCES, ATTENTION_STATS_MAX_L = 200, 512
#: array-valued tracked quantities (one row per logged step)
PROFILE_KEYS = ("w_proj",)


def alignment(params: "model.Params", O: np.ndarray, gated: bool) -> dict:
    """Gating (or attention) alignment with the patterns; ``O`` ``(d, d)`` rows o_+, o_-, o_3...  GLA's ``W_a``
    ``(d, r)``: the alignment of its mean gating vector ``W_a 1 / r`` (the mean pre-activation over the key
    coordinates)."""
    if gated:
        w = params.w.mean(axis=1) if params.w.ndim == 2 else params.w
        proj = O @ w  # <w, o_k>
        norm = float(np.linalg.norm(w))
    else:
        proj = np.einsum("kd,de,ke->k", O, params.W, O)  # o_k^T W o_k
        norm = float(np.linalg.norm(params.W))
    cos = proj / norm if norm > 0 else np.zeros_like(proj)
    return {"w_proj": np.asarray(proj, dtype=np.float64), "w_pos": proj[0], "w_neg": proj[1], "w_irr": float(proj[2:].mean()),
            "w_irr_abs": float(np.abs(proj[2:]).max()), "cos_pos": cos[0], "cos_neg": cos[1],
            "cos_irr": float(cos[2:].mean()), "cos_irr_min": float(cos[2:].min()), "norm_w": norm}


def mlp_alignment(params: "model.Params", O: np.ndarray) -> dict:
    """Cosines of the MLP neurons with the patterns (see module glossary)."""
    V = params.V
    norms = np.linalg.norm(V, axis=1)
    norms[norms == 0] = 1.0
    cos = (V @ O.T) / norms[:, None]  # (m, d)
    pos, neg = params.a > 0, params.a < 0
    own = np.where(pos, 0, 1)  # the relevant pattern of each neuron's output sign
    rows = np.arange(len(own))
    lucky = (np.argmax(np.abs(cos), axis=1) == own) & (cos[rows, own] > 0)
    return {"mlp_pos": float(cos[pos, 0].mean()) if pos.any() else np.nan,
            "mlp_neg": float(cos[neg, 1].mean()) if neg.any() else np.nan,
            "mlp_irr": float(np.abs(cos[:, 2:]).mean()),
            "mlp_pos_max": float(cos[pos, 0].max()) if pos.any() else np.nan,
            "mlp_neg_max": float(cos[neg, 1].max()) if neg.any() else np.nan,
            "lucky_frac": float(lucky.mean())}


def projection_stats(params: "model.Params", O: np.ndarray, content: bool) -> dict:
    """``wbc_rel_share``: share of ``||W_B W_C^T||_F^2`` in the relevant block (NaN without the content factor)."""
    if not content:
        return {"wbc_rel_share": np.nan}
    A = O @ (params.W_B @ params.W_C.T) @ O.T  # in the pattern basis
    total = float(np.sum(A * A))
    return {"wbc_rel_share": float(np.sum(A[:2, :2] ** 2)) / total if total > 0 else np.nan}


def gate_stats(params: "model.Params", seqs: Sequences, O: np.ndarray, gated, Y: np.ndarray) -> dict:
    """``gate_rel``, ``gate_irr``, ``beta_next`` (SSM; NaN for lt-mlp) and ``rel_share`` (any model); ``Y``
    ``(N, L, d)``: the model's outputs on ``seqs``.  ``gated``: True / Mamba's gate (``sigma(w^T x)``), another
    :class:`~mamba_dynamics.core.gates.Gate` (its ``1 - lambda(t)``, how much a token resets the state, which is
    Mamba's ``sigma``; ``beta_next`` = ``a(t_l) lambda(t_{l+1})``), GLA's
    :class:`~mamba_dynamics.core.gates.VectorGate` (``1 - lambda`` and ``lambda_{l+1}`` averaged over the key
    coordinates, input coefficient 1), or False."""
    out = {"gate_rel": np.nan, "gate_irr": np.nan, "beta_next": np.nan}
    if gated:
        t = seqs.X @ params.w
        if isinstance(gated, VectorGate):
            keep = np.exp(gates.log_decay(t, gated.decay)).mean(axis=2)
            sig, coef = 1.0 - keep, np.ones_like(keep)
        elif isinstance(gated, bool) or gated.kind == "mamba":
            sig = sigmoid(t)
            coef, keep = sig, 1.0 - sig
        else:
            keep = np.exp(gates.log_decay(t, gated))
            sig, coef = 1.0 - keep, np.exp(gates.log_coef(t, gated))
        rel = seqs.k < 2
        out["gate_rel"] = float(sig[rel].mean()) if rel.any() else np.nan
        out["gate_irr"] = float(sig[~rel].mean()) if (~rel).any() else np.nan
        out["beta_next"] = float((coef[:, :-1] * keep[:, 1:]).mean()) if sig.shape[1] > 1 else np.nan
    on_rel = np.einsum("nld,kd->nlk", Y, O[:2])
    total = np.einsum("nld,nld->n", Y, Y)
    out["rel_share"] = float(np.mean(np.einsum("nlk,nlk->n", on_rel, on_rel) / np.maximum(total, 1e-300)))
    return out


def attention_stats(params: "model.Params", seqs: Sequences, attention, gap_near: int) -> dict:
    """``attn_rel`` and ``attn_near`` (module glossary) of softmax attention on the first
    :data:`ATTENTION_STATS_SEQUENCES` sequences of ``seqs``; NaN without ``attention`` or past
    :data:`ATTENTION_STATS_MAX_L` tokens."""
    L = seqs.X.shape[1]
    if attention is None or L > ATTENTION_STATS_MAX_L:
        return {"attn_rel": np.nan, "attn_near": np.nan}
    from ..core.attention import softmax_weights_reference

    X, k = seqs.X[:ATTENTION_STATS_SEQUENCES], seqs.k[:ATTENTION_STATS_SEQUENCES]
    A = softmax_weights_reference(X, X @ params.W.T, attention).mean(axis=1)  # (N, L, L)
    t, s = np.arange(L)[:, None], np.arange(L)[None, :]
    near = (s <= t) & (t - s <= gap_near)
    return {"attn_rel": float(np.einsum("nts,ns->nt", A, k < 2).mean()),
            "attn_near": float(np.einsum("nts,ts->nt", A, near).mean())}


def snapshot(mdl, params: "model.Params", test: Sequences, O: np.ndarray) -> dict:
    """Every key of :data:`KEYS` plus ``test_err`` for the current parameters of the one-layer model ``mdl`` (a
    :class:`~mamba_dynamics.features.models.SSM` or another one-layer model of the family, whose ``gated``,
    ``content`` and fast outputs it reads)."""
    Y = mdl.outputs(params, test.X)  # once, for the error and the statistics
    gated = mdl.gated
    out = {"test_err": error_01(head_outputs(Y, params.V, params.a, mdl.scratch("eval")), test.y)}
    out.update(alignment(params, O, gated))
    out.update(mlp_alignment(params, O))
    out.update(gate_stats(params, test, O, getattr(mdl, "mixer_gate", gated), Y))
    out.update(projection_stats(params, O, gated and mdl.content))
    out.update(attention_stats(params, test, getattr(mdl, "attention", None), mdl.cfg.gap_near))
    return out


# ------------------------------------------------------------------------------------------- deep stacks

#: per-block arrays ``(L,)`` of a stack's snapshot
STACK_BLOCK_KEYS = ("cos_pos_blocks", "cos_neg_blocks", "cos_rel_blocks", "cos_irr_blocks", "cos_irr_abs_blocks",
                    "gate_rel_blocks", "gate_irr_blocks")
#: scalars of a stack's snapshot (the head and the test error)
STACK_KEYS = ("test_err", "mlp_pos", "mlp_neg", "mlp_irr", "mlp_pos_max", "mlp_neg_max", "lucky_frac", "mlp_rel")


def stack_snapshot(mdl, params, test: Sequences, O: np.ndarray) -> dict:
    """A stack's logged quantities (:mod:`mamba_dynamics.features.stack`): the test error, the head's
    :func:`mlp_alignment` and ``mlp_rel`` (mean over rows of ``W_O`` of the cosine with the relevant plane
    ``span(o_+, o_-)``, ``||P_rel v_i|| / ||v_i||``), and per block ``k`` (arrays ``(L,)``) the gating vector's
    cosines with ``o_+``, ``o_-``, with the relevant plane (``cos_rel``), the mean and the largest absolute
    cosine over the irrelevant ``o_j`` (Table 3's ``cos(w_Delta, .)``), and the mean gate on relevant /
    irrelevant tokens of block ``k``'s input.  ``mdl``: the :class:`~mamba_dynamics.features.models.SSMStack`."""
    from .stack import block_inputs

    out = {"test_err": error_01(mdl.predict(params, test.X), test.y)}
    out.update(mlp_alignment(params, O))
    vn = np.linalg.norm(params.V, axis=1)
    out["mlp_rel"] = float(np.mean(np.linalg.norm(params.V @ O[:2].T, axis=1) / np.where(vn > 0, vn, 1.0)))
    norms = np.linalg.norm(params.w, axis=1)
    cos = (params.w @ O.T) / np.where(norms > 0, norms, 1.0)[:, None]  # (L, d)
    out.update({"cos_pos_blocks": cos[:, 0], "cos_neg_blocks": cos[:, 1],
                "cos_rel_blocks": np.sqrt(cos[:, 0] ** 2 + cos[:, 1] ** 2), "cos_irr_blocks": cos[:, 2:].mean(axis=1),
                "cos_irr_abs_blocks": np.abs(cos[:, 2:]).max(axis=1)})
    rel = test.k < 2
    rel_g, irr_g = [], []
    for k, U in enumerate(block_inputs(params, test.X, mdl.cfg.norm)):
        sig = sigmoid(U @ params.w[k])
        rel_g.append(float(sig[rel].mean()) if rel.any() else np.nan)
        irr_g.append(float(sig[~rel].mean()) if (~rel).any() else np.nan)
    out.update({"gate_rel_blocks": np.asarray(rel_g), "gate_irr_blocks": np.asarray(irr_g)})
    return out
