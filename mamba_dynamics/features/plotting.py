"""Figures of the feature-filtering simulator (arXiv 2602.12499): one run, alignment curves, scaling fits.

Every function returns a matplotlib ``Figure`` (Agg backend); save with
:func:`mamba_dynamics.core.plotting.save_figure`.  :func:`phase_boundary` draws the predicted scaling on phase diagrams.
"""

from __future__ import annotations

import numpy as np

from ..core.plotting import band, draw_level_contours, plot_power_laws, plt
from . import theory

MODEL_LABEL = {"ssm": "selective SSM + MLP", "lt-mlp": "linear attention + MLP", "st-mlp": "softmax attention + MLP"}
MODEL_COLOR = {"ssm": "tab:blue", "lt-mlp": "tab:orange", "st-mlp": "tab:green"}
REGIME_LABEL = {"majority": "majority voting", "locality": "local concentration"}


def _setting(cfg) -> str:
    reading = (f"Eq. 5-6 model, W^(0)={cfg.wbc0:g} I ({cfg.wbc}), gate {cfg.gate}" if cfg.content else
               f"gate-only reading, gate {cfg.gate}") if cfg.gated else (
        f"{'window ' + str(cfg.window) if cfg.window else 'global'} attention, "
        f"{'Eq. 6' if cfg.content else 'half/half'} head")
    base = f"{reading}; d={cfg.d}, L={cfg.L}, tau={cfg.tau}, m={cfg.m}, N={cfg.n_train}, eta={cfg.eta}"
    if cfg.regime == "majority":
        return f"{base}, alpha_r={cfg.alpha_r}, alpha_c={cfg.alpha_c}"
    return f"{base}, Delta L+={cfg.gap_near}, Delta L-={cfg.gap_far}"


def plot_features_run(result) -> "plt.Figure":
    """Four panels of one run: loss and errors; gating (or attention) alignment with o_+, o_- and the irrelevant
    patterns; gates and the relevant share of the outputs; MLP neuron alignment."""
    cfg, h = result.config, result.history
    step = h["step"]
    fig, axes = plt.subplots(2, 2, figsize=(12, 8.4))
    fig.suptitle(f"{MODEL_LABEL[cfg.model]} on {REGIME_LABEL[cfg.regime]} data, seed={cfg.seed}  [{result.status}]\n"
                 f"{_setting(cfg)}", fontsize=10)
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
    if cfg.model == "st-mlp":
        ax.plot(step, h["attn_rel"], label="attention mass on relevant tokens", color="tab:blue")
        ax.plot(step, h["attn_near"], label=f"attention mass within Delta L+ = {cfg.gap_near} of the token",
                color="tab:purple", ls="--")
    ax.plot(step, h["rel_share"], label="share of output energy on o_+, o_-", color="k")
    what = "attention" if cfg.model == "st-mlp" else "gates"
    ax.set(xlabel="GD step", ylabel="value", ylim=(-0.02, 1.02), title=f"{what} and what the outputs carry")
    ax.legend(fontsize=8)
    ax = axes[1, 1]
    ax.plot(step, h["mlp_pos"], label="mean cos(v_i, o_+), a_i > 0", color="tab:blue")
    ax.plot(step, h["mlp_neg"], label="mean cos(v_i, o_-), a_i < 0", color="tab:green")
    ax.plot(step, h["mlp_irr"], label="mean |cos(v_i, o_j)|, irrelevant j", color="tab:red")
    if "lucky_frac" in h:
        ax.plot(step, h["lucky_frac"], label="fraction of lucky neurons (Fig. 5)", color="k", ls="--")
    ax.set(xlabel="GD step", ylabel="cosine / fraction", title="MLP neuron alignment (rows v_i = W_O(i,:))")
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
        ax.set(xlabel="GD step", ylabel="cosine", ylim=(-1, 1))
        # the settings on a line of their own in a smaller font: at full size they ran into the next panel's
        ax.set_title(f"{REGIME_LABEL[regime]}: gating alignment (SSM)\n{settings[regime]}", fontsize=9)
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


def plot_scaling(panels: list) -> "plt.Figure":
    """Iterations-to-target vs the varied quantity on log-log axes, with the fitted and the predicted slope of the
    first curve of each panel (:func:`mamba_dynamics.core.plotting.plot_power_laws` with this family's colours).

    Each panel: dict ``title``, ``xlabel``, ``predicted`` (slope), ``curves``: name -> ``(x (k,), T (seeds, k))``
    (NaN = not reached)."""
    return plot_power_laws(panels, MODEL_COLOR, MODEL_LABEL, "iterations to target test error")


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


def sign_boundary(base: dict, x_field: str, xs, y_field: str, ys):
    """A ``boundary(ax)`` for the sign of the irrelevant alignment over (gap_near, gap_far): the zero line of the
    derived first-order push (:func:`mamba_dynamics.features.theory.expected_irrelevant_push` at the base ``L``:
    above it the gate closes on irrelevant tokens, Lemma 4.2's sign) and Lemma 4.2's own boundary, where its
    bracket ``(1/2)^(gap_near - 2) - (1/2)^(gap_far - 2)`` is 0 (the diagonal: it predicts a negative push
    everywhere in the domain)."""
    if {x_field, y_field} != {"gap_near", "gap_far"}:
        return None
    L = base["L"]

    def at(X, Y, fn):
        near, far = (X, Y) if x_field == "gap_near" else (Y, X)
        return fn(near, far)

    pushes: dict = {}  # the contour asks for every point of a fine grid: each pair of distances once

    def push(a, b):
        near, far = int(round(a)), int(round(b))
        if (near, far) not in pushes:
            valid = 1 <= near < far and near + far + 2 <= L  # the config's domain
            pushes[near, far] = theory.expected_irrelevant_push(near, far, L) if valid else np.nan
        return pushes[near, far]

    def derived(X, Y):
        return at(X, Y, np.vectorize(push))

    def lemma(X, Y):
        return at(X, Y, lambda n, f: theory.lemma42_bracket(n, f))

    def draw(ax):
        from ..core.plotting import draw_zero_contour

        draw_zero_contour(ax, xs, ys, lemma, "Lemma 4.2: its bracket = 0 (negative push above)", color="orange")
        draw_zero_contour(ax, xs, ys, derived, f"derived from Eq. 5 (L = {L}): first-order push = 0 (negative "
                                              f"above)", color="deepskyblue")

    return draw


def phase_boundary(base: dict, x_field: str, xs, y_field: str, ys, measured=None, metric: str | None = None):
    """A ``boundary(ax)`` for a phase diagram of ``metric``: the sign laws of the irrelevant alignment over
    (gap_near, gap_far) for ``w_irr`` / ``cos_irr`` (:func:`sign_boundary`); for iterations to target (``metric``
    ``iters_to_target`` or not given), level lines of the theorems' ``T_pred = C L^p signal^s / eta`` (``p``, ``s``
    of :mod:`theory`) with ``C`` fitted to the measured cells (geometric mean of measured / predicted), at 10, 30,
    100, 300, 1000 iterations.  None if nothing can be drawn."""
    regime = base["regime"]
    if metric in ("w_irr", "cos_irr") and regime == "locality":
        return sign_boundary(base, x_field, xs, y_field, ys)
    if measured is None or metric not in (None, "iters_to_target"):
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
    label = (f"theory: T = C L^{p:g} signal^{theory.SIGNAL_POWER[regime]:g} / eta, C = {C:.3g} fitted (labels: "
             f"iterations)")
    return lambda ax: draw_level_contours(ax, xs, ys, lambda x, y: predicted(x, y, C), (10, 30, 100, 300, 1000),
                                          label)


# ------------------------------------------------------------------------------------------------------------
# the paper's further experiments (experiments.STUDIES)
# ------------------------------------------------------------------------------------------------------------

_COLORS = ("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown", "tab:gray", "tab:olive",
           "tab:cyan")


def _by_label(runs: list) -> dict:
    """``label -> (step (n_log,), {key: (seeds, n_log)})`` from :func:`experiments.run_study` records."""
    out = {}
    for r in runs:
        out.setdefault(r["label"], []).append(r)
    stacked = {}
    for label, rs in out.items():
        keys = [k for k in rs[0] if isinstance(rs[0][k], np.ndarray) and rs[0][k].ndim >= 1 and k != "step"]
        stacked[label] = (rs[0]["step"], {k: np.stack([r[k] for r in rs]) for k in keys})
    return stacked


def _curves(ax, groups: dict, key: str, labels=None, ylabel="", log=False, title=""):
    for i, label in enumerate(labels or groups):
        step, vals = groups[label]
        band(ax, step, vals[key], _COLORS[i % len(_COLORS)], label, marker="")
    ax.set_xlabel("GD step")
    ax.set_ylabel(ylabel)
    if log:
        ax.set_yscale("symlog", linthresh=1e-2)
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)


def plot_gating_removed(runs: list, setting: str) -> "plt.Figure":
    """Figs. 11-12: test error with the gate learned vs fixed (w = 0), majority voting and local concentration."""
    g = _by_label(runs)
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.2))
    for ax, regime in zip(axes, ("majority", "locality")):
        labels = [l for l in g if l.startswith(regime)]
        _curves(ax, g, "test_err", labels, "test 0-1 error", title=f"{REGIME_LABEL[regime]}: gate learned vs fixed")
        ax.axhline(0.5, color="gray", ls=":", lw=1)
    fig.suptitle("Figs. 11-12 reproduction (paper model, Eqs. 5-6): removing the gate (w_Delta fixed at 0, every "
                 f"gate 1/2); mean +- std over seeds\n{setting}", fontsize=10)
    fig.tight_layout()
    return fig


def plot_wo_alignment(runs: list, setting: str) -> "plt.Figure":
    """Fig. 5: alignment of the rows of W_O with the relevant pattern of their output sign (learned-gate runs)."""
    g = _by_label(runs)
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    for regime, ls in (("majority", "-"), ("locality", "--")):
        step, vals = g[f"{regime} learned"]
        for key, color, what in (("mlp_pos", "tab:blue", "mean cos(W_O(i,:), o_+), v_i > 0"),
                                 ("mlp_neg", "tab:red", "mean cos(W_O(i,:), o_-), v_i < 0")):
            band(axes[0], step, vals[key], color, f"{REGIME_LABEL[regime]}: {what}", marker="", ls=ls)
        for key, color, what in (("mlp_pos_max", "tab:blue", "max over v_i > 0 of cos with o_+"),
                                 ("mlp_neg_max", "tab:red", "max over v_i < 0 of cos with o_-")):
            band(axes[1], step, vals[key], color, f"{REGIME_LABEL[regime]}: {what}", marker="", ls=ls)
        band(axes[2], step, vals["lucky_frac"], "tab:green" if regime == "majority" else "tab:purple",
             REGIME_LABEL[regime], marker="", ls=ls)
    for ax, title, ylabel in ((axes[0], "mean alignment of W_O rows", "cosine"),
                              (axes[1], "best-aligned neuron", "cosine"),
                              (axes[2], "lucky neurons (row's largest |cos| is its own relevant pattern)",
                               "fraction of neurons")):
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("GD step")
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle(f"Fig. 5 reproduction: W_O alignment during training (paper model, gate learned)\n{setting}",
                 fontsize=10)
    fig.tight_layout()
    return fig


def plot_locality_models(runs: list, setting: str) -> "plt.Figure":
    """Fig. 6: local concentration, selective SSM vs global vs windowed attention (linear and softmax), same head."""
    g = _by_label(runs)
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.2))
    _curves(axes[0], g, "test_err", None, "test 0-1 error", title="test error")
    axes[0].axhline(0.5, color="gray", ls=":", lw=1)
    _curves(axes[1], g, "train_err", None, "training 0-1 error", title="training error")
    fig.suptitle(f"Fig. 6 reproduction: local concentration, Mamba vs global vs local attention, linear and softmax "
                 f"(same Eq. 6 head); mean +- std over seeds\n{setting}", fontsize=10)
    fig.tight_layout()
    return fig


def plot_dims(runs: list, setting: str) -> "plt.Figure":
    """Figs. 13-18: majority voting at d in {32, 64, 128} for several alpha_c: test error and gate alignment."""
    g = _by_label(runs)
    ds = sorted({int(l.split()[0][2:]) for l in g})
    fig, axes = plt.subplots(3, len(ds), figsize=(5 * len(ds), 10.5), squeeze=False)
    for j, d in enumerate(ds):
        labels = [l for l in g if l.startswith(f"d={d} ")]
        _curves(axes[0, j], g, "test_err", labels, "test 0-1 error", title=f"d = {d}: test error")
        for i, label in enumerate(labels):
            step, vals = g[label]
            c = _COLORS[i % len(_COLORS)]
            band(axes[1, j], step, vals["cos_pos"], c, f"{label}: cos(w, o_+)", marker="")
            band(axes[1, j], step, vals["cos_neg"], c, f"{label}: cos(w, o_-)", marker="", ls="--")
            band(axes[2, j], step, vals["cos_irr"], c, f"{label}: mean cos(w, o_j), irrelevant", marker="")
        for ax, title in ((axes[1, j], f"d = {d}: relevant alignment"), (axes[2, j], f"d = {d}: irrelevant alignment")):
            ax.set_title(title, fontsize=10)
            ax.set_xlabel("GD step")
            ax.set_ylabel("cosine")
            ax.grid(alpha=0.3)
            ax.legend(fontsize=6)
    fig.suptitle(f"Figs. 13-18 reproduction: larger d and varying alpha_c (majority voting, paper model); mean +- std "
                 f"over seeds\n{setting}", fontsize=10)
    fig.tight_layout()
    return fig


def plot_sensitivity(rows: list) -> "plt.Figure":
    """Final test error and gate alignments against the step size and ``W^(0)`` scale, per regime: ``rows`` of
    ``{"regime", "eta", "wbc0", "test_err", "cos_pos", "cos_neg", "cos_irr"}`` (means over seeds)."""
    fig, axes = plt.subplots(2, 3, figsize=(15, 8))
    for i, regime in enumerate(("majority", "locality")):
        sel = [r for r in rows if r["regime"] == regime]
        etas = sorted({r["eta"] for r in sel})
        scales = sorted({r["wbc0"] for r in sel})
        for j, (key, title) in enumerate((("test_err", "final test error"), ("cos_pos", "cos(w, o_+)"),
                                          ("cos_irr", "mean cos(w, o_j), irrelevant"))):
            M = np.full((len(scales), len(etas)), np.nan)
            for r in sel:
                M[scales.index(r["wbc0"]), etas.index(r["eta"])] = r[key]
            ax = axes[i, j]
            im = ax.imshow(M, origin="lower", cmap="magma_r" if key == "test_err" else "coolwarm",
                           vmin=0 if key == "test_err" else -1, vmax=0.5 if key == "test_err" else 1, aspect="auto")
            for (a, b), v in np.ndenumerate(M):
                ax.text(b, a, f"{v:.3f}" if key == "test_err" else f"{v:+.2f}", ha="center", va="center", fontsize=9,
                        color="white" if (key == "test_err" and v > 0.3) else "black")
            ax.set_xticks(range(len(etas)), [f"{e:g}" for e in etas])
            ax.set_yticks(range(len(scales)), [f"{s:g}" for s in scales])
            ax.set_xlabel("step size eta")
            ax.set_ylabel("W^(0) scale delta (W_B = W_C = delta I)")
            ax.set_title(f"{REGIME_LABEL[regime]}: {title}", fontsize=10)
            fig.colorbar(im, ax=ax, fraction=0.046)
    fig.suptitle("Sensitivity to the choices the paper leaves open (paper model, final values)", fontsize=11)
    fig.tight_layout()
    return fig


def plot_gaps(runs: list, setting: str) -> "plt.Figure":
    """Local concentration at several pair distances: test error (gate learned vs fixed) and the gate's alignment
    with relevant and irrelevant directions (Lemma 4.2: irrelevant strongly negative, relevant near zero)."""
    g = _by_label(runs)
    pairs = list(dict.fromkeys(" ".join(l.split()[:2]) for l in g))
    fig, axes = plt.subplots(2, len(pairs), figsize=(5.2 * len(pairs), 8), squeeze=False)
    for j, pair in enumerate(pairs):
        a, b = (int(v) for v in pair.split()[1].split(","))
        _curves(axes[0, j], g, "test_err", [f"{pair} learned", f"{pair} fixed"], "test 0-1 error",
                title=f"Delta L+ = {a}, Delta L- = {b} (delta = {0.5**a - 0.5**b:.3f}): test error")
        axes[0, j].axhline(0.5, color="gray", ls=":", lw=1)
        step, vals = g[f"{pair} learned"]
        for key, color, label in (("w_pos", "tab:blue", "<w, o_+>"), ("w_neg", "tab:red", "<w, o_->"),
                                  ("w_irr", "tab:gray", "mean <w, o_j>, irrelevant")):
            band(axes[1, j], step, vals[key], color, label, marker="")
        axes[1, j].axhline(0, color="k", lw=0.6)
        axes[1, j].set(xlabel="GD step", ylabel="inner product", title="gate alignment (gate learned)")
        axes[1, j].grid(alpha=0.3)
        axes[1, j].legend(fontsize=8)
    fig.suptitle(f"Local concentration at several pair distances (paper model); mean +- std over seeds\n{setting}",
                 fontsize=10)
    fig.tight_layout()
    return fig


def plot_features_stack_run(result):
    """A deep stack's run (:func:`mamba_dynamics.features.train.train`, ``layers > 1``): errors, each block's
    gating alignment with the relevant plane and with the irrelevant patterns, and the head's alignment, against
    the step."""
    import matplotlib.pyplot as plt

    cfg, h = result.config, result.history
    steps, L = h["step"], cfg.layers
    colors = plt.get_cmap("viridis")(np.linspace(0.1, 0.85, L))
    fig, axes = plt.subplots(1, 3, figsize=(15, 4 + 0.22 * L))
    axes[0].plot(steps, h["train_err"], label="train")
    axes[0].plot(steps, h["test_err"], label="test")
    axes[0].set_ylabel("0-1 error")
    axes[0].set_title("error")
    for k in range(L):
        axes[1].plot(steps, h["cos_rel_blocks"][:, k], color=colors[k], label=f"block {k + 1}, relevant plane")
        axes[1].plot(steps, h["cos_irr_blocks"][:, k], color=colors[k], ls="--", label=f"block {k + 1}, irrelevant")
    from .experiments import PAPER_TABLE3

    axes[1].axhline(PAPER_TABLE3["w_rel"], color="k", ls=":", lw=1, label="paper Table 3: cos(w, relevant) 0.53")
    axes[1].set_ylabel("cosine of w_k")
    axes[1].set_title("gating alignment per block (Table 3)")
    axes[2].plot(steps, h["mlp_rel"], color="k", label="W_O rows: relevant plane (mean)")
    axes[2].plot(steps, h["mlp_pos"], color="tab:red", label="W_O rows (v > 0): o_+")
    axes[2].plot(steps, h["mlp_neg"], color="tab:blue", label="W_O rows (v < 0): o_-")
    axes[2].plot(steps, h["mlp_irr"], color="0.5", ls="--", label="W_O rows: |cos| irrelevant (mean)")
    axes[2].axhline(PAPER_TABLE3["W_O_rel"], color="k", ls=":", lw=1, label="paper Table 3: cos(W_O, relevant) 0.73")
    axes[2].set_ylabel("cosine")
    axes[2].set_title("head alignment")
    for a in axes:
        a.set_xlabel("GD step")
        a.grid(alpha=0.3)
        a.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2)
    fig.suptitle(f"{L}-block {cfg.model}, {cfg.regime}, d={cfg.d}, L={cfg.L}, eta={cfg.eta}, seed {cfg.seed} "
                 f"({result.status})", fontsize=10)
    fig.tight_layout()
    return fig


def plot_table3(res: dict, title: str = ""):
    """Table 3 as grouped bars per (d, steps): cos(W_O, relevant plane), each block's cos(w_k, relevant plane) and
    the mean cosine with the irrelevant patterns (mean +- std over seeds), the paper's values as dashed lines."""
    import matplotlib.pyplot as plt

    from .experiments import PAPER_TABLE3

    combos = sorted(res)
    fig, ax = plt.subplots(figsize=(max(8, 2.6 * len(combos)), 5.2))
    L = len(res[combos[0]][0]["cos_rel_blocks"])
    labels = ["W_O, relevant"] + [f"w_{k + 1}, relevant" for k in range(L)] + ["w (all blocks), irrelevant"]
    colors = ["k"] + list(plt.get_cmap("viridis")(np.linspace(0.1, 0.85, L))) + ["0.6"]
    width = 0.8 / len(labels)
    for j, (d, T) in enumerate(combos):
        cells = res[(d, T)]
        vals = [np.array([float(c["mlp_rel"]) for c in cells])]
        rel = np.stack([c["cos_rel_blocks"] for c in cells])
        vals += [rel[:, k] for k in range(L)]
        vals.append(np.stack([c["cos_irr_blocks"] for c in cells]).mean(axis=1))
        for i, v in enumerate(vals):
            ax.bar(j - 0.4 + width * (i + 0.5), v.mean(), width, yerr=v.std(), capsize=2, color=colors[i],
                   edgecolor="k", linewidth=0.3, label=labels[i] if j == 0 else None)
    ax.axhline(PAPER_TABLE3["W_O_rel"], color="k", ls="--", lw=1, label="paper: cos(W_O, relevant) 0.73")
    ax.axhline(PAPER_TABLE3["w_rel"], color="tab:green", ls="--", lw=1, label="paper: cos(w, relevant) 0.53")
    ax.axhline(0, color="0.4", lw=0.8)
    ax.set_xticks(range(len(combos)), [f"d={d}, {T} GD steps\n(test err {np.mean([float(c['test_err']) for c in res[(d, T)]]):.2f})"
                                       for d, T in combos])
    ax.set_ylabel("cosine")
    ax.set_ylim(-0.4, 1.1)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=7, ncol=5, loc="upper center", bbox_to_anchor=(0.5, -0.2))
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return fig


def _pair_of(label: str) -> tuple:
    a, b = label.split()[1].split(",")
    return int(a), int(b)


def plot_fixed_sigma(runs: list, setting: str) -> "plt.Figure":
    """Gating removed at every fixed value: final test error against the fixed gate ``sigma`` for each pair distance
    (dots: seeds), the learned gate's final error as a dashed line, and the derived label signal of a uniform fixed
    gate (:func:`mamba_dynamics.features.theory.uniform_gate_signal`, thin lines, right axis) with its maximum
    (vertical line)."""
    pairs = sorted({_pair_of(r["label"]) for r in runs})
    fig, ax = plt.subplots(figsize=(11, 6.2))
    twin = ax.twinx()
    for k, pair in enumerate(pairs):
        color = _COLORS[k % len(_COLORS)]
        fixed = [r for r in runs if _pair_of(r["label"]) == pair and "fixed" in r["label"]]
        sig = sorted({r["config"]["gate_sigma"] for r in fixed})
        errs = np.array([[r["test_err"][-1] for r in fixed if r["config"]["gate_sigma"] == s] for s in sig])
        ax.plot(sig, errs.mean(1), "o-", color=color, label=f"(ΔL+, ΔL−) = {pair}: gate fixed at σ")
        for j, s in enumerate(sig):
            ax.plot([s] * errs.shape[1], errs[j], ".", color=color, alpha=0.4)
        learned = [r["test_err"][-1] for r in runs if _pair_of(r["label"]) == pair and "learned" in r["label"]]
        if learned:
            ax.axhline(np.mean(learned), color=color, ls="--", lw=1.2, label=f"{pair}: gate learned")
        best = theory.best_uniform_gate(*pair)
        ax.axvline(best, color=color, ls=":", lw=1.5, label=f"{pair}: largest pair signal at σ = {best:.2f} (derived)")
        grid = np.linspace(0.02, 0.98, 97)
        sig = theory.uniform_gate_signal(grid, *pair)
        twin.plot(grid, sig / sig.max(), color=color, lw=0.8, alpha=0.5)
    twin.set(ylabel="derived signal σ[(1−σ)^ΔL+ − (1−σ)^ΔL−] / max (thin)", ylim=(0, 1.2))
    ax.axhline(0.5, color="0.5", ls=":", lw=1)
    ax.set(xlabel="fixed gate σ (every token written with σ, the state kept with 1 − σ)",
           ylabel="final test 0-1 error", ylim=(0, 0.6))
    ax.set_title("Local concentration with the gate removed at each fixed value, and learned\n" + setting, fontsize=9)
    ax.legend(fontsize=7, ncol=3, loc="upper center", bbox_to_anchor=(0.5, -0.13), frameon=False)
    fig.tight_layout()
    return fig


def plot_trajectory(runs: list, setting: str) -> "plt.Figure":
    """Why the learned gate fails: over long runs, the mean gate on irrelevant tokens (left) against the derived
    optimum ``sigma*`` and the test error (right), per pair distance (thin lines: seeds)."""
    pairs = sorted({_pair_of(r["label"]) for r in runs})
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    for k, pair in enumerate(pairs):
        color = _COLORS[k % len(_COLORS)]
        mine = [r for r in runs if _pair_of(r["label"]) == pair]
        for j, r in enumerate(mine):
            lab = f"(ΔL+, ΔL−) = {pair}" if j == 0 else None
            axes[0].plot(r["step"], r["gate_irr"], color=color, lw=1, label=lab)
            axes[1].plot(r["step"], r["test_err"], color=color, lw=1, label=lab)
        axes[0].axhline(theory.sigma_star(*pair), color=color, ls=":", lw=1.8,
                        label=f"{pair}: derived optimum σ* = {theory.sigma_star(*pair):.2f}")
    axes[0].axhline(0.5, color="0.5", ls="--", lw=0.8, label="initial gate 1/2 (w = 0)")
    axes[0].set(xlabel="GD step", ylabel="mean gate σ(w^T x) on irrelevant tokens", ylim=(0, 1.02))
    axes[1].set(xlabel="GD step", ylabel="test 0-1 error", ylim=(0, 0.6))
    axes[1].axhline(0.5, color="0.5", ls=":", lw=0.8)
    for ax in axes:
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
    fig.suptitle("The learned gate in local concentration, 4x longer runs\n" + setting, fontsize=9)
    fig.tight_layout()
    return fig


def plot_paper_protocol(runs: list, setting: str) -> "plt.Figure":
    """The paper's protocol: per model and pair distance, the share of trials that succeed (test hinge loss below
    1e-3) and the final test error of every trial (dots) with its mean, the mean over successes marked where there
    are any."""
    from .experiments import protocol_summary

    summ = protocol_summary(runs)
    labels = list(summ)
    fig, axes = plt.subplots(1, 2, figsize=(13, 5))
    x = np.arange(len(labels))
    axes[0].bar(x, [summ[k]["success_rate"] for k in labels], color="tab:green", alpha=0.8)
    for i, k in enumerate(labels):
        axes[0].text(i, summ[k]["success_rate"] + 0.02, f"{summ[k]['successes']}/{summ[k]['trials']}", ha="center",
                     fontsize=8)
    axes[0].set(ylabel="share of trials with test hinge loss < 1e-3", ylim=(0, 1.1),
                title="success rate (the paper averages over these only)")
    for i, k in enumerate(labels):
        errs = [r["test_err"][-1] for r in runs if r["label"] == k]
        axes[1].plot([i] * len(errs), errs, "k.", alpha=0.5)
        axes[1].bar(i, np.mean(errs), color="tab:blue", alpha=0.6)
        if summ[k]["successes"]:
            axes[1].plot(i, summ[k]["test_err_successes"], "r*", ms=10)
    axes[1].plot([], [], "r*", label="mean over successes")
    axes[1].axhline(0.5, color="0.5", ls=":", lw=1, label="chance")
    axes[1].set(ylabel="final test 0-1 error (bar: mean over every trial)", ylim=(0, 0.65),
                title="every trial")
    axes[1].legend(fontsize=8)
    for ax in axes:
        ax.set_xticks(x, [k.replace("gaps ", "(").replace(" ", ") ", 1) for k in labels], rotation=35, ha="right",
                      fontsize=8)
    fig.suptitle("Local concentration under the paper's protocol (d = 32, m = 50)\n" + setting, fontsize=9)
    fig.tight_layout()
    return fig


def study_figures(name: str, runs: list, setting: str, finals: dict) -> dict:
    """The figures of study ``name`` (:data:`mamba_dynamics.features.experiments.STUDIES`) by file stem:
    ``gating`` -> the gate removed (Figs. 11-12) and the W_O alignment (Fig. 5); ``models`` -> Fig. 6; ``gaps``,
    ``dims`` -> one figure each; ``sensitivity`` -> the eta x W^(0) grid of final values (from ``finals``,
    :func:`~mamba_dynamics.features.experiments.study_finals`)."""
    if name == "sensitivity":
        sens = [dict(regime=v["config"]["regime"], eta=v["config"]["eta"], wbc0=v["config"]["wbc0"],
                     **{k: v[k]["mean"] for k in ("test_err", "cos_pos", "cos_neg", "cos_irr")})
                for v in finals.values()]
        return {"sensitivity": plot_sensitivity(sens)}
    makers = {"gating": [("gating_removed", plot_gating_removed), ("fig5_wo_alignment", plot_wo_alignment)],
              "models": [("fig6_locality_models", plot_locality_models)],
              "gaps": [("locality_gaps", plot_gaps)], "dims": [("dims_alpha_c", plot_dims)],
              "fixed_sigma": [("fixed_sigma", plot_fixed_sigma)],
              "trajectory": [("gate_trajectory", plot_trajectory)],
              "paper_protocol": [("paper_protocol", plot_paper_protocol)]}.get(name, [])
    return {stem: make(runs, setting) for stem, make in makers}


#: the gates of 2510.00399 App. E.6 in the Eq. 5 mixer (``--gate-type``): colours and labels
GATE_COLOR = {"mamba": "tab:blue", "mamba2": "tab:cyan", "gret": "tab:purple", "retnet": "tab:brown",
              "gla": "tab:pink"}
GATE_LABEL = {"mamba": "Mamba (Eq. 5)", "mamba2": "Mamba-2 gate", "gret": "gated\nretention",
              "retnet": "RetNet\n(fixed decay)", "gla": "GLA\n(vector gate)"}


def plot_gate_family(res: dict, regimes, gate_types, setting: str) -> "plt.Figure":
    """The Eq. 5 model with every gate (:func:`~mamba_dynamics.features.experiments.gate_family`): per regime,
    the final test error (each seed a dot, the mean a bar), and the gate on relevant vs irrelevant tokens (``1 -
    lambda(t)``: how much a token resets the state; Mamba's ``sigma``) with ``cos(w, o_+)`` and ``cos(w, irr.)``."""
    fig, axes = plt.subplots(len(regimes), 2, figsize=(12, 4.2 * len(regimes)), squeeze=False)
    x = np.arange(len(gate_types))
    for row, regime in zip(axes, regimes):
        ax = row[0]
        for i, g in enumerate(gate_types):
            e = res[(regime, g)]["test_err"]
            ax.bar(i, e.mean(), color=GATE_COLOR[g], edgecolor="k", linewidth=0.4, alpha=0.8)
            ax.plot(np.full(len(e), i), e, "k.", ms=5)
            ax.text(i, e.mean() + 0.015, f"{e.mean():.3f}", ha="center", fontsize=8)
        ax.axhline(0.5, color="0.5", ls=":", lw=1, label="chance")
        ax.set_xticks(x, [GATE_LABEL[g] for g in gate_types], fontsize=8)
        ax.set_ylabel("final test 0-1 error")
        ax.set_ylim(0, 0.6)
        ax.set_title(f"{regime}: test error per gate (dots: seeds)")
        ax.legend(fontsize=8)
        ax = row[1]
        width = 0.2
        for j, (key, label, hatch) in enumerate((("gate_rel", "gate on relevant tokens", ""),
                                                 ("gate_irr", "gate on irrelevant tokens", "//"),
                                                 ("cos_pos", "cos(w, o_+)", ".."),
                                                 ("cos_irr", "cos(w, irrelevant), mean", "xx"))):  # GLA: mean w
            vals = [res[(regime, g)][key] for g in gate_types]
            ax.bar(x - 0.3 + width * j, [np.nanmean(v) for v in vals], width, yerr=[np.nanstd(v) for v in vals],
                   capsize=2, color=[GATE_COLOR[g] for g in gate_types], edgecolor="k", linewidth=0.4, hatch=hatch,
                   label=label)
        ax.axhline(0, color="k", lw=0.6)
        ax.set_xticks(x, [GATE_LABEL[g] for g in gate_types], fontsize=8)
        ax.set_ylabel("value at the end of training")
        ax.set_title(f"{regime}: the gate's reset 1 - lambda(t) and w's alignment")
        ax.legend(fontsize=7, ncol=2)
    fig.suptitle(setting, fontsize=9)
    fig.tight_layout()
    return fig
