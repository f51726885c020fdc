"""Power-law fits of measured scalings (iterations to a target against a quantity), shared by every family.

Glossary: ``T`` ``(seeds, k)`` = a measured quantity per seed at ``k`` values of ``x`` (NaN = not reached, a
censored run: left out of the fit and counted); ``slope`` = the fitted exponent ``p`` of ``T ~ C x^p``; ``lo``,
``hi`` = its confidence interval (t distribution, ``n - 2`` degrees of freedom).
"""

from __future__ import annotations

import numpy as np


def geometric_mean(T) -> np.ndarray:
    """Geometric mean over seeds (axis 0) ignoring NaN (not reached); NaN where every seed is NaN."""
    T = np.asarray(T, float)
    ok = np.isfinite(T) & (T > 0)
    logs = np.where(ok, np.log(np.where(ok, T, 1.0)), 0.0)
    n = ok.sum(axis=0)
    return np.where(n > 0, np.exp(logs.sum(axis=0) / np.maximum(n, 1)), np.nan)


def fit_slope_ci(x, y, level: float = 0.95) -> dict:
    """Least-squares power law ``y = e^icpt x^slope`` on the finite, positive points, with a ``level`` confidence
    interval of the slope from the t distribution (``n - 2`` degrees of freedom; NaN with fewer than 3 points):
    ``{"slope", "intercept", "lo", "hi", "n"}``.  ``x``, ``y``: arrays of one shape (e.g. ``(seeds, k)``)."""
    from scipy import stats

    x, y = np.asarray(x, float).ravel(), np.asarray(y, float).ravel()
    ok = np.isfinite(x) & np.isfinite(y) & (x > 0) & (y > 0)
    n = int(ok.sum())
    if n < 2 or np.ptp(np.log(x[ok])) == 0:
        return {"slope": float("nan"), "intercept": float("nan"), "lo": float("nan"), "hi": float("nan"), "n": n}
    lx, ly = np.log(x[ok]), np.log(y[ok])
    slope, icpt = np.polyfit(lx, ly, 1)
    lo = hi = float("nan")
    if n > 2:
        resid = ly - (slope * lx + icpt)
        se = np.sqrt(np.sum(resid**2) / (n - 2) / np.sum((lx - lx.mean()) ** 2))
        half = stats.t.ppf(0.5 + level / 2, n - 2) * se
        lo, hi = slope - half, slope + half
    return {"slope": float(slope), "intercept": float(icpt), "lo": float(lo), "hi": float(hi), "n": n}


def fit_per_seed_grid(x, T, level: float = 0.95) -> dict:
    """:func:`fit_slope_ci` of ``T`` ``(seeds, k)`` against ``x`` ``(k,)`` (every seed a point), plus
    ``not_reached`` (NaN entries)."""
    T = np.asarray(T, float)
    fit = fit_slope_ci(np.repeat(np.asarray(x, float)[None], len(T), 0), T, level)
    fit["not_reached"] = int(np.isnan(T).sum())
    return fit


def verdict(fit: dict, predicted: float) -> str:
    """``"within"`` when the predicted exponent lies inside the fit's interval, ``"outside"`` when not,
    ``"no fit"`` without an interval."""
    if not (fit["lo"] == fit["lo"] and fit["hi"] == fit["hi"]):
        return "no fit"
    return "within" if fit["lo"] <= predicted <= fit["hi"] else "outside"


__all__ = ("geometric_mean", "fit_slope_ci", "fit_per_seed_grid", "verdict")
