"""Figures of the feature-filtering simulator (arXiv 2602.12499): one run, alignment curves, scaling fits.

Every function returns a matplotlib ``Figure`` (Agg backend); save with
:func:`mamba_dynamics.core.plotting.save_figure`.  :func:`phase_boundary` draws the predicted scaling on phase diagrams.
"""

from __future__ import annotations

import numpy as np

from ..core.plotting import band, draw_level_contours, plt
from . import theory

MODEL_LABEL = {"ssm": "selective SSM + MLP", "lt-mlp": "linear attention + MLP"}
MODEL_COLOR = {"ssm": "tab:blue", "lt-mlp": "tab:orange"}
REGIME_LABEL = {"majority": "majority voting", "locality": "local concentration"}


def _setting(cfg) -> str:
    base = f"d={cfg.d}, L={cfg.L}, tau={cfg.tau}, m={cfg.m}, N={cfg.n_train}, eta={cfg.eta}"
    if cfg.regime == "majority":
        return f"{base}, alpha_r={cfg.alpha_r}, alpha_c={cfg.alpha_c}"
    return f"{base}, Delta L+={cfg.gap_near}, Delta L-={cfg.gap_far}"


def plot_features_run(result) -> "plt.Figure":
    """Four panels of one run: loss and errors; gating (or attention) alignment with o_+, o_- and the irrelevant
    patterns; gates and the relevant share of the outputs; MLP neuron alignment."""
    cfg, h = result.config, result.history
    step = h["step"]
    fig, axes = plt.subplots(2, 2, figsize=(12, 8.4))
    fig.suptitle(f"{MODEL_LABEL[cfg.model]} on {REGIME_LABEL[cfg.regime]} data: {_setting(cfg)}, seed={cfg.seed}"
                 f"  [{result.status}]", fontsize=10)
    ax = axes[0, 0]
    ax.plot(step, h["train_loss"], label="train hinge loss", color="k")
    ax.plot(step, h["train_err"], label="train error", color="tab:gray", ls="--")
    ax.plot(step, h["test_err"], label="test error", color="tab:red")
    hit = result.final.get("iters_to_target", float("nan"))
    if hit == hit:
        ax.axvline(hit, color="tab:red", ls=":", lw=1,
                   label=f"test error <= {cfg.target_err} (step {hit:.0f})")
    ax.set(xlabel="GD step", ylabel="loss / error", title="training")
    ax.legend(fontsize=8)
    ax = axes[0, 1]
    sym = "w" if cfg.gated else "W"
    lab = (lambda o: f"<w, {o}>") if cfg.gated else (lambda o: f"{o}^T W {o}")
    ax.plot(step, h["w_pos"], label=lab("o_+"), color="tab:blue")
    ax.plot(step, h["w_neg"], label=lab("o_-"), color="tab:green")
    ax.plot(step, h["w_irr"], label=lab("o_j") + ", mean over irrelevant j", color="tab:red")
    ax.plot(step, -h["w_irr_abs"], label=f"-max_j |{lab('o_j')}|", color="tab:red", ls=":")
    ax.axhline(0, color="k", lw=0.5)
    ax.set(xlabel="GD step", ylabel="alignment", title=f"{'gating vector' if cfg.gated else 'attention matrix'} "
                                                        f"{sym} vs patterns")
    ax.legend(fontsize=8)
    ax = axes[1, 0]
    if cfg.gated:
        ax.plot(step, h["gate_rel"], label="mean gate sigma(w^T x), relevant tokens", color="tab:blue")
        ax.plot(step, h["gate_irr"], label="mean gate, irrelevant tokens", color="tab:red")
        ax.plot(step, h["beta_next"], label="beta_s^(s+1) = sigma_s (1 - sigma_{s+1})", color="tab:purple", ls="--")
    ax.plot(step, h["rel_share"], label="share of output energy on o_+, o_-", color="k")
    ax.set(xlabel="GD step", ylabel="value", ylim=(-0.02, 1.02), title="gates and what the outputs carry")
    ax.legend(fontsize=8)
    ax = axes[1, 1]
    ax.plot(step, h["mlp_pos"], label="mean cos(v_i, o_+), a_i > 0", color="tab:blue")
    ax.plot(step, h["mlp_neg"], label="mean cos(v_i, o_-), a_i < 0", color="tab:green")
    ax.plot(step, h["mlp_irr"], label="mean |cos(v_i, o_j)|, irrelevant j", color="tab:red")
    ax.set(xlabel="GD step", ylabel="cosine", title="MLP neuron alignment")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_alignment(curves: dict, errors: dict, settings: dict) -> "plt.Figure":
    """Paper Figs. 2 and 4 plus the SSM / linear-attention comparison.

    curves[regime]: dict with ``step`` ``(n,)`` and ``(seeds, n)`` arrays ``cos_pos``, ``cos_neg``, ``cos_irr``,
    ``cos_irr_min`` (most negative irrelevant cosine) of the SSM; errors[regime][model]: ``(step, (seeds, n))``
    test errors; settings[regime]: a one-line description."""
    regimes = list(curves)
    fig, axes = plt.subplots(2, len(regimes), figsize=(6.2 * len(regimes), 8.4), squeeze=False)
    for j, regime in enumerate(regimes):
        c = curves[regime]
        ax = axes[0, j]
        band(ax, c["step"], c["cos_pos"], "tab:blue", "cos(w, o_+)", marker="")
        band(ax, c["step"], c["cos_neg"], "tab:green", "cos(w, o_-)", marker="")
        band(ax, c["step"], c["cos_irr"], "tab:red", "cos(w, o_j), mean over irrelevant j", marker="")
        band(ax, c["step"], c["cos_irr_min"], "tab:red", "min_j cos(w, o_j)", marker="", ls=":")
        ax.axhline(0, color="k", lw=0.5)
        ax.set(xlabel="GD step", ylabel="cosine", ylim=(-1, 1),
               title=f"{REGIME_LABEL[regime]}: gating alignment (SSM)\n{settings[regime]}")
        ax.legend(fontsize=8, loc="lower left" if regime == "majority" else "upper left")
        ax = axes[1, j]
        for model, (step, err) in errors[regime].items():
            band(ax, step, err, MODEL_COLOR[model], MODEL_LABEL[model], marker="")
        ax.axhline(0.5, color="k", lw=0.5, ls=":")
        ax.set(xlabel="GD step", ylabel="test error", ylim=(-0.02, 0.6),
               title=f"{REGIME_LABEL[regime]}: test error, mean +- std over seeds")
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def geometric_mean(T) -> np.ndarray:
    """Geometric mean over seeds (axis 0) ignoring NaN (not reached); NaN where every seed is NaN."""
    T = np.asarray(T, float)
    ok = np.isfinite(T) & (T > 0)
    logs = np.where(ok, np.log(np.where(ok, T, 1.0)), 0.0)
    n = ok.sum(axis=0)
    return np.where(n > 0, np.exp(logs.sum(axis=0) / np.maximum(n, 1)), np.nan)


def fit_slope(x, y) -> tuple[float, float]:
    """Least-squares slope and intercept of ``log y`` on ``log x`` (finite, positive points only)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    ok = np.isfinite(x) & np.isfinite(y) & (x > 0) & (y > 0)
    if ok.sum() < 2:
        return float("nan"), float("nan")
    slope, icpt = np.polyfit(np.log(x[ok]), np.log(y[ok]), 1)
    return float(slope), float(icpt)


def plot_scaling(panels: list) -> "plt.Figure":
    """Iterations-to-target vs the varied quantity on log-log axes, with the fitted and the predicted slope.

    Each panel: dict ``title``, ``xlabel``, ``x`` ``(k,)``, ``T`` ``(seeds, k)`` (NaN = not reached),
    ``predicted`` (slope), ``models`` optional dict name -> (x, T) for extra curves."""
    fig, axes = plt.subplots(1, len(panels), figsize=(5.2 * len(panels), 4.6), squeeze=False)
    for ax, p in zip(axes[0], panels):
        for model, (x, T) in p["curves"].items():
            T = np.asarray(T, float)
            x = np.asarray(x, float)
            gm = geometric_mean(T)
            ax.loglog(x, gm, "o-", color=MODEL_COLOR[model], label=f"{MODEL_LABEL[model]} (geometric mean)")
            for row in T:
                ax.loglog(x, row, ".", color=MODEL_COLOR[model], alpha=0.35)
            if model == "ssm":
                slope, icpt = fit_slope(np.repeat(x[None], len(T), 0).ravel(), T.ravel())
                if slope == slope:
                    xs = np.geomspace(x.min(), x.max(), 50)
                    ax.loglog(xs, np.exp(icpt) * xs**slope, "--", color="k", lw=1,
                              label=f"fit: slope {slope:.2f}")
                    seen = np.isfinite(gm)
                    anchor = np.exp(np.mean(np.log(gm[seen])))
                    xm = np.exp(np.mean(np.log(x[seen])))
                    ax.loglog(xs, anchor * (xs / xm) ** p["predicted"], ":", color="tab:red", lw=1.5,
                              label=f"theory: slope {p['predicted']:g}")
            missing = np.isnan(T).sum()
            if missing:
                ax.text(0.02, 0.02, f"{model}: {missing} runs did not reach the target", transform=ax.transAxes,
                        fontsize=8)
        ax.set(xlabel=p["xlabel"], ylabel="iterations to target test error", title=p["title"])
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


SYMBOL = {"alpha_r": r"relevant fraction $\alpha_r$", "alpha_c": r"confusing fraction $\alpha_c$",
          "L": "sequence length $L$", "d": "dimension $d$", "gap_near": r"$\Delta L^+$", "gap_far": r"$\Delta L^-$",
          "tau": r"noise $\tau$", "eta": r"step size $\eta$", "n_train": "training sequences $N$", "m": "MLP width $m$"}
METRIC_LABEL = {"test_err": "test 0-1 error", "iters_to_target": "iterations to target test error",
                "train_loss": "final train hinge loss", "cos_pos": "cos(w, o_+)", "cos_irr": "mean cos(w, o_j), irrelevant"}


def _signal(regime: str, f: dict) -> float:
    """The theorems' signal: ``alpha_r - alpha_c`` (the fractions as the paper states them; the data realise
    ``round(alpha L)`` tokens, see docs/features.md) or ``delta = (1/2)^{Delta L+} - (1/2)^{Delta L-}``."""
    if regime == "majority":
        return f["alpha_r"] - f["alpha_c"]
    return theory.locality_delta(f["gap_near"], f["gap_far"])


def phase_boundary(base: dict, x_field: str, xs, y_field: str, ys, measured=None):
    """A ``boundary(ax)`` drawing the theorems' predicted scaling where the colour is iterations to target: level
    lines of ``T_pred = C L^p / (eta signal^2)`` (``p`` of :mod:`theory`), with ``C`` fitted to
    the measured cells (geometric mean of measured / predicted), at 10, 30, 100, 300, 1000 iterations; None if
    nothing can be fitted or the axes do not enter the law."""
    regime = base["regime"]
    if measured is None:
        return None
    fields = {"alpha_r", "alpha_c", "L", "eta"} if regime == "majority" else {"gap_near", "gap_far", "L", "eta"}
    if not {x_field, y_field} & fields:
        return None

    def predicted(x, y, C=1.0):
        f = dict(base)
        f[x_field], f[y_field] = x, y
        s = _signal(regime, f)
        return theory.iterations(regime, f["eta"], s, f["L"], C) if s > 0 else np.inf

    ratios = [np.log(measured[iy, ix] / predicted(xs[ix], ys[iy])) for iy in range(len(ys)) for ix in range(len(xs))
              if np.isfinite(measured[iy, ix]) and measured[iy, ix] > 0 and np.isfinite(predicted(xs[ix], ys[iy]))]
    if not ratios:
        return None
    C = float(np.exp(np.mean(ratios)))
    p = theory.L_POWER_MAJORITY if regime == "majority" else theory.L_POWER_LOCALITY
    label = f"theory: T = C L^{p:g} / (eta signal^2), C = {C:.3g} fitted (labels: iterations)"
    return lambda ax: draw_level_contours(ax, xs, ys, lambda x, y: predicted(x, y, C), (10, 30, 100, 300, 1000),
                                          label)
