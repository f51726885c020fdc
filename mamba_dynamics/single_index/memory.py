"""Peak memory of a single-index run (arXiv 2510.12026) from its config alone (:mod:`mamba_dynamics.core.resources`).

Algorithm 1 (:class:`~mamba_dynamics.single_index.config.SingleIndexConfig`) runs its prompts in chunks of
:data:`~mamba_dynamics.single_index.train.CHUNK_FLOATS` floats (at least one prompt): per phase (Stage I on ``T1``
prompts, Stage II on ``T2``, the test at each context length ``N``) a chunk's prompts ``(c, N+1, d)``, its embedded
queries ``(c, q, d~)`` and its context statistics ``(c, d~)``, ``d~ = (d+1)(d+2)/2``; the phases run one after the
other, so the peak is the largest phase's (Stage II's ridge features ``(20000, width)`` and kernel ridge
regression at ``N <= krr_max_N``, an ``N x N`` kernel and its factor, are phases too), plus what stays: Stage II's
outputs ``(T2, q)`` and the ridge's Gram matrices ``(width, width)``.

The end-to-end networks (:class:`~mamba_dynamics.single_index.config.NetworkConfig`): a training batch of
``batch`` prompts of up to ``N_max`` raw examples (twice: the forward's arrays and the backward's) (width ``d``, embedded as they are read) and the forward's
arrays (a projection of state ``s`` per token, softmax's weights ``2.5 N`` per token, the embedded queries), the
evaluation batches (``n_eval`` prompts at ``N_max`` and at ``N_min``), the test chunks (``TEST_FLOATS`` floats,
at least one prompt, at the largest test ``N``), the parameters with Adam's two moments.

Measured against ``tracemalloc``'s peak (tests/core/test_resources.py; docs/usage.md, "Resource limits").
"""

from __future__ import annotations

from ..core.resources import Estimate, arrays

#: bytes per logged value (Python floats and small arrays in lists)
HISTORY_ITEM = 16


def _chunk(n: int, N: int, d: int, q: int, dt: int) -> float:
    """Bytes of one Algorithm-1 chunk of ``n`` prompts of ``N`` examples with ``q`` embedded queries."""
    from .train import CHUNK_FLOATS

    per = (N + 1) * d + q * dt
    c = max(1, min(n, CHUNK_FLOATS // per))
    return arrays((c, 2 * per + 3 * dt + 4 * (N + 1)))


def estimate(cfg, test_N=(), krr_max_N: int = 0, krr_prompts: int = 0, n_eval: int | None = None,
             runs: int = 1) -> Estimate:
    """:class:`~mamba_dynamics.core.resources.Estimate` of one run of ``cfg`` (either config of the family) with
    test context lengths ``test_N``, kernel ridge regression up to ``krr_max_N``, and the results of ``runs``
    runs kept by a script."""
    from .config import NetworkConfig

    test_N = [int(N) for N in test_N]
    if isinstance(cfg, NetworkConfig):
        return _network(cfg, test_N or [cfg.N_max], n_eval, runs, krr_prompts)
    d, dt, q = cfg.d, cfg.dt, cfg.queries
    if n_eval:  # a sweep cell's evaluation: n_eval more prompts at N_pt
        test_N = test_N + [cfg.N_pt]
    # the phases run one after the other: the peak is the largest one's
    phases = {"a chunk of prompts (--d, --N-pt, --queries, --test-N)":
              max([_chunk(cfg.T1, cfg.N_pt, d, 1, dt), _chunk(cfg.T2, cfg.N_pt, d, q, dt)]
                  + [_chunk(max(cfg.n_test, n_eval or 0), N, d, q, dt) for N in test_N]),
              "Stage II's ridge features (--T2, --queries, --width)": arrays((2, min(20_000, cfg.T2 * q), cfg.width))}
    krr = [N for N in test_N if N <= krr_max_N] if krr_prompts else []
    if krr:
        phases["kernel ridge regression (--krr-max-N)"] = arrays((4, max(krr), max(krr)), (max(krr), q + d))
    parts = dict([max(phases.items(), key=lambda kv: kv[1])])
    parts["Stage II outputs, the ridge, the direction (--T2, --queries, --width, --d)"] = arrays(
        (3, cfg.T2, q), (4, cfg.width, cfg.width), (4, dt))
    parts["results (--test-N, --n-test)"] = arrays((max(runs, 1), max(len(test_N), 1), cfg.n_test + 8))
    # work: each prompt's context statistic (N d~) and its queries' features (q d~), Stage I, II and the tests; KRR's
    # O(N^3) factorisations
    n_test = max(cfg.n_test, n_eval or 0)
    work = 2.0 * dt * (cfg.T1 * (cfg.N_pt + 1) + cfg.T2 * (cfg.N_pt + q) + n_test * sum(N + q for N in test_N))
    work += 2.0 * krr_prompts * sum(N ** 3 + N * N * (d + q) for N in krr)
    return Estimate(parts, ("--d", "--N-pt", "--test-N", "--queries", "--T1", "--T2", "--n-test", "--krr-max-N",
                            "--krr-prompts"), work)


def _network(cfg, test_N, n_eval, runs, krr_prompts: int = 0) -> Estimate:
    from .network_train import TEST_FLOATS

    D, s, d = cfg.D, cfg.state, cfg.d
    soft = cfg.gate == "softmax"

    def prompts(n: int, N: int, q: int) -> float:
        """Bytes of ``n`` prompts of ``N`` raw examples and ``q`` queries, with the forward's arrays: a projection
        of every token (``s``), softmax's weights (``2.5 N`` per token) and the embedded queries (``D``)."""
        return arrays((n, N, d + 2 + s + (2.5 * N if soft else 0)), (n, q, D + d + s))

    params = 2 * s * D + cfg.width * (s + 2) + D + 8
    parts = {"parameters and Adam's moments (--state, --d, --width)": arrays((5, params)),
             "training batch (--batch, --N-max, --d, --state)": 2 * prompts(cfg.batch, cfg.N_max, cfg.queries),
             "evaluation batches (--n-eval, --N-max)": prompts(n_eval or cfg.n_eval, cfg.N_max, cfg.queries)
             + arrays(((n_eval or cfg.n_eval), cfg.N_min, d + 2))}
    tests = []
    for Nt in test_N:
        per = Nt * d + cfg.test_queries * (D + d)
        tests.append(prompts(max(1, min(cfg.n_test, TEST_FLOATS // per)), Nt, cfg.test_queries))
    if tests:
        parts["a test chunk (--test-N, --test-queries)"] = max(tests)
    logs = cfg.steps // max(cfg.log_every, 1) + 2
    parts["logged history (--steps, --log-every)"] = arrays((max(runs, 1), logs, 60), itemsize=HISTORY_ITEM)
    # work: every token's projections (forward and backward) in training, the evaluations and the tests; KRR
    per_token = 6 * D * s + (2 * cfg.N_max * s if soft else 0)
    work = 2.0 * per_token * (cfg.steps * cfg.batch * (cfg.N_max + cfg.queries)
                              + logs * (n_eval or cfg.n_eval) * (cfg.N_max + cfg.queries) / 3
                              + cfg.n_test * sum(N + cfg.test_queries for N in test_N) / 3)
    work += 2.0 * krr_prompts * sum(N ** 3 + N * N * (d + cfg.test_queries) for N in test_N)
    return Estimate(parts, ("--d", "--N-max", "--batch", "--state", "--steps", "--n-eval", "--n-test",
                            "--test-N", "--test-queries", "--krr-prompts"), work)


__all__ = ["estimate"]
