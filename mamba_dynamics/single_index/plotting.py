"""Figures of the single-index ICL simulator (arXiv 2510.12026): one setting, risk vs N, gate ablation.

Every function returns a matplotlib ``Figure`` (Agg backend); save with
:func:`mamba_dynamics.core.plotting.save_figure`.  :func:`phase_boundary` draws the theorem's context-length
boundary on phase diagrams.
Curves are dicts with ``N`` ``(k,)`` and ``risk`` ``(seeds, k)`` (one row per seed; a single run is one row).
"""

from __future__ import annotations

import numpy as np

from ..core.plotting import band, draw_zero_contour, plt
from . import theory
from .hermite import generative_exponent, parse_link

STYLE = {
    "mamba": ("Mamba (gate sigma(y/rho + b))", "tab:blue", "o", "-"),
    "la": ("linear attention (G = 1/N)", "tab:orange", "s", "-"),
    "krr_x": ("KRR on x", "tab:gray", "^", "--"),
    "krr_x_I": ("KRR on x_I (intrinsic)", "k", "v", "--"),
}


def setting_text(cfg) -> str:
    bias = f"b={cfg.gate_bias}" if cfg.gate_bias is not None else f"b=-log N-{cfg.gate_offset:g}"
    return (f"link {cfg.link}, r={cfg.r}, tau={cfg.tau}, rho={cfg.rho:g}, {bias}, Stage I: {cfg.stage1}, "
            f"T1={cfg.T1}, T2={cfg.T2}, m={cfg.width}")


def _risk_axes(ax, tau: float, title: str):
    ax.axhline(1.0, color="k", lw=0.6, ls=":", label="predicting 0 (risk 1)")
    ax.axhline(tau**2 / (1 + tau**2), color="tab:green", lw=0.8, ls=":", label="noise floor tau^2/(1+tau^2)")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set(xlabel="context length N (in-context examples)", ylabel="ICL risk  E(f - y)^2 / E y^2", title=title)


def plot_single_run(res: dict, cfg, model: str) -> "plt.Figure":
    """One setting: risk vs N (with KRR if computed, +-1 s.e. over prompts), and the gate's effective context
    size, share of gamma on relevant features and alignment of the extracted feature with beta."""
    N = res["N"]
    fig, axes = plt.subplots(1, 2, figsize=(12.5, 4.8))
    fig.suptitle(f"{'Mamba' if model == 'mamba' else 'linear attention'}, d={cfg.d}: {setting_text(cfg)}, "
                 f"seed={cfg.seed}", fontsize=9)
    ax = axes[0]
    label, color, marker, ls = STYLE[model]
    se = res["risk_prompts"].std(axis=1) / np.sqrt(res["risk_prompts"].shape[1])
    ax.errorbar(N, res["risk"], yerr=se, color=color, marker=marker, ls=ls, label=label, capsize=3)
    for key in ("krr_x", "krr_x_I"):
        if key in res and np.any(np.isfinite(res[key])):
            label, color, marker, ls = STYLE[key]
            ax.plot(N, res[key], color=color, marker=marker, ls=ls, label=label)
    _risk_axes(ax, cfg.tau, "in-context risk")
    ax.legend(fontsize=8)
    ax = axes[1]
    ax.plot(N, res["n_eff"] / N, marker="o", color="tab:purple", label="n_eff / N (gate's effective context)")
    ax.plot(N, res["share_relevant"], marker="s", color="tab:red", label="S_rel: share of ||gamma||^2 on relevant")
    if np.any(np.isfinite(res["cos_quad"])):
        ax.plot(N, res["cos_quad"], marker="^", color="tab:blue",
                label="|cos(top eigvec of extracted Q, beta)| (median)")
    if np.any(np.isfinite(res["cos_linear"])):
        ax.plot(N, res["cos_linear"], marker="v", color="tab:cyan", label="cos(extracted u, beta) (mean)")
    ax.set_xscale("log", base=2)
    ax.set(xlabel="context length N", ylabel="value", ylim=(-0.05, 1.05),
           title="test-time feature learning diagnostics")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_risk_vs_N(panels: dict, tau: float, title: str) -> "plt.Figure":
    """One panel per ``d``: ``panels[d][key] = (N, (seeds, k) risks)`` for keys of :data:`STYLE`."""
    fig, axes = plt.subplots(1, len(panels), figsize=(6.2 * len(panels), 4.8), sharey=True, squeeze=False)
    for ax, (d, curves) in zip(axes[0], panels.items()):
        for key, (N, vals) in curves.items():
            label, color, marker, ls = STYLE[key]
            ok = np.any(np.isfinite(vals), axis=0)
            band(ax, np.asarray(N)[ok], np.asarray(vals)[:, ok], color, label, marker=marker, ls=ls)
        _risk_axes(ax, tau, f"d = {d}")
        ax.legend(fontsize=8)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig


def plot_gate_ablation(panels: dict, tau: float, exponents: dict, title: str) -> "plt.Figure":
    """Two rows, one column per link.  ``panels[link][key]`` for ``key`` in ``mamba``, ``la`` is a dict of ``N``
    ``(k,)`` and ``(seeds, k)`` arrays ``risk``, ``cos_quad``, ``cos_linear``; ``exponents[link] = (ie, ge)``.
    Top: ICL risk.  Bottom: alignment of the feature each context extracts with beta (top eigenvector of the
    quadratic form; for links with an odd part also the linear direction u)."""
    k = len(panels)
    fig, axes = plt.subplots(2, k, figsize=(5.2 * k, 8.6), sharey="row", squeeze=False)
    for j, (link, curves) in enumerate(panels.items()):
        ie, ge = exponents[link]
        ax = axes[0, j]
        for key, c in curves.items():
            label, color, marker, ls = STYLE[key]
            band(ax, c["N"], c["risk"], color, label, marker=marker, ls=ls)
        _risk_axes(ax, tau, f"link {link}  (ie = {ie}, ge = {ge})")
        ax.legend(fontsize=8)
        ax = axes[1, j]
        for key, c in curves.items():
            label, color, marker, _ = STYLE[key]
            name = "Mamba" if key == "mamba" else "linear attention"
            if np.any(np.isfinite(c["cos_quad"])):  # none with stage1 = "ideal-linear" (no quadratic form)
                band(ax, c["N"], c["cos_quad"], color, f"{name}: |cos(top eigvec of Q, beta)|", marker=marker)
            if ge == 1:
                band(ax, c["N"], c["cos_linear"], color, f"{name}: cos(u, beta), linear part", marker=marker,
                      ls="--")
        ax.set_xscale("log", base=2)
        ax.set(xlabel="context length N", ylabel="alignment with beta", ylim=(-0.1, 1.05),
               title="feature extracted from the context")
        ax.legend(fontsize=8)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig


SYMBOL = {"d": "ambient dimension $d$", "r": "intrinsic dimension $r$", "N_pt": "context length $N$ (= $N_{pt}$)",
          "rho": r"gate temperature $\rho$", "T1": "Stage-I prompts $T_1$", "T2": "Stage-II prompts $T_2$",
          "width": "MLP width $m$", "tau": r"label noise $\tau$"}
METRIC_LABEL = {"risk": "ICL risk at N = N_pt", "n_eff": "effective context n_eff",
                "cos_quad": "|cos(extracted feature, beta)|", "share_relevant": "share of gamma on relevant features"}


def phase_boundary(base: dict, x_field: str, xs, y_field: str, ys, measured=None):
    """A ``boundary(ax)`` drawing ``r = N^(2 / (3 ge))`` (the theorem's test-time context length ``N = r^(3 ge/2)``,
    constant 1, template exponent; docs/single_index.md) where ``r`` or ``N_pt`` is an axis; else None."""
    if not {x_field, y_field} & {"r", "N_pt"}:
        return None
    ge = generative_exponent(parse_link(base["link"]))

    def margin(x, y):
        f = dict(base)
        f[x_field], f[y_field] = x, y
        return theory.r_margin(f["N_pt"], f["r"], ge)

    label = f"theory: N = r^(3 ge/2), ge = {ge} (constant 1; larger r needs more context)"
    return lambda ax: draw_zero_contour(ax, xs, ys, margin, label)
