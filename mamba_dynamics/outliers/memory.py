"""Peak memory of an outlier-ICL run (arXiv 2510.00399) from its config alone (:mod:`mamba_dynamics.core.resources`).

With ``D = d + 1``, ``T_tr = l_tr + 1``, ``T_ts = l_ts + 1``, ``L`` blocks of ``m`` projections, the parts a run
keeps alive at once (float64):

* the pattern basis: a Haar ``(d, d)`` basis from a QR, about ``4 d^2`` while it is made;
* the parameters, their gradients and a copy: ``3 L (2 m D + g)`` (``g = D``, or ``m D`` for GLA's ``W_a``);
* the training batch ``B T_tr D`` and the step's arrays: for one layer the kernels' temporaries (half the batch
  again; GLA's projections ``5 B T_tr m``; softmax weights ``B h T_tr^2``), for a stack the blocks' caches of one
  chunk of prompts (:func:`stack_cache`, :func:`chunk_rows`);
* the two test sets ``2 n_test T_ts D`` (``n_eval`` more prompts for a script's evaluation) and what their
  evaluation holds: a quarter of a test set for one layer (GLA: its projections ``2 n_test T_ts m``), or every
  block's cache of the whole outlier test set for a stack (the per-block quantities);
* the logged history (``steps / log_every`` rows of the tracked scalars and the rank profiles) and, for a script,
  one history per run it keeps.

Measured against ``tracemalloc``'s peak of whole runs (tests/core/test_resources.py; docs/usage.md, "Resource
limits", has the table).
"""

from __future__ import annotations

from ..core.resources import Estimate, arrays


#: bytes per logged value: the history keeps Python floats and small arrays in lists (measured: 2.2 KB per logged
#: step of the default run, 130 values)
HISTORY_ITEM = 16


def stack_cache(N: int, T: int, D: int, m: int, layers: int, heads: int = 0) -> float:
    """Bytes of a stack's forward cache on ``N`` prompts: per block the stream and its normalised input (``2
    D``), the packed projections (``2 m + 1``), the weighted scores (``T``; softmax: ``heads T``) and the gates,
    per token."""
    per_token = 2 * D + (2 * m + 1) + max(heads, 1) * T + 2
    return arrays((layers, N, T, per_token))


def chunk_rows(N: int, T: int, D: int) -> int:
    """Prompts per chunk of a stack's step (:func:`~mamba_dynamics.core.stack.sequence_chunks`)."""
    from ..core.stack import CHUNK_ABOVE, CHUNK_BYTES

    size = N * T * D * 8
    return N if size <= CHUNK_ABOVE else max(1, -(-N // -(-size // CHUNK_BYTES)))


def estimate(cfg, n_eval: int | None = None, runs: int = 1) -> Estimate:
    """:class:`~mamba_dynamics.core.resources.Estimate` of one run of ``cfg`` (an
    :class:`~mamba_dynamics.outliers.config.OutlierConfig`), plus ``n_eval`` evaluation prompts and the histories
    of ``runs`` runs kept by a script."""
    d, m, L, B = cfg.d, cfg.m, cfg.layers, cfg.batch
    D, T_tr, T_ts, n = d + 1, cfg.l_tr + 1, cfg.l_ts + 1, cfg.n_test
    gla = cfg.model == "gla"
    heads = cfg.heads if cfg.model == "st" else 0
    parts = {"pattern basis (--d)": arrays((4, d, d)),
             "parameters (--d, --m, --layers)": arrays((3, L, 2 * m * D + (m * D if gla else D)))}
    batch = arrays((B, T_tr, D))
    parts["training batch and step (--batch, --l-tr, --d)"] = batch + (
        2 * stack_cache(chunk_rows(B, T_tr, D), T_tr, D, m, L, heads) if L > 1 else
        arrays((5, B, T_tr, m)) if gla else 0.5 * batch + (arrays((B, heads, T_tr, T_tr)) if heads else 0.0))
    tests = n + (n_eval or 0)
    test_set = arrays((tests, T_ts, D))
    parts["test sets and their evaluation (--n-test, --l-ts, --d)"] = 2 * test_set + (
        stack_cache(tests, T_ts, D, m, L, heads) if L > 1 else
        arrays((2, tests, T_ts, m)) if gla else 0.25 * test_set +
        (arrays((tests, heads, T_ts, T_ts)) if heads else 0.0))
    logs = cfg.steps // max(cfg.log_every, 1) + 2
    parts["logged history (--steps, --log-every, --l-ts)"] = arrays((max(runs, 1), logs, 40 + 6 * L + 4 * T_ts),
                                                                    itemsize=HISTORY_ITEM)
    # work: a step's projections and pairs (forward and backward) over the batch, an evaluation of both test sets
    # at every log, the basis's QR
    per_token = L * (6 * m * D + 3 * T_tr * (D + m))
    work = 2.0 * (cfg.steps * B * T_tr * per_token + logs * 2 * tests * T_ts * per_token / 3) + 4.0 * d ** 3
    return Estimate(parts, ("--d", "--l-tr", "--l-ts", "--batch", "--n-test", "--layers", "--steps"), work)


__all__ = ["estimate", "stack_cache"]
