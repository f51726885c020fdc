"""Peak memory of a feature-filtering run (arXiv 2602.12499) from its config alone
(:mod:`mamba_dynamics.core.resources`).

With ``N_tr = n_train``, ``N_ts = n_test`` sequences of ``L`` tokens of width ``d``, ``m`` neurons and ``layers``
blocks, the parts a run keeps alive at once (float64):

* the pattern basis: a Haar ``(d, d)`` basis from a QR, about ``4 d^2`` while it is made;
* the parameters, gradients and a copy: ``3 layers (m d + 4 d^2)``;
* the training and test sequences ``(N_tr + N_ts) L (d + 1)`` (tokens and their pattern indices);
* an evaluation of the larger set: its mixer outputs and the head's pre-activations, ``(m + 2 d) L`` per sequence
  (GLA's decays and projections ``3 d`` more); a stack's per-block caches of the test set (the tracked gates);
  softmax attention's tracked weights on 200 test sequences (``200 h L^2``, up to L = 512);
* the training step, which runs chunk by chunk of sequences (a few megabytes);
* the logged history (``steps / log_every`` rows).

Measured against ``tracemalloc``'s peak of whole runs (tests/core/test_resources.py; docs/usage.md, "Resource
limits").
"""

from __future__ import annotations

from ..core.resources import Estimate, arrays
from .metrics import ATTENTION_STATS_MAX_L, ATTENTION_STATS_SEQUENCES

#: bytes per logged value (Python floats and small arrays in lists)
HISTORY_ITEM = 16
#: the training step's chunked arrays: about a dozen of the one-layer chunk budget
STEP_BYTES = 12 * 768 * 1024


def estimate(cfg, n_eval: int | None = None, runs: int = 1) -> Estimate:
    """:class:`~mamba_dynamics.core.resources.Estimate` of one run of ``cfg`` (a
    :class:`~mamba_dynamics.features.config.FeaturesConfig`), plus ``n_eval`` more test sequences and the
    histories of ``runs`` runs kept by a script."""
    d, L, m, layers = cfg.d, cfg.L, cfg.m, cfg.layers
    n_tr, n_ts = cfg.n_train, cfg.n_test + (n_eval or 0)
    gla = getattr(cfg, "gate_type", "mamba") == "gla"
    parts = {"pattern basis (--d)": arrays((4, d, d)),
             "parameters (--d, --m, --layers)": arrays((3, layers, m * d + 4 * d * d)),
             "sequences (--n-train, --n-test, --L, --d)": arrays((n_tr + n_ts, L, d + 1))}
    per_token = m + 2 * d + (3 * d if gla else 0)
    ev = arrays((max(n_tr, n_ts), L, per_token))
    if layers > 1:
        ev += arrays((layers, n_ts, L, 4 * d + 3 + L))
    if cfg.model == "st-mlp" and L <= ATTENTION_STATS_MAX_L:
        ev += arrays((3, min(n_ts, ATTENTION_STATS_SEQUENCES), cfg.heads, L, L))
    parts["evaluation (--n-train, --n-test, --L, --m)"] = ev
    parts["training step (chunked)"] = float(min(arrays((max(cfg.batch or n_tr, 1), L, max(d, m))), STEP_BYTES))
    logs = cfg.steps // max(cfg.log_every, 1) + 2
    parts["logged history (--steps, --log-every)"] = arrays((max(runs, 1), logs, 60 + 8 * layers + 2 * L),
                                                            itemsize=HISTORY_ITEM)
    # work: a step's mixer (pairs or scans) and head over the batch, an evaluation of both sets at every log
    per_token = layers * (6 * d * d + 3 * min(L, 4 * d) * d) + 6 * m * d
    work = 2.0 * (cfg.steps * (cfg.batch or n_tr) * L * per_token + logs * (n_tr + n_ts) * L * per_token / 3)
    return Estimate(parts, ("--n-train", "--n-test", "--L", "--d", "--m", "--layers", "--steps"),
                    work + 4.0 * d ** 3)


__all__ = ["estimate"]
