#!/usr/bin/env python
"""Time one full-batch gradient step of the feature-filtering models (arXiv 2602.12499): the paper's Eq. 5 SSM with
its Eq. 6 head (every gradient: w, W_B, W_C, W_O) and the linear-attention counterpart, hand-derived Numba kernels
vs the NumPy reference vs PyTorch CPU autograd vs JAX jit(value_and_grad), side by side in one run.

    python benchmarks/features_bench.py              # paper sizes, 10x and 100x longer sequences, 10x d
    python benchmarks/features_bench.py --quick      # the paper sizes only
    python benchmarks/features_bench.py --parts      # the Eq. 5-6 SSM step part by part (Numba only)
    pip install -e .[bench]                          # torch and jax (optional; missing ones are skipped)

Every framework gets the same float64 inputs and one thread (``--threads``); each result is checked equal to
the Numba kernel (relative 1e-8) before any timing.  Times are medians over paired rounds (each round calls every
framework once), and a ratio is the median over rounds of time / Numba time (benchmarks/step_bench.py explains
why).  The sizes keep the token count ``N L`` fixed while ``L`` grows 10x and 100x, so the printed cost exponent
in ``L`` (per token) is 0 for an O(L) method and 1 for an O(L^2) one.  Last, the steady state at the default
sizes: each framework ten steps in a row per round, as a training loop runs them (``step_bench.steady_times``).
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.step_bench import (cost_exponents, format_ms_row, load_frameworks,  # noqa: E402
                                   parse_bench_arguments, print_steady_table, print_table_header, print_verdicts,
                                   time_frameworks)

BLOCKS = {"ssm": ("w", "W_B", "W_C", "V"), "lt-mlp": ("W", "V"), "st-mlp": ("W", "V"),
          # the Eq. 5 mixer with 2510.00399 App. E.6's gates (--gate-type; RetNet's w is not trained)
          "ssm-mamba2": ("w", "W_B", "W_C", "V"), "ssm-gret": ("w", "W_B", "W_C", "V"), "ssm-retnet": ("W_B", "W_C", "V"),
          "ssm-gla": ("w", "W_B", "W_C", "V")}  # GLA's w = W_a (d, d): a decay per key coordinate
#: the gates' settings in every framework (the config defaults)
GATE_TAU, GATE_GAMMA = 16.0, 1.0 - 2.0 ** -5


def make_case(model: str, N: int, L: int, d: int, m: int = 40, seed: int = 0):
    """Inputs ``(params dict, X (N, L, d), y (N,), a (m,))`` at a trained-looking point
    (:func:`mamba_dynamics.features.data.one_layer_point`)."""
    import numpy as np

    from mamba_dynamics.features.data import one_layer_point

    case = one_layer_point(model.split("-")[0] if model.startswith("ssm") else model, N, L, d, m, seed)
    if model == "ssm-gla":  # W_a (d, r = d), drawn as w is
        case[0]["w"] = 0.5 * np.random.default_rng(seed + 1).standard_normal((d, d))
    return case


def counted_flops(model: str, N: int, L: int, d: int, m: int) -> float:
    """2 x multiply-adds of the Numba step (transcendentals not counted): head forward and backward
    (``6 N L m d``); the mixer forward and adjoint, O(L^2 (d + r)) per sequence in the quadratic form
    (``L <= 2 r``) or O(L d r) in the scan, and the ``X W_B``, ``X W_C`` products and their transposes
    (``8 N L d r``); linear attention: ``W x_l`` (``d^2`` per token), then the direct O(L^2 d) sums, or, when it
    runs as its recurrence (``L >= 2 d``), ``5 d^2`` more per token."""
    head = 6.0 * N * L * m * d
    if model == "st-mlp":  # the scores, the weighted sums, and their adjoints: 4 products over the pairs
        return head + 2.0 * N * (L * (L + 1) / 2) * 4 * d + 4.0 * N * L * d * d
    if model == "lt-mlp":
        if L >= 2 * d:
            return head + 2.0 * N * L * 6 * d * d
        return head + 2.0 * N * (L * (L + 1) / 2) * 4 * d + 2.0 * N * L * d * d
    r = d  # (every scalar gate of the Eq. 5 mixer counted as Mamba's; GLA always scans, three passes of 2 d r)
    scan = L > 2 * r or model == "ssm-gla"
    mixer = N * L * d * r * 12.0 if scan else N * (L * (L + 1) / 2) * (6 * r + 10 * d)
    return head + mixer + 8.0 * N * L * d * r


def make_numba(reference: bool = False):
    """The package's model objects (the one model interface; ``ssm`` with every block of ``BLOCKS`` trained)."""
    from mamba_dynamics.features.config import FeaturesConfig
    from mamba_dynamics.features.data import Sequences
    from mamba_dynamics.features.models import REGISTRY

    models = {"ssm": REGISTRY.build(FeaturesConfig(model="ssm", wbc="trained")),
              "lt-mlp": REGISTRY.build(FeaturesConfig(model="lt-mlp")),
              "st-mlp": REGISTRY.build(FeaturesConfig(model="st-mlp"))}  # global, temperature 1, one head
    for kind in ("mamba2", "gret", "retnet", "gla"):
        models[f"ssm-{kind}"] = REGISTRY.build(FeaturesConfig(model="ssm", wbc="trained", gate_type=kind))

    def convert(case):
        p, X, y, a = case
        return models["ssm" if "w" in p else "lt-mlp"].params_from(dict(p, a=a)), Sequences(X, y)

    def step(args, model):
        params, batch = args
        r = models[model].loss_and_grad(params, batch, reference=reference)
        return r.loss, tuple(r.grads[b] for b in BLOCKS[model])

    return step, convert


def make_numpy():
    return make_numba(reference=True)


def _loss(xp, softplus, model, blocks, X, y, a):
    """The model's hinge loss written once for an array library ``xp`` (torch or jax.numpy): Eq. 5 with log-space
    gate products, or causal linear attention; the Eq. 6 head."""
    N, L, d = X.shape
    tril = xp.tril(xp.ones((L, L), dtype=X.dtype))
    if model.startswith("ssm"):
        kind = model[4:] or "mamba"
        if kind == "gla":  # a decay per key coordinate: D[n, l, s, a] = prod_{s<j<=l} sigmoid(t_ja)^(1/tau)
            w, W_B, W_C, V = blocks
            csum = xp.cumsum(-softplus(-(X @ w)) / GATE_TAU, 1)  # (N, L, r)
            log_D = csum[:, :, None, :] - csum[:, None, :, :]
            D = xp.exp(xp.where(tril[None, :, :, None] > 0, log_D, -xp.inf * xp.ones_like(log_D)))
            S = xp.einsum("nlsr,nsr,nlr->nls", D, X @ W_B, X @ W_C)
            Y = xp.einsum("nls,nsd->nld", S, X)
            F = xp.maximum(Y @ V.T, xp.zeros((), dtype=X.dtype)) @ a
            return xp.maximum(1 - y * F.sum(1) / L, xp.zeros((), dtype=X.dtype)).mean()
        if kind == "retnet":  # a fixed decay: w enters nothing (zero, as the Numba model's is not trained)
            W_B, W_C, V = blocks
            t = X[..., 0] * 0.0
        else:
            w, W_B, W_C, V = blocks
            t = X @ w
        lead, c = {"mamba": lambda: (-softplus(-t), -softplus(t)),
                   "mamba2": lambda: (xp.log(softplus(t)), -softplus(t)),
                   "gret": lambda: (0.0 * t, -softplus(-t) / GATE_TAU),
                   "retnet": lambda: (0.0 * t, 0.0 * t + math.log(GATE_GAMMA))}[kind]()
        csum = xp.cumsum(c, -1)
        log_beta = lead[:, None, :] + csum[:, :, None] - csum[:, None, :]
        beta = xp.exp(xp.where(tril > 0, log_beta, -xp.inf * xp.ones_like(log_beta)))
        S = xp.einsum("nsr,nlr->nls", X @ W_B, X @ W_C)
        Y = xp.einsum("nls,nsd->nld", beta * S, X)
    elif model == "st-mlp":  # causal softmax attention, scores x_s^T W x_l, temperature 1
        W, V = blocks
        S = xp.einsum("nsd,de,nle->nls", X, W, X)
        S = xp.where(tril > 0, S, -xp.inf * xp.ones_like(S))
        if xp.__name__ == "torch":
            A = xp.softmax(S, -1)
        else:
            import jax

            A = jax.nn.softmax(S, -1)
        Y = xp.einsum("nls,nsd->nld", A, X)
    else:
        W, V = blocks
        weights = tril / xp.arange(1, L + 1, dtype=X.dtype)[:, None]
        S = xp.einsum("nsd,de,nle->nls", X, W, X) * weights
        Y = xp.einsum("nls,nsd->nld", S, X)
    F = xp.maximum(Y @ V.T, xp.zeros((), dtype=X.dtype)) @ a
    F = F.sum(1) / L
    return xp.maximum(1 - y * F, xp.zeros((), dtype=X.dtype)).mean()


def make_torch(threads: int):
    import torch
    import torch.nn.functional as tf

    torch.set_num_threads(threads)

    def convert(case):
        p, X, y, a = case
        return {k: torch.tensor(v, dtype=torch.float64, requires_grad=True) for k, v in p.items()}, \
            torch.tensor(X), torch.tensor(y), torch.tensor(a)

    def step(args, model):
        p, X, y, a = args
        blocks = [p[b] for b in BLOCKS[model]]
        loss = _loss(torch, tf.softplus, model, blocks, X, y, a)
        grads = torch.autograd.grad(loss, blocks)
        return float(loss.detach()), tuple(g.numpy() for g in grads)

    return step, convert


def make_jax():
    import jax
    import jax.numpy as jnp

    jax.config.update("jax_enable_x64", True)
    compiled = {model: jax.jit(jax.value_and_grad(
        lambda blocks, X, y, a, model=model: _loss(jnp, jax.nn.softplus, model, blocks, X, y, a)))
        for model in BLOCKS}

    def convert(case):
        p, X, y, a = case
        return {k: jnp.asarray(v) for k, v in p.items()}, jnp.asarray(X), jnp.asarray(y), jnp.asarray(a)

    def step(args, model):
        p, X, y, a = args
        loss, grads = compiled[model]([p[b] for b in BLOCKS[model]], X, y, a)
        jax.block_until_ready(grads)
        return float(loss), tuple(jax.device_get(g) for g in grads)

    return step, convert


def bench_sizes(args) -> list:
    """``(N, L, d)`` of the run: the defaults of FeaturesConfig (d = 10, L = 12, N = 1000), then L x10 and x100 at
    the same token count, then d x10 (``--quick``: the first; ``--smoke``: a tiny one)."""
    if args.smoke:
        return [(20, 6, 5)]
    return [(1000, 12, 10)] if args.quick else [(1000, 12, 10), (100, 120, 10), (10, 1200, 10), (1000, 12, 100)]


def bench_memory(args):
    """The largest case's peak memory: the frameworks' pairwise arrays (a dozen ``(N, L, L)`` arrays in autograd's
    graph; GLA's half a dozen ``(N, L, L, d)`` decay products) and the head's ``(N, L, m)``."""
    from mamba_dynamics.core.resources import Estimate, arrays

    models = [m for m in args.models.split(",") if m in BLOCKS]
    per = [arrays((6, N, L, L, d) if m == "ssm-gla" else (12, N, L, L), (6, N, L, 40), (4, N, L, d))
           for m in models for N, L, d in bench_sizes(args)]
    return Estimate({"the frameworks' arrays of the largest case": max(per, default=0.0)},
                    ("the long-sequence rows (--quick leaves them out)", "--models"))


def time_parts(N: int, L: int, d: int, rounds: int) -> dict:
    """Median ms of each part of the Eq. 5-6 SSM step's one Numba call (``features.content.content_pass``, its
    pairwise form on the factored scores), each timed apart on the step's own arrays with every sequence's hinge
    active: the projections ``Z = X Wk^T``, the mixer's forward, the head with its hinge and backward, the mixer's
    adjoint, ``dWk += dZ^T X``; then the whole call."""
    import time

    import numpy as np
    from numba import njit

    from mamba_dynamics.core.mixer import gate_args, pairs_adjoint_kernel, pairs_forward_kernel
    from mamba_dynamics.core.simd import gemm
    from mamba_dynamics.core.stack import _weights, block_form
    from mamba_dynamics.features import head as H
    from mamba_dynamics.features.content import content_block, content_pass

    @njit
    def product(A, sar, sak, B, C, rows, inner, accumulate):  # C (+)= A B, B and C row-major
        gemm(A, 0, sar, sak, B, 0, C.shape[-1], C, 0, C.shape[-1], rows, inner, C.shape[-1], accumulate)

    convert = make_numba()[1]
    params, batch = convert(make_case("ssm", N, L, d))
    X, y = H.f64(batch.X), np.ones(N)  # labels 1 with F small: every hinge active
    W_B, W_C, w = content_block(params)
    if block_form(L, d, W_B.shape[1]) != "factored":
        raise SystemExit(f"--parts times the factored pairwise form; L = {L}, d = {d} take another")
    WkT = H.transpose(_weights(W_B, W_C, w, True, "factored")[0])
    V, a = H.f64(params.V), H.f64(params.a) * 1e-6
    Vt, P, g = H.transpose(V), WkT.shape[1], gate_args(True)
    Z, dZ = np.empty((N, L, P)), np.empty((N, L, P))
    Y, Gy, S, C = np.empty((N, L, d)), np.empty((N, L, d)), np.empty((N, L, L)), np.empty((N, L, L))
    SIG, KEEP, F, active = np.empty((N, L)), np.empty((N, L)), np.empty(N), np.empty(N, dtype=np.int64)
    dWk, dVt, none = np.zeros((P, d)), np.zeros((d, V.shape[0])), np.empty((0, 0, 0))
    parts = {
        "projections Z = X Wk^T": lambda: product(X, d, 1, WkT, Z.reshape(N * L, P), N * L, d, False),
        "pairwise mixer forward (scores, gates, Y = S X)": lambda: pairs_forward_kernel(
            X, X, Z[:, :, 1:], Z[:, :, 0], g, 0, Y, SIG, KEEP, S),
        "Eq. 6 head, hinge and backward (head_pass)": lambda: H.head_pass(Y, V, Vt, a, y, F, active, Gy, dVt,
                                                                          True, H.HEAD_GROUP, N),
        "pairwise mixer adjoint": lambda: pairs_adjoint_kernel(X, X, Z[:, :, 1:], Gy, SIG, KEEP, Z[:, :, 0], g, 0,
                                                               S, none, False, none, False, dZ[:, :, 1:],
                                                               dZ[:, :, 0], C),
        "dWk += dZ^T X": lambda: product(dZ, 1, P, X.reshape(N * L, d), dWk, P, N * L, True),
        "the one-call step (content_pass)": lambda: content_pass(X, WkT, True, g, V, Vt, a, y, H.pass_block(L, d, P),
                                                                 H.HEAD_GROUP, F, dWk, dVt),
    }
    out = {}
    for name, f in parts.items():  # in order: each part's inputs are the previous parts' outputs
        f()
        ts = []
        for _ in range(rounds):
            t0 = time.perf_counter()
            f()
            ts.append(time.perf_counter() - t0)
        out[name] = 1e3 * float(np.median(ts))
    if int((F * y < 1).sum()) != N:
        raise SystemExit("--parts: not every hinge was active")
    return out


def main(argv=None) -> int:
    from mamba_dynamics.core.cli import Parser

    parser = Parser(prog="features_bench.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default=",".join(BLOCKS), help="models to time, comma-separated [default: all]")
    parser.add_argument("--parts", action="store_true",
                        help="time the Eq. 5-6 SSM step part by part at the default sizes (Numba only)")
    args, skip = parse_bench_arguments(parser, argv, "the paper sizes only", bench_memory)
    if args.parts:
        from mamba_dynamics.core.simd import simd_summary

        N, L, d = (64, 12, 10) if args.smoke else bench_sizes(args)[0]
        print(simd_summary())
        print(f"\nthe Eq. 5-6 SSM step part by part (N = {N}, L = {L}, d = {d}, m = 40; every hinge active; "
              "median ms)")
        for name, ms in time_parts(N, L, d, 3 if args.smoke else 200).items():
            print(f"  {name:<50} {ms:8.3f}")
        return 0
    models = [m for m in args.models.split(",") if m]
    if not models or set(models) - set(BLOCKS):
        parser.error(f"--models takes {', '.join(BLOCKS)}; got {args.models!r}")
    factories = {"numba": make_numba, "numpy": make_numpy, "torch": lambda: make_torch(args.threads), "jax": make_jax}
    loaded = load_frameworks(factories, skip, args.threads)

    sizes = bench_sizes(args)
    budget = 0.05 if args.smoke else 2.0
    names = list(loaded)
    print("\nmedian time of one full-batch step (loss + every gradient); ratio = median over paired rounds of "
          "time / Numba time")
    print_table_header(f"{'model':<10} {'N':>5} {'L':>5} {'d':>4}", names, "ms", 10)
    per_token, verdicts = {}, []
    for model in models:
        for N, L, d in sizes:
            case = make_case(model, N, L, d)
            # the O(L^2) NumPy reference with its per-neuron head takes seconds per call on long sequences (GLA's,
            # whose gate derivative is written out over (t, s, j) triples, O(L^3 r))
            slow = N * L * L * d > 2e8 or (model == "ssm-gla" and N * L ** 3 * d > 2e9)
            times, ratios = time_frameworks(loaded, case, model, budget, f"{model}, N={N}, L={L}, d={d}",
                                            skip=("numpy",) if slow else ())
            gflops = counted_flops(model, N, L, d, case[3].size) / times["numba"] / 1e9
            lead = f"{model:<10} {N:>5} {L:>5} {d:>4}"
            print(format_ms_row(lead, times, ratios, names, gflops), flush=True)
            if (N, L, d) == sizes[0]:
                verdicts.append(("paired", lead, ratios))
            if d == 10:
                per_token.setdefault(model, []).append((L, {n: t / (N * L) for n, t in times.items()}))
    N, L, d = sizes[0]
    verdicts += print_steady_table(loaded, [(f"{model:<10} {N:>5} {L:>5} {d:>4}", make_case(model, N, L, d), model)
                                            for model in models], 2 if args.smoke else 15, "at the default sizes")
    print_verdicts(verdicts, smoke=args.smoke)
    if len(sizes) > 2:
        print("\ncost per token vs L at a fixed token count (fitted exponent: 0 = O(L), 1 = O(L^2))")
        for model, rows in per_token.items():
            fits = cost_exponents(rows, names)
            print(f"  {model:<10} " + "  ".join(f"{n}: {v:+.2f}" for n, v in fits.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
