"""Plotting helpers every family's figures use: saving, mean +- std bands, and phase-diagram heatmaps with a theory
boundary.

Figures use the non-interactive Agg backend (no display needed) and are saved atomically as PNG (and PDF on
request) by :func:`save_figure`.  A phase diagram is a heatmap of a metric over two config fields, on cell indices,
with failed cells crossed out and the family's theory curve drawn by :func:`draw_zero_contour` where the family's
``boundary`` callback gives one.

Glossary: ``values`` ``(seeds, n)`` = one row per seed; ``mean`` ``(ny, nx)`` = metric averaged over seeds;
``status`` ``(ny, nx, seeds)`` = 0 missing, 1 ok, 2 failed; ``margin(X, Y)`` = a function on the axes' values that
is positive inside the region the theory covers and zero on its boundary; level contours draw a predicted
quantity (e.g. iterations) at a few values.
"""

from __future__ import annotations

import io
import os
import textwrap
from pathlib import Path
from typing import Callable

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from .io import atomic_write_bytes  # noqa: E402


def save_figure(fig, path: str | os.PathLike, pdf: bool = False, dpi: int = 130) -> list[Path]:
    """Save ``fig`` as PNG at ``path`` (suffix forced to .png) and, if ``pdf``, also as PDF; atomic writes."""
    path = Path(path).with_suffix(".png")
    written = []
    for suffix, fmt in ((".png", "png"), (".pdf", "pdf"))[: 2 if pdf else 1]:
        buf = io.BytesIO()
        fig.savefig(buf, format=fmt, dpi=dpi, bbox_inches="tight")
        written.append(atomic_write_bytes(path.with_suffix(suffix), buf.getvalue()))
    plt.close(fig)
    return written


def wrap_title(title: str, width: int) -> str:
    """Each line of ``title`` wrapped to ``width`` characters (so a one-panel figure keeps its width)."""
    return "\n".join("\n".join(textwrap.wrap(line, width)) for line in title.split("\n"))


def band(ax, x, values, color, label, marker="o", floor=None, ls="-"):
    """Mean line with a +-1 std band over the first axis of ``values`` (seeds); band clipped below at ``floor``."""
    values = np.asarray(values, dtype=float)
    mean = np.nanmean(values, axis=0)
    ax.plot(x, mean, marker=marker, ms=3.5, color=color, label=label, ls=ls)
    if values.shape[0] > 1:
        std = np.nanstd(values, axis=0)
        low = mean - std if floor is None else np.clip(mean - std, floor, None)
        ax.fill_between(x, low, mean + std, color=color, alpha=0.2, lw=0)


def is_numeric(values) -> bool:
    return all(isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool) for v in values)


def to_index(values, fine):
    """Map axis values to cell-index coordinates (linear between neighbouring cells)."""
    return np.interp(fine, np.asarray(values, float), np.arange(len(values)))


def _on_grid(xs, ys, fn):
    """``fn`` on a 300 x 300 grid spanning the axes' values: (x coordinates, y coordinates, values); non-finite
    values become NaN."""
    fx = np.linspace(min(xs), max(xs), 300)
    fy = np.linspace(min(ys), max(ys), 300)
    X, Y = np.meshgrid(fx, fy)
    with np.errstate(divide="ignore", invalid="ignore"):
        M = np.vectorize(fn, otypes=[float])(X, Y)
    return fx, fy, np.where(np.isfinite(M), M, np.nan)


def draw_zero_contour(ax, xs, ys, margin: Callable, label: str, color: str = "deepskyblue") -> bool:
    """Draw the zero level of ``margin(X, Y)`` (a theory boundary) over a heatmap on cell indices; returns whether
    the boundary crosses the plotted range (nothing is drawn otherwise)."""
    if not (is_numeric(xs) and is_numeric(ys) and len(xs) > 1 and len(ys) > 1):
        return False
    fx, fy, M = _on_grid(xs, ys, margin)
    if not (np.nanmin(M) < 0 < np.nanmax(M)):
        return False
    ax.contour(to_index(xs, fx), to_index(ys, fy), M, levels=[0], colors=color, linewidths=2.2, linestyles="--")
    ax.plot([], [], "--", color=color, lw=2.2, label=label)  # legend entry for the contour
    return True


def draw_level_contours(ax, xs, ys, fn: Callable, levels, label: str, color: str = "deepskyblue") -> bool:
    """Draw the level sets ``fn(X, Y) = level`` (a predicted scaling) over a heatmap on cell indices, each line
    labelled with its level; returns whether any level crosses the plotted range."""
    if not (is_numeric(xs) and is_numeric(ys) and len(xs) > 1 and len(ys) > 1):
        return False
    fx, fy, M = _on_grid(xs, ys, fn)
    inside = [v for v in levels if np.nanmin(M) < v < np.nanmax(M)]
    if not inside:
        return False
    cs = ax.contour(to_index(xs, fx), to_index(ys, fy), M, levels=inside, colors=color, linewidths=1.8,
                    linestyles="--")
    ax.clabel(cs, fmt=lambda v: f"{v:g}", fontsize=7)
    ax.plot([], [], "--", color=color, lw=1.8, label=label)  # legend entry for the contours
    return True


def draw_phase(ax, x_field, xs, y_field, ys, mean, status, axis_labels: dict | None = None,
               lower_is_better: bool = False, vmin=None, vmax=None,
               annotate: bool = True, boundary: Callable | None = None):
    """Heatmap of ``mean`` ``(ny, nx)`` on cell indices, failed cells crossed, ``boundary(ax)`` drawing the
    theory curve (if given).  Returns the image for a colour bar."""
    axis_labels = axis_labels or {}
    cmap = plt.get_cmap("magma_r" if lower_is_better else "viridis").with_extremes(bad="lightgray")
    im = ax.imshow(np.ma.masked_invalid(mean), origin="lower", aspect="auto", cmap=cmap,
                   vmin=0 if (lower_is_better and vmin is None) else vmin, vmax=vmax)
    ny, nx = mean.shape
    ax.set_xticks(range(nx), [f"{v:g}" if is_numeric([v]) else str(v) for v in xs], rotation=45 if nx > 8 else 0)
    ax.set_yticks(range(ny), [f"{v:g}" if is_numeric([v]) else str(v) for v in ys])
    ax.set_xlabel(axis_labels.get(x_field, x_field))
    ax.set_ylabel(axis_labels.get(y_field, y_field))
    outside = np.argwhere((status == 3).all(-1))
    if len(outside):  # blank: outside the model's domain, nothing was trained there
        for iy, ix in outside:
            ax.add_patch(matplotlib.patches.Rectangle((ix - 0.5, iy - 0.5), 1, 1, facecolor="white", edgecolor="none"))
        ax.add_patch(matplotlib.patches.Rectangle((0, 0), 0, 0, facecolor="white", edgecolor="0.6",
                                                  label="outside the model's domain (left blank)"))
    failed = np.argwhere((status == 2).any(-1))
    if len(failed):
        ax.plot(failed[:, 1], failed[:, 0], "x", color="cyan", ms=9, mew=2, label="failed run (see JSON)")
    if np.any(~np.isfinite(mean) & (status == 1).all(-1)):
        ax.fill_between([], [], color="lightgray", label="no value (e.g. target not reached)")
    if annotate and nx <= 12 and ny <= 12:
        lo, hi = im.norm.vmin or 0, im.norm.vmax or 1
        for iy in range(ny):
            for ix in range(nx):
                v = mean[iy, ix]
                if np.isfinite(v):
                    dark = (v - lo) / max(hi - lo, 1e-12) > 0.55
                    ax.text(ix, iy, f"{v:.2f}" if abs(v) < 10 else f"{v:.0f}", ha="center", va="center",
                            fontsize=6.5, color="white" if dark == lower_is_better else "black")
    if boundary is not None:
        boundary(ax)
    handles, _ = ax.get_legend_handles_labels()
    if handles:  # below the axes, so no cell is hidden
        ax.legend(fontsize=7.5, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2, frameon=False)
    return im


def plot_phase(panels: list, metric: str, title: str = "", ncols: int | None = None,
               metric_labels: dict | None = None, lower_is_better: bool = False):
    """One heatmap per panel; each panel is a dict of :func:`draw_phase` keywords plus ``title``.  With
    ``lower_is_better`` (errors, risks) the panels share the colour scale [0, max(0.5, largest value)]."""
    n = len(panels)
    ncols = ncols or n
    nrows = int(np.ceil(n / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(5.6 * ncols, 4.6 * nrows), squeeze=False)
    vmax = None
    if lower_is_better:
        vmax = max(0.5, max(float(np.nanmax(p["mean"])) if np.isfinite(p["mean"]).any() else 0 for p in panels))
    label = (metric_labels or {}).get(metric, metric)
    for ax, p in zip(axes.flat, panels):
        kw = {k: v for k, v in p.items() if k != "title"}
        im = draw_phase(ax, **kw, lower_is_better=lower_is_better, vmax=vmax)
        ax.set_title(p.get("title", ""), fontsize=10)
        fig.colorbar(im, ax=ax, label=label + " (mean over seeds)")
    for ax in list(axes.flat)[n:]:
        ax.set_visible(False)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


__all__ = ("plt", "save_figure", "wrap_title", "band", "is_numeric", "to_index", "draw_zero_contour",
           "draw_level_contours",
           "draw_phase", "plot_phase")


def plot_power_laws(panels: list, colors: dict | None = None, labels: dict | None = None,
                    ylabel: str = "iterations to target", title: str = "") -> "plt.Figure":
    """Measured scalings on log-log axes with their least-squares power laws (95 % interval) and the theory's
    exponents, one panel per swept quantity (:mod:`mamba_dynamics.core.fits`).

    Each panel: dict ``title``, ``xlabel``, optional ``ylabel``, ``curves``: name -> ``(x (k,), T (seeds, k))``
    (NaN = not reached: left out and counted in the title), and ``predicted``: a number (the first curve's
    exponent: its fit dashed black, theory dotted red) or a dict name -> exponent (each named curve's fit dashed
    and theory dotted in its colour; an exponent of None draws no theory line).  The theory line passes through
    the geometric mean of the measured points (only the exponent is predicted: the Theta constants are unknown).
    ``colors`` / ``labels``: by curve name; ``title``: the figure's (the setting)."""
    from .fits import fit_per_seed_grid, geometric_mean

    colors, labels = colors or {}, labels or {}
    ncols = min(3, len(panels))
    nrows = -(-len(panels) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(5.6 * ncols, 4.8 * nrows), squeeze=False)
    for ax in axes.ravel()[len(panels):]:
        ax.axis("off")
    for ax, p in zip(axes.ravel(), panels):
        notes = []
        pred = p["predicted"]
        per_curve = isinstance(pred, dict)
        for k, (name, (x, T)) in enumerate(p["curves"].items()):
            T, x = np.asarray(T, float), np.asarray(x, float)
            gm = geometric_mean(T)
            color = colors.get(name, "tab:green" if k else "tab:blue")
            ax.loglog(x, gm, "o-", color=color, label=f"{labels.get(name, name)} (geometric mean)")
            for row in T:
                ax.loglog(x, row, ".", color=color, alpha=0.35)
            missing = int(np.isnan(T).sum())
            if missing:
                notes.append(f"{labels.get(name, name)}: {missing} of {T.size} runs did not reach it")
            slope_pred = pred.get(name) if per_curve else (pred if k == 0 else None)
            if (per_curve and name not in pred) or (not per_curve and k):
                continue  # no fit for this curve
            fit = fit_per_seed_grid(x, T)
            if fit["slope"] == fit["slope"]:
                xs = np.geomspace(x.min(), x.max(), 50)
                ci = f" [{fit['lo']:.2f}, {fit['hi']:.2f}]" if fit["lo"] == fit["lo"] else ""
                who = f"{labels.get(name, name)} fit" if per_curve else "fit"
                ax.loglog(xs, np.exp(fit["intercept"]) * xs ** fit["slope"], "--", color=color if per_curve else "k",
                          lw=1, label=f"{who}: slope {fit['slope']:.2f}{ci} (95% CI)")
                seen = np.isfinite(gm)
                if slope_pred is not None and seen.any():
                    anchor = np.exp(np.mean(np.log(gm[seen])))
                    xm = np.exp(np.mean(np.log(x[seen])))
                    ax.loglog(xs, anchor * (xs / xm) ** slope_pred, ":", color=color if per_curve else "tab:red",
                              lw=2, label=f"theory{' (' + labels.get(name, name) + ')' if per_curve else ''}: "
                                          f"slope {slope_pred:g}")
        ax.set(xlabel=p["xlabel"], ylabel=p.get("ylabel", ylabel))
        ax.set_title(p["title"] + ("\n" + "; ".join(notes) if notes else ""), fontsize=10)
        ax.legend(fontsize=7)
    if title:
        fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return fig
