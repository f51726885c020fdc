"""Figures of the single-index ICL simulator (arXiv 2510.12026): one setting, risk vs N, gate ablation, and the
end-to-end networks (one run's training; the comparison of every predictor).

Every function returns a matplotlib ``Figure`` (Agg backend); save with
:func:`mamba_dynamics.core.plotting.save_figure`.  :func:`phase_boundary` draws the theorem's context-length
boundary on phase diagrams.
Curves are dicts with ``N`` ``(k,)`` and ``risk`` ``(seeds, k)`` (one row per seed; a single run is one row).
"""

from __future__ import annotations


import numpy as np

from ..core.plotting import band, draw_zero_contour, plt, wrap_title
from . import theory
from .hermite import generative_exponent, information_exponent, parse_link

STYLE = {
    "mamba": ("Mamba (gate sigma(y/rho + b))", "tab:blue", "o", "-"),
    "la": ("linear attention (G = 1/N)", "tab:orange", "s", "-"),
    "krr_x": ("KRR on x", "tab:gray", "^", "--"),
    "krr_x_I": ("KRR on x_I (intrinsic)", "k", "v", "--"),
    "mamba_e2e": ("Mamba, trained end to end", "tab:blue", "o", "-"),
    "la_e2e": ("linear attention, trained end to end", "tab:orange", "s", "-"),
    "st_e2e": ("softmax attention, trained end to end", "tab:green", "^", "-"),
    "mamba_alg1": ("Mamba readout, Algorithm 1", "tab:purple", "D", ":"),
}

#: Tracked quantities of an end-to-end run (history key -> label, colour).
TRACKED = {
    "share_relevant": ("share of ||W_B^T W_C||^2 on relevant features", "tab:red"),
    "cos_quad": ("|cos(top eigvec of extracted Q, beta)| (median)", "tab:blue"),
    "cos_linear": ("cos(extracted u, beta) (mean)", "tab:cyan"),
    "n_eff": ("n_eff / N (gate's effective context)", "tab:purple"),
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


def _risk_bands(ax, curves: dict) -> None:
    """Mean +- std over seeds of each ``curves[key] = (N, (seeds, k) risks)``, in the style of ``STYLE[key]``, at
    the N where some seed has a finite value."""
    for key, (N, vals) in curves.items():
        label, color, marker, ls = STYLE[key]
        ok = np.any(np.isfinite(vals), axis=0)
        band(ax, np.asarray(N)[ok], np.asarray(vals)[:, ok], color, label, marker=marker, ls=ls)


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
        _risk_bands(ax, curves)
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


def plot_network_run(result, curve: dict, krr: dict) -> "plt.Figure":
    """One end-to-end run (:class:`mamba_dynamics.core.train.TrainResult`): loss and evaluation risk vs step, the
    tracked quantities vs step, the gate's parameters vs step, and the trained network's risk vs N (``curve`` from
    :func:`network_train.risk_curve`, empty if training did not complete; ``krr[inputs]`` risks at the same N)."""
    cfg, h = result.config, result.history
    model = {"mamba": "Mamba", "constant": "linear attention", "softmax": "softmax attention"}[cfg.gate]
    style = {"mamba": "mamba_e2e", "constant": "la_e2e", "softmax": "st_e2e"}[cfg.gate]
    fig, axes = plt.subplots(2, 2, figsize=(12.5, 9.0))
    if cfg.gate == "softmax":
        model += f" (temperature {cfg.temperature:g})"
    fig.suptitle(f"{model} trained end to end (arXiv 2510.12026): d={cfg.d}, r={cfg.r}, link {cfg.link}, "
                 f"tau={cfg.tau}, {cfg.tokens} tokens, m_s={cfg.state}, m={cfg.width}, {cfg.optimizer} lr={cfg.lr:g}, "
                 f"N in [{cfg.N_min}, {cfg.N_max}], seed {cfg.seed}; status {result.status}", fontsize=9)
    ax = axes[0, 0]
    ax.plot(h["step"][1:], 2 * h["train_loss"][1:] / (1 + cfg.tau**2), color="tab:gray",
            label=f"training risk, N in [{cfg.N_min}, {cfg.N_max}] (mean since the last log)")
    ax.plot(h["step"], h["eval_risk"], color="tab:blue", marker=".", label=f"evaluation risk at N = {cfg.N_max}")
    ax.plot(h["step"], h["eval_risk_short"], color="tab:cyan", marker=".", label=f"evaluation risk at N = {cfg.N_min}")
    ax.axhline(1.0, color="k", lw=0.6, ls=":", label="predicting 0 (risk 1)")
    ax.set_yscale("log")
    ax.set(xlabel="training step", ylabel="risk  E(f - y)^2 / E y^2", title="training")
    ax.legend(fontsize=8)
    ax = axes[0, 1]
    for key, (label, color) in TRACKED.items():
        if np.any(np.isfinite(h[key])):
            if key == "n_eff" and cfg.gate == "softmax":
                label = "n_eff / N (1 / sum of squared softmax weights)"
            ax.plot(h["step"], h[key], color=color, label=label)
    ax.set(xlabel="training step", ylabel="value", ylim=(-0.1, 1.05), title=f"tracked quantities (N = {cfg.N_max})")
    ax.legend(fontsize=8)
    ax = axes[1, 0]
    if cfg.gate == "softmax":
        ax.text(0.5, 0.5, "softmax attention has no gate:\nits weights are in n_eff / N (panel above)",
                ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
    else:
        _gate_panel(ax, h, cfg, model)
    ax = axes[1, 1]
    if curve:
        label, color, marker, ls = STYLE[style]
        se = curve["risk_prompts"].std(axis=1) / np.sqrt(curve["risk_prompts"].shape[1])
        ax.errorbar(curve["N"], curve["risk"], yerr=se, color=color, marker=marker, ls=ls, label=label, capsize=3)
        for inputs, vals in krr.items():
            label, color, marker, ls = STYLE[f"krr_{inputs}"]
            ax.plot(curve["N"], vals, color=color, marker=marker, ls=ls, label=label)
        ax.axvspan(cfg.N_min, cfg.N_max, color="0.92", label="training context lengths")
    _risk_axes(ax, cfg.tau, "in-context risk of the trained network (+-1 s.e. over prompts)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def _gate_panel(ax, h, cfg, model: str) -> None:
    """The gate's parameters vs step (the end-to-end run's lower-left panel)."""
    ax.plot(h["step"], h["w_label"], color="tab:green", label="gate weight on the label, w_y")
    ax.plot(h["step"], h["gate_bias"], color="tab:brown", label="gate bias b (pre-activation w.z + b - log N)")
    if np.any(np.isfinite(h["w_square_rel"])):
        ax.plot(h["step"], h["w_square_rel"], color="tab:red", label="mean gate weight on relevant h2(x_k)")
        ax.plot(h["step"], h["w_square_irr"], color="tab:gray", label="mean gate weight on irrelevant h2(x_k)")
    ax.axhline(0.0, color="k", lw=0.5)
    ax.set(xlabel="training step", ylabel="value",
           title="gate parameters" + ("" if cfg.gated else f" (unused: {model})"))
    ax.legend(fontsize=8)


def plot_e2e_comparison(panels: dict, tau: float, train_range: tuple, title: str) -> "plt.Figure":
    """The issue's comparison: one panel per ``(link, d)``; ``panels[(link, d)][key] = (N, (seeds, k) risks)`` for
    keys ``mamba_e2e``, ``la_e2e``, ``mamba_alg1``, ``krr_x``, ``krr_x_I``; the training context range shaded."""
    links = sorted({k[0] for k in panels}, key=lambda x: [k[0] for k in panels].index(x))
    dims = sorted({k[1] for k in panels})
    fig, axes = plt.subplots(len(links), len(dims), figsize=(6.0 * len(dims), 4.6 * len(links)), squeeze=False)
    for i, link in enumerate(links):
        ie, ge = (f(parse_link(link)) for f in (information_exponent, generative_exponent))
        for j, d in enumerate(dims):
            ax = axes[i, j]
            ax.axvspan(*train_range, color="0.93", label="end-to-end training lengths")
            _risk_bands(ax, panels[(link, d)])
            _risk_axes(ax, tau, f"link {link} (ie = {ie}, ge = {ge}), d = {d}")
            ax.legend(fontsize=7)
    fig.suptitle(wrap_title(title, 95 * len(dims)), fontsize=9)
    fig.tight_layout()
    return fig


def plot_e2e_training(histories: dict, title: str) -> "plt.Figure":
    """Tracked quantities vs step for each ``(link, d)`` row: ``histories[(link, d)][key]`` for ``key`` in
    ``mamba_e2e``, ``la_e2e`` is a dict of ``(seeds, n_log)`` arrays (``step`` ``(n_log,)``).  Columns: evaluation
    risk, share of W_B^T W_C on relevant features, |cos(Q, beta)|, cos(u, beta) (the linear part, which odd links
    need), and the Mamba gate's n_eff / N and w_y."""
    cols = (("eval_risk", "evaluation risk (N = N_max)"), ("share_relevant", "share of W_B^T W_C on relevant"),
            ("cos_quad", "|cos(extracted Q, beta)|"), ("cos_linear", "cos(extracted u, beta)"),
            ("n_eff", "n_eff / N (gate; softmax weights)"), ("w_label", "gate weight w_y"))
    rows = list(histories)
    fig, axes = plt.subplots(len(rows), len(cols), figsize=(3.6 * len(cols), 2.9 * len(rows)), squeeze=False)
    for i, row in enumerate(rows):
        for j, (key, label) in enumerate(cols):
            ax = axes[i, j]
            for model, h in histories[row].items():
                name, color, marker, ls = STYLE[model]
                if model in ("la_e2e", "st_e2e") and key == "w_label" or model == "la_e2e" and key == "n_eff":
                    continue  # the constant gate has neither; softmax attention has no gate weights
                if np.any(np.isfinite(h[key])):
                    band(ax, h["step"], h[key], color, name, ls=ls)
            if key == "eval_risk":
                ax.set_yscale("log")
            ax.set(xlabel="training step", ylabel=label, title=f"link {row[0]}, d = {row[1]}", )
            ax.title.set_fontsize(8)
            if i == 0 and j == 0:
                ax.legend(fontsize=7)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig


SYMBOL = {"d": "ambient dimension $d$", "r": "intrinsic dimension $r$", "N_pt": "context length $N$ (= $N_{pt}$)",
          "rho": r"gate temperature $\rho$", "T1": "Stage-I prompts $T_1$", "T2": "Stage-II prompts $T_2$",
          "width": "MLP width $m$", "tau": r"label noise $\tau$", "N_max": "longest training context $N_{max}$",
          "lr": "learning rate", "steps": "training steps", "state": "state size $m_s$", "batch": "prompts per step"}
METRIC_LABEL = {"risk": "ICL risk at N = N_pt or N_max", "w_label": "gate weight w_y",
                "n_eff": "effective context n_eff",
                "cos_quad": "|cos(extracted feature, beta)|", "share_relevant": "share of gamma on relevant features"}


def phase_boundary(base: dict, x_field: str, xs, y_field: str, ys, measured=None, metric: str | None = None):
    """A ``boundary(ax)`` drawing ``r = N^(2 / (3 ge))`` (the theorem's test-time context length ``N = r^(3 ge/2)``,
    constant 1, template exponent; docs/single_index.md) where ``r`` or ``N_pt`` is an axis; else None."""
    length = "N_pt" if "N_pt" in base else "N_max"  # the end-to-end networks are scored at N = N_max
    if not {x_field, y_field} & {"r", length}:
        return None
    ge = generative_exponent(parse_link(base["link"]))

    def margin(x, y):
        f = dict(base)
        f[x_field], f[y_field] = x, y
        return theory.r_margin(f[length], f["r"], ge)

    label = f"theory: N = r^(3 ge/2), ge = {ge} (constant 1; larger r needs more context)"
    return lambda ax: draw_zero_contour(ax, xs, ys, margin, label)
