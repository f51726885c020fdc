"""Experiments of the single-index paper (arXiv 2510.12026; spec sections 5-6): in-context risk of a pretrained
model and of the kernel baselines over a grid of context lengths N, resumable reproduction cells, and the family's
sweep adapter (:data:`SWEEP`).

The ICL risk is ``E[(f(Z) - y)^2] / E[y^2]`` with ``E[y^2] = 1 + tau^2`` (1 = predicting zero; the noise floor is
``tau^2 / (1 + tau^2)``), estimated on ``n_test`` prompts with ``queries`` queries each; per-prompt means give the
error bars.  Test prompts are seeded by ``(seed, N)`` only, so the Mamba gate and the linear-attention ablation
with the same seed and Stage-I mode are scored on the same prompts (a paired comparison).

End-to-end networks (:mod:`mamba_dynamics.single_index.network_train`) are scored on the same seeded test streams
(``data.test_rng(seed, N)``), so every predictor of a seed sees prompts drawn the same way.

A reproduction cell (:class:`Cell`) is one (setting, predictor, seed) run, stored by
:class:`mamba_dynamics.core.cells.CellStore` under ``<out>/cells/<key>.npz`` as soon as it finishes; a rerun into the
same folder loads finished cells.

Glossary: ``Ns`` context lengths N; ``kind`` = ``"model"`` (Mamba or linear attention pretrained by Algorithm 1),
``"network"`` (trained end to end; ``cfg`` a :class:`~mamba_dynamics.single_index.config.NetworkConfig`) or
``"krr"`` (kernel ridge regression on ``x`` or ``x_I``); ``risk`` ``(len(Ns),)``; ``risk_prompts``
``(len(Ns), n_test)``;
``n_eff`` effective context size; ``cos_linear`` / ``cos_quad`` alignment of the extracted feature with beta.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..core.cells import CellStore, cell_key
from ..core.sweeps import SweepFamily
from .baselines import krr_predict
from .config import END_TO_END, NetworkConfig, SingleIndexConfig
from .data import sample_prompts, sample_queries, task, test_rng
from .network_train import risk_at as network_risk_at, risk_curve as network_risk_curve, train_network
from .train import Pretrained, pretrain

KRR_INPUTS = ("x", "x_I")


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


@dataclass(frozen=True)
class Cell:
    """One reproduction cell (see the module docstring)."""

    kind: str
    cfg: object  # SingleIndexConfig, or NetworkConfig for kind "network"
    Ns: tuple
    match_context: bool = False
    krr_inputs: str = ""
    krr_prompts: int = 50
    krr_max_N: int = 1024

    @property
    def key(self) -> str:
        return cell_key({"kind": self.kind, "cfg": self.cfg.to_dict(), "Ns": list(self.Ns),
                         "match": self.match_context, "krr": [self.krr_inputs, self.krr_prompts, self.krr_max_N]})


def run_network_cell(cfg, Ns) -> dict:
    """Train one end-to-end network and score it over ``Ns``: the arrays of :func:`network_train.risk_curve`, the
    training history as ``hist_<quantity>`` and ``wall_time``.  Raises ``FloatingPointError`` with the training
    loop's message if the run diverged."""
    res = train_network(cfg)
    if res.status != "completed":
        raise FloatingPointError(res.message)
    out = network_risk_curve(res.params, cfg, Ns)
    out.update({f"hist_{k}": v for k, v in res.history.items()})
    out["wall_time"] = np.array(res.wall_time)
    return out


def run_cell(cell: Cell) -> dict:
    """Arrays of one cell (see the module glossary)."""
    if cell.kind == "network":
        return run_network_cell(cell.cfg, cell.Ns)
    if cell.kind == "model":
        res = simulate(cell.cfg, cell.Ns, match_context=cell.match_context)
        res.pop("stats")
        return res
    risks = [krr_risk(cell.cfg, N, cell.krr_inputs, cell.krr_prompts)["risk"] if N <= cell.krr_max_N else np.nan
             for N in cell.Ns]
    return {"N": np.array(cell.Ns), "risk": np.array(risks)}


def run_cells(cells: list[Cell], out: str | Path, jobs: int = 0, bar=None) -> dict:
    """Results of every cell by key: loaded from ``<out>/cells`` when finished before, else computed (in
    parallel) and saved as each finishes."""
    return CellStore(Path(out) / "cells", "npz").run([(c.key, c) for c in cells], run_cell, jobs, bar)


# ------------------------------------------------------------------------------------------------------------
# the paper's experiment (spec section 6): end-to-end networks vs Algorithm 1 vs KRR, risk vs N
# ------------------------------------------------------------------------------------------------------------

#: the predictors of the comparison, in the order of its table and figure
E2E_PREDICTORS = ("mamba_e2e", "la_e2e", "st_e2e", "mamba_alg1", "krr_x", "krr_x_I")
#: the networks trained end to end, by key: their mixers (``NetworkConfig.gate``)
E2E_NETWORKS = {"mamba_e2e": "mamba", "la_e2e": "constant", "st_e2e": "softmax"}
#: the networks' tracked quantities the comparison keeps (``training.png``)
E2E_TRACKED = ("eval_risk", "share_relevant", "cos_quad", "cos_linear", "n_eff", "w_label", "gate_bias")


def e2e_cells(base: NetworkConfig, links, dims, seeds: int, Ns: tuple, krr_prompts: int) -> dict:
    """Every cell of the comparison by ``(link, d, predictor, seed)``: the three networks (``base`` at that link, d
    and seed; the Mamba gate, the constant one and softmax attention), Algorithm 1 at its own defaults with the
    same task (same seed, same index set I) and test sizes, and KRR on ``x`` and on ``x_I`` (``krr_prompts``
    prompts per N)."""
    cells = {}
    for link in links:
        for d in dims:
            for s in range(seeds):
                net = base.replace(link=link, d=d, seed=s)
                for key, gate in E2E_NETWORKS.items():
                    cells[(link, d, key, s)] = Cell("network", net.replace(gate=gate), Ns)
                alg1 = SingleIndexConfig(d=d, r=base.r, link=link, tau=base.tau, seed=s, n_test=base.n_test,
                                         queries=base.test_queries)
                cells[(link, d, "mamba_alg1", s)] = Cell("model", alg1, Ns)
                for inputs in KRR_INPUTS:
                    cells[(link, d, f"krr_{inputs}", s)] = Cell("krr", alg1, Ns, krr_inputs=inputs,
                                                               krr_prompts=krr_prompts, krr_max_N=max(Ns))
    return cells


def e2e_summary(results: dict, cells: dict, links, dims, seeds: int, Ns: tuple) -> dict:
    """The comparison's saved numbers from the cells' results (:func:`run_cells`): ``arrays`` (risks per
    predictor ``(seeds, len(Ns))``, the networks' histories and test diagnostics), ``panels`` and ``histories``
    (what the figures draw, by ``(link, d)``), ``table`` rows (mean +- std), ``means`` and the networks'
    ``walls`` (training seconds)."""
    res = lambda link, d, key, s: results[cells[(link, d, key, s)].key]  # noqa: E731
    arrays, panels, histories, table, means, walls = {"N": np.array(Ns)}, {}, {}, [], {}, {}
    for link in links:
        for d in dims:
            panels[(link, d)], histories[(link, d)] = {}, {}
            for key in E2E_PREDICTORS:
                vals = np.stack([res(link, d, key, s)["risk"] for s in range(seeds)])
                arrays[f"{link}_d{d}_{key}_risk"] = vals
                panels[(link, d)][key] = (np.array(Ns), vals)
                mean, std = vals.mean(0), vals.std(0)
                means[f"{link}/d={d}/{key}"] = [round(float(v), 4) for v in mean]
                table.append((f"{link} d={d:<3} {key:<10}",
                              "  ".join(f"{m:.3f}+-{e:.3f}" for m, e in zip(mean, std))))
            for key in E2E_NETWORKS:
                h = {q: np.stack([res(link, d, key, s)[f"hist_{q}"] for s in range(seeds)]) for q in E2E_TRACKED}
                h["step"] = res(link, d, key, 0)["hist_step"]
                histories[(link, d)][key] = h
                for q, v in h.items():
                    arrays[f"{link}_d{d}_{key}_hist_{q}"] = v
                for q in ("cos_quad", "n_eff"):
                    arrays[f"{link}_d{d}_{key}_test_{q}"] = np.stack([res(link, d, key, s)[q] for s in range(seeds)])
                walls[f"{link}/d={d}/{key}"] = [round(float(res(link, d, key, s)["wall_time"]), 2)
                                                for s in range(seeds)]
    return {"arrays": arrays, "panels": panels, "histories": histories, "table": table, "means": means,
            "walls": walls}


# ------------------------------------------------------------------------------------------------------------
# phase diagrams (mamba_dynamics.core.sweeps)
# ------------------------------------------------------------------------------------------------------------

#: Metrics recorded per cell (any can colour a phase diagram); risks are at test length N = N_pt.
METRICS = ("risk", "n_eff", "cos_quad", "cos_linear", "share_relevant", "stage2_train_risk")
DEFAULT_GRIDS = {
    "d": "8,12,16,24,32", "r": "1,2,4,6,8", "N_pt": "64,128,256,512,1024", "rho": "geom:1:64:7",
    "T1": "2500,5000,10000,20000", "T2": "500,1000,2000,4000", "tau": "0:0.5:0.1", "width": "32,64,128,256",
    "link": "h2,h3,h4", "gate": "mamba,constant", "stage1": "gradient,ideal", "gate_offset": "0:3:0.5",
}


def sweep_group(train_cfg: SingleIndexConfig, tests: list, n_eval: int) -> list:
    """Pretrain once (Algorithm 1) and score the ICL risk at ``N = N_pt`` on ``n_eval`` prompts; the risk and the
    diagnostics of :func:`risk_at` plus the pretraining's ``share_relevant`` and ``stage2_train_risk``."""
    pre = pretrain_model(train_cfg.replace(n_test=n_eval))
    row = risk_at(pre, train_cfg.N_pt)
    if not np.isfinite(row["risk"]):
        raise FloatingPointError(f"ICL risk is not finite at N = {train_cfg.N_pt}")
    metrics = {k: float(row[k]) for k in ("risk", "n_eff", "cos_quad", "cos_linear")}
    metrics.update({k: float(pre.stats[k]) for k in ("share_relevant", "stage2_train_risk")})
    return [dict(metrics) for _ in tests]


def _cost(cfg: SingleIndexConfig, n_cells: int, n_eval: int) -> float:
    stage1 = cfg.T1 * cfg.N_pt * cfg.d**2 if cfg.stage1 == "gradient" else 0
    return stage1 + (cfg.T2 + n_eval) * (cfg.N_pt * cfg.r**2 + cfg.queries * cfg.r**2)


def _probe(cfg: SingleIndexConfig) -> SingleIndexConfig:
    return cfg.replace(T1=min(cfg.T1, 2000), T2=min(cfg.T2, 400))


SWEEP = SweepFamily(
    name="single_index", config_cls=SingleIndexConfig, run_group=sweep_group, metrics=METRICS,
    must_be_finite=("risk",), test_fields=frozenset(),
    not_axes=frozenset({"seed", "n_test", "a0", "gamma0", "lam2", "queries"}), default_grids=DEFAULT_GRIDS,
    cost=_cost, probe=_probe, lower_is_better=("risk", "stage2_train_risk"),
)


# end-to-end networks: their own sweep adapter (trained by Adam, scored at N = N_max)

NETWORK_METRICS = ("risk", "share_relevant", "cos_quad", "cos_linear", "n_eff", "w_label")
NETWORK_GRIDS = {
    "d": "8,16,24,32", "r": "2,4,8", "N_max": "64,128,256,512", "lr": "geom:0.0003:0.01:5",
    "steps": "2000,4000,8000,12000", "state": "8,16,32,64", "width": "16,32,64,128", "batch": "16,32,64,128",
    "link": "h2,h3,h4", "tokens": "hermite,raw", "gate": "mamba,constant,softmax", "tau": "0:0.5:0.1",
    "init_scale": "geom:0.1:3:5", "rho0": "geom:1:64:7",
}


def network_sweep_group(train_cfg: NetworkConfig, tests: list, n_eval: int) -> list:
    """Train one network and score it at ``N = N_max`` on ``n_eval`` test prompts: risk, alignment, ``n_eff / N``
    and the final share of ``W_B^T W_C`` on the relevant features and gate weight ``w_y``."""
    res = train_network(train_cfg)
    if res.status != "completed":
        raise FloatingPointError(res.message)
    row = network_risk_at(res.params, train_cfg.replace(n_test=n_eval), train_cfg.N_max)
    metrics = {k: float(row[k]) for k in ("risk", "cos_quad", "cos_linear", "n_eff")}
    metrics.update({k: float(res.final[k]) for k in ("share_relevant", "w_label")})
    return [dict(metrics) for _ in tests]


def _network_overrides(cfg: NetworkConfig) -> dict:
    return {"log_every": cfg.steps}  # a sweep needs the final state only


def _network_cost(cfg: NetworkConfig, n_cells: int, n_eval: int) -> float:
    return cfg.steps * cfg.batch * (cfg.N_min + cfg.N_max) / 2 * cfg.D + n_eval * cfg.N_max * cfg.D


def _network_probe(cfg: NetworkConfig) -> NetworkConfig:
    return cfg.replace(steps=min(cfg.steps, 200))


NETWORK_SWEEP = SweepFamily(
    name="single_index_e2e", config_cls=NetworkConfig, run_group=network_sweep_group, metrics=NETWORK_METRICS,
    must_be_finite=("risk",), test_fields=frozenset(),
    not_axes=frozenset({"seed", "n_eval", "n_test", "test_queries", "log_every", "diverge_norm"}),
    default_grids=NETWORK_GRIDS, train_overrides=_network_overrides, cost=_network_cost, probe=_network_probe,
    lower_is_better=("risk",),
)
#: The sweep adapter of each end-to-end model (the other models of the family use :data:`SWEEP`).
SWEEPS = {model: NETWORK_SWEEP for model in END_TO_END}
