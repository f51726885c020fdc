"""In-context risk of a pretrained model and of the kernel baselines over a grid of context lengths N
(arXiv 2510.12026; spec sections 5-6).

The ICL risk is ``E[(f(Z) - y)^2] / E[y^2]`` with ``E[y^2] = 1 + tau^2`` (1 = predicting zero; the noise floor is
``tau^2 / (1 + tau^2)``), estimated on ``n_test`` prompts with ``queries`` queries each; per-prompt means give the
error bars.  Test prompts are seeded by ``(seed, N)`` only, so the Mamba gate and the linear-attention ablation
with the same seed and Stage-I mode are scored on the same prompts (a paired comparison).

Glossary: ``Ns`` context lengths N; ``risk`` ``(len(Ns),)``; ``risk_prompts`` ``(len(Ns), n_test)``;
``n_eff`` effective context size; ``cos_linear`` / ``cos_quad`` alignment of the extracted feature with beta.
"""

from __future__ import annotations

import numpy as np

from .baselines import krr_predict
from .config import SingleIndexConfig
from .data import index_set, sample_prompts, sample_queries
from .hermite import parse_link
from .pretrain import Pretrained, pretrain

KRR_INPUTS = ("x", "x_I")


def task(cfg: SingleIndexConfig) -> tuple[np.ndarray, np.ndarray]:
    """The fixed index set ``I`` (seeded by ``cfg.seed`` alone) and the normalised link coefficients."""
    return index_set(cfg.d, cfg.r, np.random.default_rng([cfg.seed, 0])), parse_link(cfg.link)


def test_rng(seed: int, N: int) -> np.random.Generator:
    return np.random.default_rng([seed, N, 1])


def pretrain_model(cfg: SingleIndexConfig) -> Pretrained:
    """Algorithm 1 for ``cfg`` with the seeded task."""
    I, coefs = task(cfg)
    return pretrain(cfg, I, coefs, np.random.default_rng([cfg.seed, 2]))


def risk_at(pre: Pretrained, N: int) -> dict:
    """Risk and diagnostics of ``pre`` at context length ``N`` on ``cfg.n_test`` seeded prompts."""
    cfg = pre.cfg
    out = pre.outputs(cfg.n_test, N, test_rng(cfg.seed, N))
    err = (pre.predict_outputs(out.M) - out.y) ** 2 / (1.0 + cfg.tau**2)
    per_prompt = err.mean(axis=1)
    return {"risk": float(per_prompt.mean()), "risk_prompts": per_prompt, "n_eff": float(out.n_eff.mean()),
            "cos_linear": float(np.nanmean(out.cos_linear)) if np.any(np.isfinite(out.cos_linear)) else np.nan,
            "cos_quad": float(np.nanmedian(out.cos_quad)) if np.any(np.isfinite(out.cos_quad)) else np.nan}


def risk_curve(pre: Pretrained, Ns) -> dict:
    """:func:`risk_at` over ``Ns``, stacked into arrays."""
    rows = [risk_at(pre, int(N)) for N in Ns]
    return {k: np.array([r[k] for r in rows]) for k in rows[0]}


def krr_risk(cfg: SingleIndexConfig, N: int, inputs: str, n_prompts: int) -> dict:
    """Risk of kernel ridge regression on ``x`` or on ``x_I``, fitted on each prompt's context, over
    ``n_prompts`` seeded prompts with ``cfg.queries`` queries each."""
    if inputs not in KRR_INPUTS:
        raise ValueError(f"unknown KRR inputs {inputs!r}")
    I, coefs = task(cfg)
    rng = test_rng(cfg.seed, N)
    X, Y, beta = sample_prompts(n_prompts, N, cfg.d, I, coefs, cfg.tau, rng)
    Xq, yq = sample_queries(beta, cfg.queries, coefs, cfg.tau, rng)
    cols = np.arange(cfg.d) if inputs == "x" else I
    pred = krr_predict(X[:, :-1][..., cols], Y[:, :-1], Xq[..., cols])
    per_prompt = np.mean((pred - yq) ** 2, axis=1) / (1.0 + cfg.tau**2)
    return {"risk": float(per_prompt.mean()), "risk_prompts": per_prompt}


def simulate(cfg: SingleIndexConfig, Ns, krr_inputs=(), krr_prompts: int = 50, krr_max_N: int = 1024,
             match_context: bool = False, bar=None) -> dict:
    """One setting end to end: pretrain (once at ``cfg.N_pt``, or at every ``N`` if ``match_context``), then the
    risk curve over ``Ns`` and the KRR baselines for ``N <= krr_max_N``.

    Returns arrays ``N``, ``risk``, ``risk_prompts``, ``n_eff``, ``cos_linear``, ``cos_quad``,
    ``share_relevant`` (per N), ``krr_<inputs>`` (nan above ``krr_max_N``) and ``stats`` (last pretraining).
    Raises ``FloatingPointError`` naming N and the quantity if a risk is not finite."""
    Ns = [int(N) for N in Ns]
    rows, shares, stats = [], [], {}
    pre = None if match_context else pretrain_model(cfg)
    for N in Ns:
        if match_context:
            pre = pretrain_model(cfg.replace(N_pt=N))
        row = risk_at(pre, N)
        if not np.isfinite(row["risk"]):
            raise FloatingPointError(f"ICL risk is not finite at N = {N} (Mamba output scale eta_1 = "
                                     f"{pre.stats['eta1']:.3g})")
        rows.append(row)
        shares.append(pre.stats["share_relevant"])
        stats = pre.stats
        if bar is not None:
            bar.update(1)
    out = {k: np.array([r[k] for r in rows]) for k in rows[0]}
    out["N"] = np.array(Ns)
    out["share_relevant"] = np.array(shares)
    for inputs in krr_inputs:
        vals = []
        for N in Ns:
            vals.append(krr_risk(cfg, N, inputs, krr_prompts)["risk"] if N <= krr_max_N else np.nan)
            if bar is not None:
                bar.update(1)
        out[f"krr_{inputs}"] = np.array(vals)
    out["stats"] = stats
    return out
