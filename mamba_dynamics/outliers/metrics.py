"""Quantities the proofs of arXiv 2510.00399 track, measured on a fixed batch of prompts.

Glossary (code name -> paper):

==================  ==========================================================================================
``err``             test 0-1 error ``P[z F <= 0]`` (Theorems 2 and 4)
``attn_same``       Cor. 1: sum over examples sharing the query's relevant pattern of ``p~_i^T W_B^T W_C p~_q``
``attn_other``      Cor. 1: the same sum over the other examples (``p~`` = input part ``x`` of ``p``)
``attn_other_unseen`` the same, on prompts of tasks outside ``T_tr`` only (NaN if there are none)
``gate_outlier``    Cor. 2: mean gate ``G_i`` of outlier examples (should be ``O(1/poly(M1))``)
``gate_clean``      Cor. 2: mean gate of clean examples
``weight_same``     the gate summed over the clean examples that share the query's pattern (for the softmax
                    Transformer, whose "gate" is its attention weight, the mass on them: its concentration)
``gate_by_rank``    Cor. 2: mean gate of the k-th closest clean example, ``k = 1..l`` (theory: ``>= 2^-(k-1)``
                    up to a constant); NaN where no prompt has ``k`` clean examples
``gate_by_pos``     mean gate at distance ``k = 1..l`` from the query, split by outlier / clean
``*_blocks``        deep stacks: the same sums and gate means per block ``(L,)``, on each block's input stream,
                    and ``stream_norm`` (growth of the residual stream at the query)
==================  ==========================================================================================
"""

from __future__ import annotations

import numpy as np

from .data import PromptBatch
from ..core.losses import error_01
from .model import Params, forward, gates, weights


def input_scores(W_B: np.ndarray, W_C: np.ndarray, X: np.ndarray) -> np.ndarray:
    """Input-part scores ``x~_i^T W_B^T W_C x~_q`` ``(B, l)`` of the rows ``X`` ``(B, l+1, d+1)`` (a prompt, or a
    block's input in a stack; label channel dropped), ``W_B``, ``W_C`` ``(m, d+1)``."""
    D = X.shape[2]
    A = (W_B.T @ W_C)[: D - 1, : D - 1]
    x, xq = X[:, :-1, :-1], X[:, -1, :-1]
    return np.matmul(x, (xq @ A.T)[:, :, None])[..., 0]  # x_i^T (A x_q): O(B l d), not the O(B l d^2) contraction


def attention_sums(params: Params, batch: PromptBatch) -> tuple[float, float, float]:
    """Cor. 1 sums (mean over prompts) of input-part scores on same-pattern examples, on the other examples, and
    on the other examples of prompts whose task is unseen in training."""
    s = input_scores(params.W_B, params.W_C, batch.P)
    other = np.sum(s * ~batch.same, axis=1)
    unseen = float(np.mean(other[~batch.seen])) if (~batch.seen).any() else float("nan")
    return float(np.mean(np.sum(s * batch.same, axis=1))), float(np.mean(other)), unseen


def _masked_mean(values: np.ndarray, mask: np.ndarray, axis=None):
    count = mask.sum(axis=axis)
    total = np.where(mask, values, 0.0).sum(axis=axis)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def gate_profile(params: Params, batch: PromptBatch, gated: bool = True, attention=None) -> dict:
    """Gate statistics of Cor. 2 on ``batch``: scalars ``gate_outlier``, ``gate_clean``, ``weight_same`` and
    arrays ``(l,)`` ``gate_by_rank`` (with ``gate_rank_count`` prompts behind each entry), ``gate_by_pos_clean``,
    ``gate_by_pos_outlier`` (index 0 = next to the query).  ``attention``: the softmax Transformer, whose
    head-averaged weights stand for the gates (:func:`~mamba_dynamics.outliers.model.weights`)."""
    return profile_of(weights(params, batch.P, gated, attention), batch)


def profile_of(G: np.ndarray, batch: PromptBatch) -> dict:
    """:func:`gate_profile`'s statistics of the weights ``G`` ``(B, l)`` the query gives the examples of ``batch``
    (a one-layer model's gates, or one block's of a stack: :func:`block_gate_profiles`)."""
    out, clean = batch.outlier, ~batch.outlier
    Gr, outr, cleanr = G[:, ::-1], out[:, ::-1], clean[:, ::-1]  # distance order: index 0 is closest
    rank = np.cumsum(cleanr, axis=1) - 1  # rank among clean examples, counted from the query
    l = G.shape[1]
    by_rank = np.full(l, np.nan)
    rank_count = np.zeros(l, dtype=np.int64)
    for k in range(l):
        sel = cleanr & (rank == k)
        rank_count[k] = sel.sum()
        if rank_count[k]:
            by_rank[k] = Gr[sel].mean()
    return {
        "gate_outlier": float(_masked_mean(G, out)),
        "gate_clean": float(_masked_mean(G, clean)),
        "weight_same": float(np.mean(np.sum(G * (batch.same & clean), axis=1))),
        "gate_by_rank": by_rank,
        "gate_rank_count": rank_count,
        "gate_by_pos_clean": _masked_mean(Gr, cleanr, axis=0),
        "gate_by_pos_outlier": _masked_mean(Gr, outr, axis=0),
    }


def snapshot(params: Params, clean: PromptBatch, noisy: PromptBatch, gated: bool, attention=None) -> dict:
    """Scalar diagnostics of one logged step (see :func:`snapshot_with_profile`)."""
    return snapshot_with_profile(params, clean, noisy, gated, attention)[0]


def snapshot_with_profile(params: Params, clean: PromptBatch, noisy: PromptBatch, gated: bool,
                          attention=None) -> tuple[dict, dict]:
    """Scalar diagnostics of one logged step (test errors on the clean and outlier test sets, Cor. 1 sums,
    Cor. 2 gate means and ``weight_same`` on the outlier test set, parameter norms) and the full
    :func:`gate_profile`; ``attention``: the softmax Transformer (its weights as the gates)."""
    same, other, other_unseen = attention_sums(params, noisy)
    prof = gate_profile(params, noisy, gated, attention)
    scalars = {
        "test_err_clean": error_01(forward(params, clean.P, gated, attention), clean.z),
        "test_err": error_01(forward(params, noisy.P, gated, attention), noisy.z),
        "attn_same": same,
        "attn_other": other,
        "attn_other_unseen": other_unseen,
        "gate_outlier": prof["gate_outlier"],
        "gate_clean": prof["gate_clean"],
        "weight_same": prof["weight_same"],
        "norm_W_B": float(np.linalg.norm(params.W_B)),
        "norm_W_C": float(np.linalg.norm(params.W_C)),
        "norm_w": float(np.linalg.norm(params.w)),
    }
    return scalars, prof


SNAPSHOT_KEYS = (
    "test_err_clean", "test_err", "attn_same", "attn_other", "attn_other_unseen", "gate_outlier", "gate_clean",
    "norm_W_B", "norm_W_C", "norm_w",
)
#: the Cor. 2 profiles logged with the one-layer snapshot (each ``(l_ts,)``; :func:`gate_profile`)
PROFILE_KEYS = ("gate_by_rank", "gate_by_pos_clean", "gate_by_pos_outlier", "gate_rank_count")


# ------------------------------------------------------------------------------------------- deep stacks


def block_quantities(params, batch: PromptBatch, gated: bool, norm: str = "rms", attention=None) -> dict:
    """The Cor. 1-2 quantities of every block of a stack (:mod:`mamba_dynamics.outliers.stack`) on ``batch``,
    each ``(L,)``: ``attn_same`` / ``attn_other`` (Cor. 1 sums of block ``k``'s scores on its input stream,
    input part only, ``x~_i^T W_B^T W_C x~_q``), ``gate_outlier`` / ``gate_clean`` (the mean weight the query
    gives an outlier / a clean example in block ``k``: the gate ``G_i`` for Mamba, 1 for the linear Transformer,
    the softmax weight for the softmax Transformer, ``attention``), ``weight_same`` (that weight summed over the
    clean examples that share the query's pattern: for softmax attention the mass on them, its concentration) and
    ``stream_norm`` (mean ``||x_q||`` of the query's row of the residual stream entering block ``k``, over that
    of the prompt: how far it has grown).  At depth 1 they are the one-layer model's :func:`attention_sums` and
    :func:`gate_profile` means."""
    from .stack import block_inputs

    out = {k: [] for k in ("attn_same", "attn_other", "gate_outlier", "gate_clean", "weight_same", "stream_norm")}
    base = np.mean(np.linalg.norm(batch.P[:, -1, :], axis=1))
    streams, inputs = block_inputs(params, batch.P, gated, norm, attention)
    for k, (Xs, X) in enumerate(zip(streams, inputs)):
        s = input_scores(params.W_B[k], params.W_C[k], X)
        out["attn_same"].append(float(np.mean(np.sum(s * batch.same, axis=1))))
        out["attn_other"].append(float(np.mean(np.sum(s * ~batch.same, axis=1))))
        G = _block_weight(params, k, X, gated, attention)
        out["weight_same"].append(float(np.mean(np.sum(G * (batch.same & ~batch.outlier), axis=1))))
        out["gate_outlier"].append(float(_masked_mean(G, batch.outlier)))
        out["gate_clean"].append(float(_masked_mean(G, ~batch.outlier)))
        out["stream_norm"].append(float(np.mean(np.linalg.norm(Xs[:, -1, :], axis=1)) / base))
    return {k: np.asarray(v) for k, v in out.items()}


def block_gates(params, P: np.ndarray, gated, norm: str = "rms", attention=None) -> list:
    """The weight the query gives each example in every block of a stack, ``[G_1, ..., G_L]``, each ``(B, l)``:
    block ``k``'s gate on its own input stream (GLA: the mean over coordinates of its decay products; the linear
    Transformer: ones; softmax blocks: the query's attention weights).  ``P`` ``(B, l+1, d+1)``."""
    from .stack import block_inputs

    _, inputs = block_inputs(params, P, gated, norm, attention)
    return [_block_weight(params, k, X, gated, attention) for k, X in enumerate(inputs)]


def _block_weight(params, k: int, X: np.ndarray, gated, attention) -> np.ndarray:
    """Block ``k``'s weights ``(B, l)`` on its input ``X`` ``(B, l+1, d+1)``: the softmax weights of the query's
    row for attention blocks, else the gate (GLA: the mean over the coordinates of its decay products)."""
    if attention is not None:
        from ..core.attention import last_row_weights

        return last_row_weights(X, params.W_B[k], params.W_C[k], attention)[:, :-1]
    return gates(params.w[k], X, gated)


def block_gate_profiles(params, batch: PromptBatch, gated, norm: str = "rms", attention=None) -> list:
    """:func:`gate_profile` of every block of a stack (Fig. 4 at depth: the first block's gates and the others
    beside them), a list of ``L`` dicts."""
    return [profile_of(G, batch) for G in block_gates(params, batch.P, gated, norm, attention)]


def stack_snapshot(params, clean: PromptBatch, noisy: PromptBatch, gated: bool, norm: str = "rms",
                   work=None, attention=None) -> dict:
    """One logged step of a stack: test errors on the clean and outlier test sets, the summed parameter norms,
    and the per-block :func:`block_quantities` on the outlier test set (keys suffixed ``_blocks``).  ``work``: the
    workspace of the forwards (the model's); ``attention``: the softmax Transformer's blocks."""
    from .stack import forward as stack_forward

    out = {
        "test_err_clean": error_01(stack_forward(params, clean.P, gated, norm=norm, work=work, attention=attention),
                                   clean.z),
        "test_err": error_01(stack_forward(params, noisy.P, gated, norm=norm, work=work, attention=attention),
                             noisy.z),
        "norm_W_B": float(np.linalg.norm(params.W_B)),
        "norm_W_C": float(np.linalg.norm(params.W_C)),
        "norm_w": float(np.linalg.norm(params.w)),
    }
    out.update({f"{k}_blocks": v for k, v in block_quantities(params, noisy, gated, norm, attention).items()})
    return out


STACK_SCALAR_KEYS = ("test_err_clean", "test_err", "norm_W_B", "norm_W_C", "norm_w")
STACK_BLOCK_KEYS = ("attn_same_blocks", "attn_other_blocks", "gate_outlier_blocks", "gate_clean_blocks",
                    "weight_same_blocks", "stream_norm_blocks")
