"""Two-stage pretraining, the family's training (Algorithm 1 of arXiv 2510.12026, after Nishikawa et al. 2025; spec section 3) and the
pretrained model's outputs on fresh prompts.

Stage I: one gradient step on gamma from the initialisation with weight decay ``lambda_1 = 1/eta_1``, which cancels
gamma^(0): ``gamma* = -eta_1 grad_gamma L1(gamma^(0), v, b = 0, a = a0 1)`` over ``T1`` prompts of length ``N_pt``.
The paper's eta_1 scaling is not known; we set eta_1 so that the Mamba output ``M = <gamma*, psi>`` has unit
standard deviation on the Stage-II prompts (any eta_1 gives the same direction of gamma*).  ``stage1 = "ideal"``
replaces the step by its large-T1 outcome, ``gamma* = 1`` on the relevant quadratic features (and on the relevant
linear ones when the link has an odd part), with the same unit-variance scaling.
Stage II: fresh biases ``b_j ~ U[-B, B]``, then ridge regression of the query labels on ``ReLU(v_j M + b_j)`` over
``T2`` fresh prompts (``queries`` queries each, sharing the prompt's context); ``lambda_2`` is picked on a held-out
fifth from ``1e-6 .. 1`` unless given.

Exact shortcut: when gamma* is zero off the relevant features, ``M`` depends on the inputs only through ``x_I``, so
prompts are drawn in the ``r`` relevant coordinates alone (same joint law of ``(M, y)``, O(N r^2) per prompt).

Glossary: ``gamma`` ``(d~,)``, ``v``/``bj``/``a`` ``(m,)``, ``I`` relevant coordinates, ``coefs`` the link,
``M``/``y`` ``(n, q)`` Mamba outputs and labels of ``q`` queries on each of ``n`` prompts.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .config import SingleIndexConfig
from .gradients import ReadoutBatch
from .data import embed, feature_blocks, relevant_mask, sample_prompts, sample_queries, sub_embedding_index
from .hermite import generative_exponent
from .metrics import effective_context, extracted_alignment, share_relevant
from .model import context_statistic, gates, mlp, psi
from .models import REGISTRY, ReadoutParams

#: Floats of prompts (and embedded queries) held in memory at once.
CHUNK_FLOATS = 12_000_000


def chunks(n: int, N: int, d: int, queries: int = 0):
    """Sizes of the prompt batches that keep the prompts ``X`` and the embedded extra queries under
    :data:`CHUNK_FLOATS` floats."""
    per_prompt = (N + 1) * d + queries * (d + 1) * (d + 2) // 2
    size = max(1, min(n, CHUNK_FLOATS // per_prompt))
    for start in range(0, n, size):
        yield min(size, n - start)


def ideal_gamma(d: int, I: np.ndarray, coefs: np.ndarray, linear_only: bool = False) -> np.ndarray:
    """``(d~,)``: ones on the relevant square and cross features (and linear ones if ``ge = 1``), zeros elsewhere;
    with ``linear_only`` ones on the relevant linear features alone (``stage1 = "ideal-linear"``: the readout is
    then the linear form ``u^T x_q``, ``u = sum_i G_i y_i x_{i, I}``, free of the quadratic blocks' noise).

    With weight 1 on both quadratic blocks the population readout is ``c_2 h_2(<beta, x>)``, because
    ``E[h_2(z) h_2(x_k)] = beta_k^2`` and ``E[h_2(z) x_k x_l] = sqrt(2) beta_k beta_l``."""
    mask = relevant_mask(d, I)
    blocks = feature_blocks(d)
    gamma = np.zeros(len(mask))
    keep = ["linear"] if linear_only else ["square", "cross"] + (["linear"] if generative_exponent(coefs) == 1 else [])
    for name in keep:
        gamma[blocks[name]] = mask[blocks[name]]
    return gamma


@dataclass
class Outputs:
    """The pretrained readout on ``n`` fresh prompts of ``N`` examples, ``q`` queries each."""

    M: np.ndarray        # (n, q) Mamba outputs
    y: np.ndarray        # (n, q) noisy query labels
    n_eff: np.ndarray    # (n,) effective context size of the gate
    cos_linear: np.ndarray  # (n,) cosine of the extracted linear direction u with beta (nan if unused)
    cos_quad: np.ndarray    # (n,) |cosine| of the top eigenvector of the extracted quadratic form with beta
    Xq: np.ndarray | None = None  # (n, q, d) queries (only if kept)
    Xc: np.ndarray | None = None  # (n, N, d) contexts (only if kept)
    Yc: np.ndarray | None = None  # (n, N) context labels (only if kept)


@dataclass
class Pretrained:
    """A pretrained model: Mamba diagonal ``gamma`` and the MLP ``(v, bj, a)``; ``stats`` holds diagnostics."""

    cfg: SingleIndexConfig
    I: np.ndarray
    coefs: np.ndarray
    gamma: np.ndarray
    v: np.ndarray
    bj: np.ndarray
    a: np.ndarray
    stats: dict = field(default_factory=dict)

    def mamba_output(self, X: np.ndarray, Y: np.ndarray) -> np.ndarray:
        """``M`` ``(n,)`` for single-query prompts ``X (n, N+1, d)`` of any length (the gate bias follows
        ``cfg.bias_for(N)``; ``Y[:, -1]`` is ignored)."""
        N = X.shape[1] - 1
        Yc = Y.copy()
        Yc[:, -1] = 0.0
        return psi(X, Yc, self.cfg.rho, self.cfg.bias_for(N), self.cfg.gated) @ self.gamma

    def predict(self, X: np.ndarray, Y: np.ndarray) -> np.ndarray:
        """Prediction ``f(Z)`` ``(n,)`` of the query labels (``Y[:, -1]`` is never read)."""
        return mlp(self.mamba_output(X, Y), self.v, self.bj, self.a)

    def predict_outputs(self, M: np.ndarray) -> np.ndarray:
        """MLP head on Mamba outputs of any shape."""
        return mlp(M.ravel(), self.v, self.bj, self.a).reshape(M.shape)

    def outputs(self, n: int, N: int, rng: np.random.Generator, queries: int | None = None,
                keep_inputs: bool = False) -> Outputs:
        """Draw ``n`` prompts of ``N`` examples and ``queries`` queries each; see :func:`readout_outputs`."""
        return readout_outputs(self.cfg, self.I, self.coefs, self.gamma, n, N, rng,
                               self.cfg.queries if queries is None else queries, keep_inputs)


def readout_outputs(cfg: SingleIndexConfig, I: np.ndarray, coefs: np.ndarray, gamma: np.ndarray, n: int, N: int,
                    rng: np.random.Generator, queries: int, keep_inputs: bool = False) -> Outputs:
    """Mamba outputs ``M = <gamma, phi(x) * A>`` of ``queries`` queries on each of ``n`` prompts (``N`` examples).

    ``A = sum_i G_i y_i phi(x_i)`` is computed once per prompt (Numba, O(N d^2)).  If ``gamma`` vanishes off the
    relevant features (and inputs are not kept), prompts are drawn in the ``r`` relevant coordinates only."""
    d = cfg.d
    reduce = (not keep_inputs) and not np.any(gamma[~relevant_mask(d, I)])
    if reduce:
        d_eff, I_eff = len(I), np.arange(len(I))
        g_eff = gamma[sub_embedding_index(d, I)]
    else:
        d_eff, I_eff, g_eff = d, I, gamma
    b = cfg.bias_for(N)
    parts: dict = {k: [] for k in ("M", "y", "n_eff", "cu", "cq", "Xq", "Xc", "Yc")}
    for k in chunks(n, N, d_eff, queries):
        X, Y, beta = sample_prompts(k, N, d_eff, I_eff, coefs, cfg.tau, rng)
        Y[:, -1] = 0.0
        Ag = context_statistic(X, Y, cfg.rho, b, cfg.gated) * g_eff
        Xq, yq = sample_queries(beta, queries, coefs, cfg.tau, rng)
        parts["M"].append(np.einsum("bqk,bk->bq", embed(Xq), Ag))
        parts["y"].append(yq)
        parts["n_eff"].append(effective_context(gates(Y, cfg.rho, b, cfg.gated)))
        cu, cq = extracted_alignment(Ag, beta)
        parts["cu"].append(cu)
        parts["cq"].append(cq)
        if keep_inputs:
            parts["Xq"].append(Xq)
            parts["Xc"].append(X[:, :-1])
            parts["Yc"].append(Y[:, :-1])
    cat = {k: (np.concatenate(v) if v else None) for k, v in parts.items()}
    return Outputs(cat["M"], cat["y"], cat["n_eff"], cat["cu"], cat["cq"], cat["Xq"], cat["Xc"], cat["Yc"])


def _solve(gram: np.ndarray, rhs: np.ndarray, count: int, lam: float) -> np.ndarray:
    return np.linalg.solve(gram / count + lam * np.eye(len(gram)), rhs / count)


def stage1_direction(cfg: SingleIndexConfig, I: np.ndarray, coefs: np.ndarray, v: np.ndarray,
                     rng: np.random.Generator) -> tuple[np.ndarray, float]:
    """``-grad_gamma L1`` at the initialisation (``gamma0``, the MLP signs ``v``, zero biases, ``a0``) over ``T1``
    prompts of length ``N_pt`` (one query each, as in Algorithm 1), and the Stage-I loss; each chunk's gradient is
    the readout model's :meth:`~mamba_dynamics.single_index.models.Readout.loss_and_grad`, the function the
    gradient checker verifies."""
    model = REGISTRY.build(cfg)
    start = ReadoutParams(np.full(cfg.dt, cfg.gamma0), v, np.zeros(cfg.width), np.full(cfg.width, cfg.a0))
    grad, loss = np.zeros(cfg.dt), 0.0
    for n in chunks(cfg.T1, cfg.N_pt, cfg.d):
        X, Y, _ = sample_prompts(n, cfg.N_pt, cfg.d, I, coefs, cfg.tau, rng)
        res = model.loss_and_grad(start, ReadoutBatch(X, Y))
        grad += n * res.grads["gamma"]
        loss += n * res.loss
    return -grad / cfg.T1, loss / cfg.T1


def pretrain(cfg: SingleIndexConfig, I: np.ndarray, coefs: np.ndarray, rng: np.random.Generator) -> Pretrained:
    """Run Stage I (``cfg.stage1``) and Stage II; memory stays ``O(chunk N_pt d + width^2)``."""
    m = cfg.width
    v = REGISTRY.build(cfg).init_params(rng).v  # the MLP's signs (Stage I starts at the model's initialisation)
    if cfg.stage1 == "gradient":
        direction, loss1 = stage1_direction(cfg, I, coefs, v, rng)
    else:
        direction, loss1 = ideal_gamma(cfg.d, I, coefs, linear_only=cfg.stage1 == "ideal-linear"), float("nan")
    out = readout_outputs(cfg, I, coefs, direction, cfg.T2, cfg.N_pt, rng, cfg.queries)
    std = float(np.std(out.M))
    eta1 = 1.0 / std if std > 0 else 1.0
    gamma = direction * eta1
    bj = rng.uniform(-cfg.bias_range, cfg.bias_range, size=m)  # Stage II
    cut = int(0.8 * cfg.T2)
    grams, rhs, counts, yy = [], [], [], []
    for sl in (slice(0, cut), slice(cut, cfg.T2)):
        Ms, ys = out.M[sl].ravel() * eta1, out.y[sl].ravel()
        gram, r_vec = np.zeros((m, m)), np.zeros(m)
        for start in range(0, len(ys), 20_000):  # rows of the feature matrix, a block at a time
            Phi = np.maximum(np.outer(Ms[start:start + 20_000], v) + bj, 0.0)
            gram += Phi.T @ Phi
            r_vec += Phi.T @ ys[start:start + 20_000]
        grams.append(gram)
        rhs.append(r_vec)
        counts.append(len(ys))
        yy.append(float(ys @ ys))
    if cfg.lam2 is None:
        def val_err(lam):
            a = _solve(grams[0], rhs[0], counts[0], lam)
            return (a @ grams[1] @ a - 2 * a @ rhs[1] + yy[1]) / counts[1]
        grid = np.geomspace(1e-6, 1.0, 13)
        lam2 = float(grid[int(np.argmin([val_err(lam) for lam in grid]))])
    else:
        lam2 = cfg.lam2
    gram, r_all, n_all, yy_all = grams[0] + grams[1], rhs[0] + rhs[1], counts[0] + counts[1], yy[0] + yy[1]
    a = _solve(gram, r_all, n_all, lam2)
    train_mse = (a @ gram @ a - 2 * a @ r_all + yy_all) / n_all
    stats = {"stage1_loss": loss1, "eta1": eta1, "lam2": lam2,
             "stage2_train_risk": float(train_mse / (1.0 + cfg.tau**2)),
             "share_relevant": share_relevant(gamma, cfg.d, I)}
    return Pretrained(cfg, I, coefs, gamma, v, bj, a, stats)
