"""Figures for the outlier-ICL simulator (arXiv 2510.00399): readable without the code (labelled axes, legends,
theory lines).

Every function takes plain arrays / results and returns a matplotlib ``Figure``; save it with
:func:`mamba_dynamics.core.plotting.save_figure`.  :func:`phase_boundary` gives phase diagrams the theorems'
boundary.
"""

from __future__ import annotations

import matplotlib.ticker
import numpy as np

from ..core.plotting import band, draw_zero_contour, plt, wrap_title
from . import theory

MODEL_LABEL = {"mamba": "Mamba (eq. 3)", "lt": "Linear Transformer", "st": "Softmax Transformer",
               "mamba2": "Mamba-2 gate", "gret": "Gated retention", "retnet": "RetNet (fixed decay)",
               "gla": "GLA (vector gate)"}
MODEL_COLOR = {"mamba": "tab:blue", "lt": "tab:orange", "st": "tab:green", "mamba2": "tab:cyan",
               "gret": "tab:purple", "retnet": "tab:brown", "gla": "tab:pink"}
#: App. B.1 of arXiv 2510.00399 (Table 4, from the reviews): the 3-layer softmax Transformer stays above 99 %
#: accuracy for alpha <= 0.7
PAPER_TABLE4_ST = {"alpha_max": 0.7, "accuracy": 0.99}
RULE_LABEL = {"flip": "(A) flipped labels", "targeted": "(B) targeted label", "random": "(C) random labels"}


def plot_run(result) -> "plt.Figure":
    """Six panels of one run (:class:`mamba_dynamics.core.train.TrainResult`): loss and test errors, Cor. 1
    attention sums, Cor. 2 gate means, gates by clean rank against ``2^-(k-1)``, gates by position, norms.  For
    the softmax Transformer (``st``) its head-averaged softmax weights stand for the gates, and the theorems'
    lines (Mamba's and the linear Transformer's) are left out."""
    cfg, h, fin = result.config, result.history, result.final
    softmax = cfg.model == "st"
    gate = "softmax weight" if softmax else "gate"
    step = h["step"]
    fig, axes = plt.subplots(2, 3, figsize=(15, 8.2))
    what = MODEL_LABEL[cfg.model] + (f" (tau={cfg.temperature:g}, heads={cfg.heads}, window={cfg.window or 'none'})"
                                     if softmax else "")
    title = (f"{what}: d={cfg.d}, M1={cfg.M1}, p_a={cfg.p_a}, l_tr={cfg.l_tr}, l_ts={cfg.l_ts}, "
             f"test alpha={cfg.alpha} ({cfg.label_rule}, {cfg.placement}), eta={cfg.eta}, B={cfg.batch}, "
             f"seed={cfg.seed}  [{result.status}]\npreset {cfg.preset}: kappa'_a={cfg.kappa_a_test:.3g}, "
             f"K'={cfg.K_test:g}, outlier count {cfg.outlier_count}, training tasks {cfg.train_tasks}")
    fig.suptitle(title, fontsize=10)

    ax = axes[0, 0]
    ax.plot(step[1:], h["train_loss"][1:], color="k", label="train hinge loss (window mean)")
    ax.plot(step, h["test_err_clean"], color="tab:green", label="test 0-1 error, clean (alpha=0)")
    ax.plot(step, h["test_err"], color="tab:red", label=f"test 0-1 error, alpha={cfg.alpha}")
    if cfg.model in ("mamba", "lt"):
        t_scale = (theory.iterations_mamba if cfg.gated else
                   lambda *a: theory.iterations_lt(*a, cfg.l_tr))(cfg.eta, cfg.p_a, cfg.beta, cfg.M1)
        ax.axvline(t_scale, color="gray", ls=":",
                   label=f"theory order T = {t_scale:.0f} (Thm {1 if cfg.gated else 3}, constant 1)")
    ax.set_xlabel("SGD step")
    ax.set_ylabel("loss / error")
    ax.set_yscale("symlog", linthresh=1e-2)
    ax.set_ylim(bottom=0)
    ax.set_title("Training loss and test error")
    ax.legend(fontsize=7)

    ax = axes[0, 1]
    ax.plot(step, h["attn_same"], color="tab:blue", label="same pattern as query")
    ax.plot(step, h["attn_other"], color="tab:gray", label="other examples (all tasks)")
    ax.plot(step, h["attn_other_unseen"], color="tab:purple", ls="--", label="other examples, unseen tasks")
    ax.set_xlabel("SGD step")
    ax.set_ylabel(r"$\sum_i \tilde p_i^\top W_B^\top W_C \tilde p_{query}$ (mean over test prompts)")
    ax.set_title("Attention concentration (Cor. 1)")
    ax.legend(fontsize=8)

    ax = axes[0, 2]
    ax.plot(step, h["gate_clean"], color="tab:green", label="clean examples")
    ax.plot(step, h["gate_outlier"], color="tab:red", label="outlier examples")
    ax.set_yscale("log")
    ax.set_xlabel("SGD step")
    ax.set_ylabel("mean softmax weight (heads averaged)" if softmax else
                  r"mean of $D_{ia}$ over coordinates $a$" if cfg.model == "gla" else r"mean gate $G_i(w)$")
    ax.set_title(f"{gate.capitalize()} on outlier vs clean examples" + (" (Cor. 2)" if cfg.model == "mamba" else
                                                                        ""))
    ax.legend(fontsize=8)

    ax = axes[1, 0]
    if fin:
        rank = fin["gate_by_rank"]
        rank = rank[np.isfinite(rank)]
        k = np.arange(1, len(rank) + 1)
        ax.semilogy(k, rank, "o-", color="tab:green", ms=4, label="measured: k-th closest clean example")
        if cfg.model == "mamba":
            ref = rank[0] * np.array([theory.clean_gate_profile(int(i)) for i in k])
            ax.semilogy(k, ref, "--", color="k", label=r"Cor. 2 lower-bound shape $\propto 2^{-(k-1)}$")
        ax.legend(fontsize=8)
    ax.set_xlabel("k (rank among clean examples, counted from the query)")
    ax.set_ylabel(f"mean {gate}")
    ax.set_title(f"Clean-example {gate} by rank (final)")

    ax = axes[1, 1]
    if fin:
        dist = np.arange(1, len(fin["gate_by_pos_clean"]) + 1)
        ax.semilogy(dist, fin["gate_by_pos_clean"], "o-", color="tab:green", ms=4, label="clean")
        ax.semilogy(dist, fin["gate_by_pos_outlier"], "x-", color="tab:red", ms=5, label="outlier")
        ax.legend(fontsize=8)
    ax.set_xlabel("distance from the query (1 = adjacent)")
    ax.set_ylabel(f"mean {gate}")
    ax.set_title(f"{gate.capitalize()} by position (final)")

    ax = axes[1, 2]
    ax.plot(step, h["norm_W_B"], label=r"$\|W_B\|_F$")
    ax.plot(step, h["norm_W_C"], label=r"$\|W_C\|_F$")
    if not softmax and cfg.model not in ("lt", "retnet"):
        ax.plot(step, h["norm_w"], label=r"$\|W_a\|_F$" if cfg.model == "gla" else r"$\|w\|$")
    ax.set_xlabel("SGD step")
    ax.set_ylabel("norm")
    ax.set_title("Parameter norms")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_error_vs_alpha(alphas, errors: dict, rules, p_a: float, l_tr: int, l_ts: int, title: str = "",
                        outlier_count: str = "exact", layers: int = 1):
    """Fig. 2: ``errors[model][rule]`` is ``(seeds, len(alphas))``; one panel per label rule, theory
    thresholds ``alpha = min(1, p_a l_tr / l_ts)`` (Mamba, Thm 2) and ``alpha = 1/2`` (LT, Thm 4) drawn, and, for
    3-layer softmax Transformers (``layers = 3``), App. B.1's Table 4 (error at most 0.01 for alpha <= 0.7)."""
    fig, axes = plt.subplots(1, len(rules), figsize=(max(6.4, 4.6 * len(rules)), 4.3), sharey=True, squeeze=False)
    for ax, rule in zip(axes[0], rules):
        for model in errors:
            band(ax, alphas, errors[model][rule], MODEL_COLOR[model], MODEL_LABEL[model], floor=0.0)
        if "mamba" in errors:
            ax.axvline(theory.alpha_max_mamba(p_a, l_tr, l_ts), color=MODEL_COLOR["mamba"], ls="--", lw=1,
                       label=r"Thm 2: $\alpha = \min(1, p_a l_{tr}/l_{ts})$")
        if "lt" in errors:
            ax.axvline(theory.ALPHA_MAX_LT, color=MODEL_COLOR["lt"], ls="--", lw=1, label=r"Thm 4: $\alpha = 1/2$")
        ax.axhline(0.01, color="gray", ls=":", lw=1, label="error 0.01")
        if "st" in errors and layers == 3:
            ax.plot([0, PAPER_TABLE4_ST["alpha_max"]], [1 - PAPER_TABLE4_ST["accuracy"]] * 2,
                    color=MODEL_COLOR["st"], lw=3, alpha=0.5, label="paper, App. B.1 Table 4: 3-layer softmax\n"
                                                                    r"Transformer $\leq 0.01$ for $\alpha \leq 0.7$")
        fine = np.linspace(min(alphas), max(alphas), 200)
        ax.plot(fine, [theory.same_pattern_floor(a, l_ts, outlier_count) for a in fine], color="k", lw=0.8, ls="-.",
                label="floor of a same-pattern reader:\n" + r"$E[2^{-n_{clean}}]/2$ (docs/outliers.md)")
        ax.set_title(RULE_LABEL.get(rule, rule))
        ax.set_xlabel(r"test outlier fraction $\alpha$")
        ax.set_ylim(-0.02, 1.02)
        ax.grid(alpha=0.3)
    axes[0, 0].set_ylabel("test 0-1 error (mean, band = 1 std over seeds)")
    axes[0, 0].legend(fontsize=7, loc="upper left")
    fig.suptitle(wrap_title(title, 60 * len(rules)), fontsize=10)
    fig.tight_layout()
    return fig


def plot_attention_history(steps, sums: dict, title: str = ""):
    """Fig. 3: ``sums[model] = (same, other, other_unseen)``, the Cor. 1 attention sums over training, each
    ``(seeds, n)`` (one layer) or ``(seeds, n, L)`` (a stack: one panel per block, the first block, the paper's
    Fig. 3, on the left; ``other_unseen`` may be None)."""
    depth = max(np.ndim(v[0]) for v in sums.values()) == 3
    L = max(np.shape(v[0])[2] for v in sums.values()) if depth else 1
    rows, cols = (len(sums), L) if depth else (1, len(sums))
    fig, axes = plt.subplots(rows, cols, figsize=(5.5 * cols, 4 * rows), squeeze=False)
    cells = [(row, model, b) for row, model in enumerate(sums) for b in range(L)]
    for row, model, b in cells:
        ax = axes[row, b] if depth else axes[0, row]
        same, other, other_unseen = sums[model]
        pick = (lambda a: None if a is None else np.asarray(a)[:, :, b]) if depth else (lambda a: a)
        band(ax, steps, pick(same), "tab:blue", "same relevant pattern as the query", marker=None)
        band(ax, steps, pick(other), "tab:gray", "other examples (all tasks)", marker=None)
        if other_unseen is not None:
            band(ax, steps, pick(other_unseen), "tab:purple", "other examples, unseen tasks only", marker=None,
                 ls="--")
        ax.axhline(0, color="k", lw=0.6)
        ax.set_title(MODEL_LABEL[model] + (f", layer {b + 1}" + (" (the paper's Fig. 3)" if b == 0 else "")
                                           if depth else ""))
        ax.set_xlabel("SGD step")
        ax.set_ylabel(r"$\sum_i \tilde p_i^\top W_B^\top W_C \tilde p_{query}$ (mean over prompts)")
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def plot_gates(example_gates, example_outlier, rank_mean, rank_counts, title: str = ""):
    """Fig. 4: left, the gates ``(l,)`` of one test prompt by position with outliers marked; right, the mean gate of
    the k-th closest clean example against the Cor. 2 shape ``2^-(k-1)``.  For a stack, ``example_gates``,
    ``rank_mean`` and ``rank_counts`` are ``(L, l)``: one row of panels per block, the first block (the paper's
    Fig. 4) on top."""
    G, R, C = (np.atleast_2d(np.asarray(a, float)) for a in (example_gates, rank_mean, rank_counts))
    L, l = G.shape
    fig, axes = plt.subplots(L, 2, figsize=(11, 3.6 * L + 0.4), squeeze=False)
    pos = np.arange(1, l + 1)
    colors = np.where(example_outlier, "tab:red", "tab:green")
    for b in range(L):
        where = "" if L == 1 else (f"layer {b + 1}" + (" (the paper's Fig. 4)" if b == 0 else "") + ": ")
        ax = axes[b, 0]
        g = G[b]
        ax.bar(pos, g, color=colors)
        ax.set_yscale("log")
        ax.set_ylim(max(np.min(g[g > 0]) / 3, 1e-12) if np.any(g > 0) else 1e-12, max(1.0, g.max() * 1.5))
        ax.bar([0], [0], color="tab:green", label="clean example")
        ax.bar([0], [0], color="tab:red", label="outlier example")
        ax.set_xlim(0.3, l + 0.7)
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
        ax.set_xlabel(f"position i in the prompt (query follows position {l})")
        ax.set_ylabel(r"gate $G_i(w)$")
        ax.set_title(where + "one test prompt")
        ax.legend(fontsize=8)
        ax = axes[b, 1]
        k = np.arange(1, l + 1)
        ok = (C[b] > 0) & np.isfinite(R[b])
        ax.semilogy(k[ok], R[b][ok], "o-", color="tab:green", label="mean gate, k-th closest clean example")
        if ok.any():
            ax.semilogy(k[ok], R[b][ok][0] * 2.0 ** (-(k[ok] - 1)), "k--",
                        label=r"Cor. 2 lower-bound shape $\propto 2^{-(k-1)}$")
        ax.set_xlabel("k (rank among clean examples, counted from the query)")
        ax.set_ylabel("mean gate over test prompts")
        ax.set_title(where + "decay with distance")
        ax.legend(fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def plot_placement(placements, alphas, errors: dict, title: str = ""):
    """Placement study: ``errors[model]`` is ``(seeds, len(placements), len(alphas))``; one panel per alpha."""
    fig, axes = plt.subplots(1, len(alphas), figsize=(4.4 * len(alphas), 3.8), sharey=True, squeeze=False)
    width = 0.38
    x = np.arange(len(placements))
    for ax, (ia, alpha) in zip(axes[0], enumerate(alphas)):
        for im, model in enumerate(errors):
            e = np.asarray(errors[model])[:, :, ia]
            ax.bar(x + (im - 0.5) * width, e.mean(0), width, yerr=e.std(0) if e.shape[0] > 1 else None,
                   color=MODEL_COLOR[model], label=MODEL_LABEL[model], capsize=3)
        ax.set_xticks(x, [{"R": "R (random)", "FQ": "FQ (far)", "CQ": "CQ (close)"}[p] for p in placements])
        ax.set_title(rf"$\alpha$ = {alpha}")
        ax.set_xlabel("outlier placement in the test prompt")
        ax.grid(axis="y", alpha=0.3)
    axes[0, 0].set_ylabel("test 0-1 error (mean +- std over seeds)")
    axes[0, 0].legend(fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def plot_sensitivity(alphas, errors: dict, splits, counts, ratios, p_a: float, l_tr: int, l_ts: int, title: str = ""):
    """Fig. 2 under the choices the paper leaves open: one panel per (split, count mode); error vs alpha, one colour
    per ``kappa'_a / kappa_a``, Mamba solid and LT dashed (mean over seeds), theorems' thresholds drawn.
    ``errors[(split, model)]`` is ``(seeds, len(counts), len(ratios), len(alphas))``."""
    fig, axes = plt.subplots(len(splits), len(counts), figsize=(5.6 * len(counts), 3.9 * len(splits)), sharex=True,
                             sharey=True, squeeze=False)
    colors = plt.get_cmap("viridis")(np.linspace(0, 0.85, len(ratios)))
    for i, split in enumerate(splits):
        for j, count in enumerate(counts):
            ax = axes[i, j]
            for k, ratio in enumerate(ratios):
                for model, ls in (("mamba", "-"), ("lt", "--")):
                    if (split, model) in errors:
                        e = np.asarray(errors[(split, model)])[:, j, k].mean(0)
                        ax.plot(alphas, e, ls=ls, color=colors[k], marker="o" if model == "mamba" else None, ms=3,
                                label=f"{MODEL_LABEL[model]}, kappa'_a = {ratio:.3g} kappa_a")
            ax.axvline(theory.alpha_max_mamba(p_a, l_tr, l_ts), color=MODEL_COLOR["mamba"], ls=":", lw=1)
            ax.axvline(theory.ALPHA_MAX_LT, color=MODEL_COLOR["lt"], ls=":", lw=1)
            ax.axhline(0.01, color="gray", ls=":", lw=0.8)
            ax.set_yscale("symlog", linthresh=0.01)
            ax.set_ylim(0, 1.05)
            ax.set_title(f"train split: {split}; test outliers: {count}", fontsize=9)
            ax.grid(alpha=0.3)
            if i == len(splits) - 1:
                ax.set_xlabel(r"test outlier fraction $\alpha$")
            if j == 0:
                ax.set_ylabel("test 0-1 error (flipped labels)")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    handles += [plt.Line2D([], [], color=MODEL_COLOR["mamba"], ls=":"), plt.Line2D([], [], color=MODEL_COLOR["lt"], ls=":"),
                plt.Line2D([], [], color="gray", ls=":")]
    labels += [r"Thm 2: $\alpha = \min(1, p_a l_{tr}/l_{ts})$", r"Thm 4: $\alpha = 1/2$", "error 0.01"]
    fig.legend(handles, labels, loc="lower center", ncol=4, fontsize=8, frameon=False, bbox_to_anchor=(0.5, -0.01))
    fig.suptitle(title, fontsize=10)
    fig.tight_layout(rect=(0, 0.09, 1, 1))
    return fig


SYMBOL = {"alpha": r"test outlier fraction $\alpha$", "p_a": r"train outlier fraction $p_a$",
          "l_ts": r"test prompt length $l_{ts}$", "l_tr": r"train prompt length $l_{tr}$",
          "kappa_a_test": r"test outlier magnitude $\kappa'_a$", "kappa_a": r"train outlier magnitude $\kappa_a$",
          "K": "irrelevant scale $K$", "K_test": "test irrelevant scale $K'$", "beta": r"pattern norm $\beta$",
          "eta": r"SGD step $\eta$", "batch": "batch $B$", "steps": "SGD steps $T$", "M1": "relevant patterns $M_1$",
          "delta": r"init $\delta$"}
METRIC_LABEL = {"test_err": "test 0-1 error (with outliers)", "test_err_clean": "test 0-1 error (clean)",
                "train_loss": "final train hinge loss", "attn_same": "Cor. 1 attention sum, same pattern",
                "attn_other": "Cor. 1 attention sum, other examples", "gate_outlier": "mean gate on outliers",
                "gate_clean": "mean gate on clean examples"}


def phase_boundary(base: dict, x_field: str, xs, y_field: str, ys, measured=None, metric: str | None = None):
    """A ``boundary(ax)`` for :func:`mamba_dynamics.core.plotting.draw_phase`: the theorems' region ``alpha <
    min(1, p_a l_tr / l_ts)`` (Mamba, Thm 2) or ``alpha < 1/2`` (LT, Thm 4) where the axes enter it, else None.
    ``base`` is the base config as a dict; ``measured`` (the heatmap) is not needed here."""
    model = base["model"]
    if model not in ("mamba", "lt"):  # the theorems cover Mamba and the linear Transformer only
        return None
    theory_fields = {"alpha", "p_a", "l_tr", "l_ts"}
    if not ({x_field, y_field} & theory_fields and ("alpha" in (x_field, y_field) or model == "mamba")):
        return None

    def margin(x, y):
        f = {k: base[k] for k in theory_fields}
        f[x_field], f[y_field] = x, y
        return theory.alpha_margin(model, f["alpha"], f["p_a"], f["l_tr"], f["l_ts"])

    label = (r"theory boundary $\alpha = \min(1, p_a l_{tr}/l_{ts})$ (Thm 2)" if model == "mamba"
             else r"theory boundary $\alpha = 1/2$ (Thm 4)")
    return lambda ax: draw_zero_contour(ax, xs, ys, margin, label)


#: Table 1 of arXiv 2510.00399: accuracy (%) of the 3-layer models for placements R, FQ, CQ.
PAPER_TABLE1 = {"mamba": (99.67, 99.73, 82.73), "lt": (94.12, 93.68, 93.96),
                "st": (99.26, 99.40, 99.28)}  # the softmax Transformer: App. B.1's Table 3 (from the reviews)


def plot_table1(acc: dict, etas, depths, title: str = ""):
    """Table 1 as grouped bars: one panel per model, placements R / FQ / CQ on the x axis, one bar per (depth,
    step size) with mean +- std over seeds (``acc[(model, layers, eta)]`` ``(n_seeds, 3)``, fractions), the
    paper's 3-layer accuracies as black stars."""
    import matplotlib.pyplot as plt

    models = list(dict.fromkeys(k[0] for k in acc))  # every model of the table, in its order
    ncols = len(models) if len(models) <= 3 else (2 if len(models) == 4 else 3)
    nrows = -(-len(models) // ncols)
    fig, grid = plt.subplots(nrows, ncols, figsize=(6.4 * ncols, 5.4 * nrows), squeeze=False)
    for ax in grid.ravel()[len(models):]:
        ax.set_visible(False)
    axes = [grid.ravel()[:len(models)]]
    combos = [(L, eta) for L in depths for eta in etas]
    width = 0.8 / max(len(combos), 1)
    cmap = {L: plt.get_cmap(name) for L, name in zip(depths, ("Greys", "Blues", "Oranges", "Greens", "Purples"))}
    x = np.arange(3)
    for ax, m in zip(axes[0], models):
        for j, (L, eta) in enumerate(combos):
            a = acc.get((m, L, eta))
            if a is None:
                continue
            shade = 0.45 + 0.45 * (etas.index(eta) / max(len(etas) - 1, 1))
            pos = x - 0.4 + width * (j + 0.5)
            label = f"{L} layer{'s' if L > 1 else ''}, eta={eta:g}"
            ok = ~np.isnan(a[:, 0])
            if not ok.any():  # every seed diverged: say so where the bars would be
                ax.bar(pos, 0, width, color=cmap[L](shade), label=label + " (diverged)")
                for p_ in pos:
                    ax.text(p_, 2, "diverged", rotation=90, ha="center", va="bottom", fontsize=6)
                continue
            mean, std = a[ok].mean(axis=0), a[ok].std(axis=0)
            if ok.sum() < len(ok):
                label += f" ({ok.sum()}/{len(ok)} seeds ran)"
            ax.bar(pos, 100 * mean, width, yerr=100 * std, capsize=2, color=cmap[L](shade), edgecolor="k",
                   linewidth=0.4, label=label)
        if m in PAPER_TABLE1:
            ax.plot(x, PAPER_TABLE1[m], "k*", ms=13, label="paper (3 layers)" + (", App. B.1" if m == "st" else ""),
                    zorder=5)
        ax.set_xticks(x, ["R (random)", "FQ (far from query)", "CQ (close to query)"])
        ax.set_ylabel("test accuracy (%)")
        ax.set_ylim(0, 105)
        ax.axhline(50, color="0.5", lw=0.8, ls=":")
        ax.set_title(MODEL_LABEL[m] + ("" if m in PAPER_TABLE1 else " (not in the paper)"))
        ax.grid(axis="y", alpha=0.3)
        ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.1), ncol=3)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig


def plot_stack_run(result) -> "plt.Figure":
    """A stack's run (:func:`mamba_dynamics.outliers.train.train`: ``layers > 1``, or the softmax Transformer at any
    depth): test errors, and per block the Cor. 1 attention sums, the Cor. 2 gate means (for softmax attention the
    query's mean weight on clean and outlier examples, and its mass on clean same-pattern ones) and the residual
    stream's growth, against the SGD step."""
    cfg, h = result.config, result.history
    steps = h["step"]
    L = cfg.layers
    colors = plt.get_cmap("viridis")(np.linspace(0.1, 0.85, L))
    fig, axes = plt.subplots(1, 4, figsize=(17, 3.9))
    ax = axes[0]
    ax.plot(steps, h["test_err_clean"], color="tab:green", label="clean prompts (alpha = 0)")
    ax.plot(steps, h["test_err"], color="tab:red", label=f"outliers (alpha = {cfg.alpha}, {cfg.placement})")
    ax.set_ylabel("test 0-1 error")
    ax.set_ylim(-0.02, 1.02)
    ax.set_title("test error")
    for k in range(L):
        axes[1].plot(steps, h["attn_same_blocks"][:, k], color=colors[k], label=f"block {k + 1}, same pattern")
        axes[1].plot(steps, h["attn_other_blocks"][:, k], color=colors[k], ls="--", label=f"block {k + 1}, other")
        if cfg.model == "st":
            axes[2].semilogy(steps, h["weight_same_blocks"][:, k], color=colors[k], ls=":",
                             label=f"block {k + 1}, total on clean same-pattern")
        if cfg.gated or cfg.model == "st":
            axes[2].semilogy(steps, h["gate_clean_blocks"][:, k], color=colors[k], label=f"block {k + 1}, clean")
            axes[2].semilogy(steps, h["gate_outlier_blocks"][:, k], color=colors[k], ls="--",
                             label=f"block {k + 1}, outlier")
        axes[3].plot(steps, h["stream_norm_blocks"][:, k], color=colors[k], label=f"into block {k + 1}")
    axes[1].set_ylabel("sum of scores x~_i^T W_B^T W_C x~_q")
    axes[1].set_title("Cor. 1 attention sums per block")
    if cfg.model == "st":
        axes[2].set_ylabel("softmax weight of an example (query's row)")
        axes[2].set_title("attention weights per block")
    else:
        axes[2].set_ylabel("mean gate G_i (query's view)")
        axes[2].set_title("Cor. 2 gates per block" if cfg.gated else "no gate (linear Transformer)")
    axes[3].set_ylabel("||stream at query|| / ||prompt query||")
    axes[3].set_title(f"residual stream growth (norm {cfg.norm})")
    for a in axes:
        a.set_xlabel("SGD step")
        a.grid(alpha=0.3)
        if a.get_legend_handles_labels()[0]:
            a.legend(fontsize=7)
    fig.suptitle(f"{L}-block {cfg.model}, p_a={cfg.p_a}, eta={cfg.eta}, seed {cfg.seed} ({result.status})", fontsize=10)
    fig.tight_layout()
    return fig


def plot_gate_family(alphas, res: dict, rules, base, seeds, gate_tau: float = 16.0,
                     decay: float = 1.0 - 2.0 ** -5) -> "plt.Figure":
    """The gated-mixer comparison (:func:`~mamba_dynamics.outliers.experiments.gate_family`): top row, Fig. 2 with
    every mixer (one panel per label rule, mean +- std over seeds, Thm 2's threshold); bottom row, Table 1's
    placements at one layer (grouped bars), Cor. 2's outlier / clean gate ratio per mixer (log scale; 1 = no
    suppression), and the clean gate by rank normalised to rank 1 (Cor. 2's ``2^-(k-1)`` shape dashed).  ``gate_tau``,
    ``decay``: the gated-retention / GLA exponent and RetNet's decay the mixers were trained with."""
    import matplotlib.pyplot as plt

    models = list(res["errors"])
    fig = plt.figure(figsize=(16, 9.5))
    grid = fig.add_gridspec(2, max(3, len(rules)))
    for j, rule in enumerate(rules):
        ax = fig.add_subplot(grid[0, j])
        for m in models:
            band(ax, alphas, res["errors"][m][rule], MODEL_COLOR[m], MODEL_LABEL[m], floor=0.0,
                 ls="-" if m in ("mamba", "mamba2") else ("--" if m in ("gret", "retnet", "gla") else ":"))
        ax.axvline(theory.alpha_max_mamba(base.p_a, base.l_tr, base.l_ts), color=MODEL_COLOR["mamba"], ls="--",
                   lw=1, label=r"Thm 2 (Mamba): $\alpha = \min(1, p_a l_{tr}/l_{ts})$")
        ax.set_xlabel(r"test outlier fraction $\alpha$")
        ax.set_ylabel("test 0-1 error")
        ax.set_ylim(-0.02, 0.7)
        ax.set_title(f"Fig. 2 with every mixer: {RULE_LABEL[rule]}")
        ax.grid(alpha=0.3)
        if j == 0:
            ax.legend(fontsize=7, loc="upper left")
    ax = fig.add_subplot(grid[1, 0])
    width = 0.8 / len(models)
    x = np.arange(3)
    for j, m in enumerate(models):
        a = res["placements"][m]
        ok = ~np.isnan(a[:, 0])
        mean = a[ok].mean(axis=0) if ok.any() else np.zeros(3)
        std = a[ok].std(axis=0) if ok.any() else np.zeros(3)
        ax.bar(x - 0.4 + width * (j + 0.5), 100 * mean, width, yerr=100 * std, capsize=2, color=MODEL_COLOR[m],
               edgecolor="k", linewidth=0.4, label=MODEL_LABEL[m])
    pc = res["placement_config"]
    ax.set_xticks(x, ["R (random)", "FQ (far from query)", "CQ (close to query)"])
    ax.set_ylabel("test accuracy (%)")
    ax.set_ylim(0, 104)
    ax.axhline(50, color="0.5", lw=0.8, ls=":")
    ax.legend(fontsize=6, ncol=4, loc="lower center")
    ax.set_title(f"Table 1's placements, one layer (p_a={pc.p_a}, alpha={pc.alpha})")
    ax.grid(axis="y", alpha=0.3)
    ax = fig.add_subplot(grid[1, 1])
    gated = [m for m in models if m not in ("lt",)]
    ratio = [res["gates"][m]["outlier"] / res["gates"][m]["clean"] for m in gated]
    pos = np.arange(len(gated))
    ax.bar(pos, [np.nanmean(r) for r in ratio], yerr=[np.nanstd(r) for r in ratio], capsize=3,
           color=[MODEL_COLOR[m] for m in gated], edgecolor="k", linewidth=0.4)
    for p_, r in zip(pos, ratio):
        ax.plot(np.full(len(r), p_), r, "k.", ms=4)
    ax.axhline(1.0, color="0.4", ls=":", lw=1, label="1: outliers weighed as clean examples")
    ax.set_yscale("log")
    ax.set_xticks(pos, [MODEL_LABEL[m].replace(" (", "\n(") for m in gated], fontsize=7, rotation=30,
                  ha="right")
    ax.set_ylabel("mean gate on outliers / on clean examples")
    ax.set_title("Cor. 2(i): outlier suppression (end of the Fig. 2 runs"
                 + (";\nST: its softmax weights)" if "st" in gated else ")"))
    ax.legend(fontsize=7)
    ax = fig.add_subplot(grid[1, 2])
    for m in gated:
        r = res["gates"][m]["by_rank"]
        r = r / r[:, :1]
        k = np.arange(1, r.shape[1] + 1)
        seen = ~np.all(np.isnan(r), axis=0)  # ranks no prompt reached (short runs, few clean examples) left out
        r, k = r[:, seen], k[seen]
        band(ax, k, r, MODEL_COLOR[m], MODEL_LABEL[m], floor=1e-12)
    k = np.arange(1, base.l_ts + 1)
    ax.plot(k, [theory.clean_gate_profile(int(i)) for i in k], "k--", lw=1, label=r"Cor. 2(ii) shape $2^{-(k-1)}$")
    ax.set_yscale("log")
    ax.set_ylim(1e-6, 3)
    ax.set_xlabel("k (rank among clean examples, from the query)")
    ax.set_ylabel("mean gate, relative to rank 1")
    ax.set_title("Cor. 2(ii): clean gate by rank")
    ax.legend(fontsize=6, ncol=2)
    fig.suptitle(f"The gated-mixer family of App. E.6 on the outlier task (one layer; d={base.d}, M1={base.M1}, "
                 f"p_a={base.p_a}, l_tr={base.l_tr}, preset {base.preset}, eta={base.eta}, {base.steps} steps, "
                 f"seeds {seeds[0]}..{seeds[-1]}; gret/GLA tau={gate_tau:g}, RetNet gamma={decay:g})",
                 fontsize=9)
    fig.tight_layout()
    return fig
