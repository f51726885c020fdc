"""End-to-end training of the single-index networks (:mod:`mamba_dynamics.single_index.network`) with Adam or SGD
on fresh prompts every step, the quantities tracked during training, and the trained network's ICL risk vs N.

Each step draws ``batch`` prompts of one context length ``N`` (log-uniform in ``[N_min, N_max]``), ``queries``
queries each, and takes one optimiser step on the squared loss with the model's checked gradients
(:class:`mamba_dynamics.single_index.models.Network`, :func:`~mamba_dynamics.single_index.network_gradients
.network_grads`); the loop is the one every family runs, :func:`mamba_dynamics.core.train.fit` (logging,
divergence guard, Ctrl-C, progress bar).

Tracked every ``log_every`` steps on one fixed evaluation batch at ``N_max`` (spec section 5):

=================  ====================================================================================
``eval_risk``      ICL risk ``E[(f - y)^2] / (1 + tau^2)`` (1 = predicting zero)
``eval_risk_short`` the same on a second fixed batch at ``N_min`` (the risk-vs-N gap during training)
``share_relevant`` share of ``||W_B^T W_C||_F^2`` (label row and column left out) on the features that
                   involve only the relevant coordinates I
``cos_linear``     mean ``cos(u, beta)``, ``u`` = the linear part of the query polynomial ``W_C^T W_B A``
``cos_quad``       median ``|cos|`` of its quadratic form's top eigenvector with beta (Hermite tokens)
``n_eff``          effective context ``(sum G)^2 / sum G^2`` of the gate, relative to N (1 for linear attention)
``w_label``        the gate's weight on the label, ``w_y`` (``1/rho`` of the Algorithm-1 gate)
``gate_bias``      the trained gate bias ``b`` (the pre-activation is ``w^T z + b - log N``)
``w_square_rel``   mean gate weight on the relevant square features ``h_2(x_k)``, k in I (Hermite tokens;
                   negative: the gate down-weights examples with a large ``||x_I||``, whose labels are
                   heavy-tailed); ``w_square_irr`` the same on the irrelevant ones
=================  ====================================================================================

Glossary: ``I``, ``coefs`` the task (:func:`mamba_dynamics.single_index.data.task`); ``Ns`` test context lengths.
"""

from __future__ import annotations

import math
import time

import numpy as np

from ..core.seeds import seed_streams
from ..core.train import TrainResult, fit
from . import network
from .config import NetworkConfig
from .data import feature_blocks, relevant_mask, sample_prompts, sample_queries, task, test_rng
from .models import REGISTRY
from .network_gradients import NetworkBatch

#: Floats of contexts and embedded queries held at once when scoring.
TEST_FLOATS = 4_000_000
STREAMS = ("init", "train", "eval")


def init_params(cfg: NetworkConfig, rng: np.random.Generator) -> network.NetworkParams:
    """The network's initialisation (:meth:`mamba_dynamics.single_index.models.Network.init_params`)."""
    return REGISTRY.build(cfg).init_params(rng)


def draw_batch(cfg: NetworkConfig, I, coefs, n: int, N: int, q: int, rng: np.random.Generator) -> tuple:
    """``(Xc, Yc, Xq, yq, beta)``: ``n`` prompts of ``N`` examples and ``q`` queries each."""
    X, Y, beta = sample_prompts(n, N, cfg.d, I, coefs, cfg.tau, rng)
    Xq, yq = sample_queries(beta, q, coefs, cfg.tau, rng)
    return np.ascontiguousarray(X[:, :-1]), np.ascontiguousarray(Y[:, :-1]), Xq, yq, beta


def _coordinates_in(d: int, I) -> np.ndarray:
    """``(d,)`` mask of the relevant coordinates."""
    inI = np.zeros(d, dtype=bool)
    inI[I] = True
    return inI


def feature_mask(cfg: NetworkConfig, I) -> np.ndarray:
    """Relevant token features ``(D - 1,)`` (the label slot left out)."""
    return relevant_mask(cfg.d, I) if cfg.tokens == "hermite" else _coordinates_in(cfg.d, I)


def square_gate_weights(params: network.NetworkParams, cfg: NetworkConfig, I) -> tuple[float, float]:
    """Mean gate weight on the relevant and on the irrelevant square features (nan for raw tokens)."""
    if cfg.tokens != "hermite":
        return float("nan"), float("nan")
    sq = params.w[feature_blocks(cfg.d)["square"]]
    inI = _coordinates_in(cfg.d, I)
    return float(sq[inI].mean()), float(sq[~inI].mean()) if (~inI).any() else float("nan")


def share_relevant_K(params: network.NetworkParams, mask: np.ndarray) -> float:
    """Share of ``||W_B^T W_C||_F^2`` on the relevant feature block (label row and column left out)."""
    K = (params.W_B.T @ params.W_C)[:-1, :-1]
    total = float(np.sum(K**2))
    return float(np.sum(K[np.ix_(mask, mask)] ** 2)) / total if total > 0 else float("nan")


def score(params: network.NetworkParams, cfg: NetworkConfig, batch: tuple, work=None) -> dict:
    """Risk per prompt ``(n,)``, ``n_eff / N`` and the alignments ``cos_linear``, ``cos_quad`` ``(n,)`` of each
    prompt of one ``batch`` (from :func:`draw_batch`), by the model of ``cfg``
    (:meth:`~mamba_dynamics.single_index.models.Network.evaluate`); ``work``: the workspace of the context pass (a
    model's)."""
    return REGISTRY.build(cfg).evaluate(params, batch, work)


def _summary(parts: list) -> dict:
    cat = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    finite = lambda x: x[np.isfinite(x)]  # noqa: E731
    return {"risk": float(cat["risk_prompts"].mean()), "risk_prompts": cat["risk_prompts"],
            "n_eff": float(cat["n_eff"].mean()),
            "cos_linear": float(np.mean(finite(cat["cos_linear"]))) if finite(cat["cos_linear"]).size else np.nan,
            "cos_quad": float(np.median(finite(cat["cos_quad"]))) if finite(cat["cos_quad"]).size else np.nan}


def risk_at(params: network.NetworkParams, cfg: NetworkConfig, N: int) -> dict:
    """ICL risk (mean and per prompt) and alignment of the trained network at context length ``N`` on
    ``n_test`` prompts of the seeded test stream :func:`data.test_rng` ``(seed, N)``, ``test_queries`` each."""
    I, coefs = task(cfg)
    rng = test_rng(cfg.seed, N)
    parts = []
    chunk = max(1, TEST_FLOATS // (N * cfg.d + cfg.test_queries * (cfg.D + cfg.d)))
    for start in range(0, cfg.n_test, chunk):
        n = min(chunk, cfg.n_test - start)
        parts.append(score(params, cfg, draw_batch(cfg, I, coefs, n, N, cfg.test_queries, rng)))
    return _summary(parts)


def risk_curve(params: network.NetworkParams, cfg: NetworkConfig, Ns) -> dict:
    """:func:`risk_at` over ``Ns`` stacked into arrays ``N``, ``risk``, ``risk_prompts`` ``(len(Ns), n_test)``,
    ``n_eff``, ``cos_linear``, ``cos_quad``."""
    rows = [risk_at(params, cfg, int(N)) for N in Ns]
    out = {k: np.array([r[k] for r in rows]) for k in rows[0]}
    out["N"] = np.array([int(N) for N in Ns])
    return out


def train_network(cfg: NetworkConfig, show_progress: bool = False) -> TrainResult:
    """Train one network end to end; the run stops early (status ``diverged``, message naming the step and the
    quantity) if a loss or gradient is not finite or a block's norm passes ``diverge_norm``."""
    t0 = time.perf_counter()
    I, coefs = task(cfg)
    rngs = seed_streams(cfg.seed, STREAMS)
    model = REGISTRY.build(cfg)
    params = model.init_params(rngs["init"])
    init = params.copy()
    eval_batch = draw_batch(cfg, I, coefs, cfg.n_eval, cfg.N_max, cfg.queries, rngs["eval"])
    short_batch = draw_batch(cfg, I, coefs, cfg.n_eval, cfg.N_min, cfg.queries, rngs["eval"])
    mask = feature_mask(cfg, I)
    lo, hi = math.log(cfg.N_min), math.log(cfg.N_max)
    work = model.scratch("eval")

    def batches(k: int) -> NetworkBatch:
        N = int(round(math.exp(rngs["train"].uniform(lo, hi))))
        return NetworkBatch(*draw_batch(cfg, I, coefs, cfg.batch, N, cfg.queries, rngs["train"])[:4])

    def measure(k: int, window: np.ndarray) -> dict:
        s = _summary([model.evaluate(params, eval_batch, work)])
        row = {"train_loss": float(window.mean()) if window.size else np.nan, "eval_risk": s["risk"],
               "eval_risk_short": _summary([model.evaluate(params, short_batch, work)])["risk"],
               "share_relevant": share_relevant_K(params, mask)}
        row.update({key: s[key] for key in ("cos_linear", "cos_quad", "n_eff")})
        row["w_label"], row["gate_bias"] = float(params.w[-1]), float(params.b[0])
        row["w_square_rel"], row["w_square_irr"] = square_gate_weights(params, cfg, I)
        return row

    run = fit(model, params, batches, model.optimizer(), measure, steps=cfg.steps, log_every=cfg.log_every,
              diverge_norm=cfg.diverge_norm, show_progress=show_progress,
              shown={"risk": "eval_risk", "share": "share_relevant"}, desc="training", wall_start=t0)
    return run.result(cfg, init, params, {"I": I})


__all__ = ("init_params", "draw_batch", "score", "risk_at", "risk_curve", "train_network", "share_relevant_K",
           "square_gate_weights")
