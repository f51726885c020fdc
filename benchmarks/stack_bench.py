#!/usr/bin/env python
"""Time one training step (hinge loss and every block's gradients) of the deep outlier stacks (arXiv 2510.00399
Table 1: 3 Mamba or linear-Transformer blocks on a residual stream; ``outliers.stack.loss_and_grad``): the
hand-derived Numba backward pass, the NumPy reference, PyTorch CPU autograd and JAX jit(value_and_grad), side by
side in one run.

    python benchmarks/stack_bench.py            # Table 1's sizes, then prompts 10x and 100x longer
    python benchmarks/stack_bench.py --quick    # Table 1's sizes only

Same protocol as benchmarks/step_bench.py: one thread each, float64, every loss and gradient checked equal to
Numba (relative 1e-8) before timing, paired rounds, ratio = median over rounds of time / Numba time.  Sizes: a
training batch of ``scripts/outliers_table1.py`` (B = 64 prompts, l = 20, d = 30, m = 31, 3 blocks), then l = 200
and 2000 at about the same token count (B = 6 and 1; the frameworks' pairwise gate matrix is ``B L (l+1)^2``
doubles), with the fitted exponent of the cost per token in ``l``.  The frameworks compute the blocks in the pairwise
form with the gate matrix in log space, as one would write them; Numba takes the pairwise kernels at ``l = 20`` and
the scans above (``core.mixer.quadratic_form``), the pairwise ones on the factored scores ``u_t^T Q u_s``
(``core.stack.block_form``).
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.step_bench import (cost_exponents, format_ms_row, load_frameworks,  # noqa: E402
                                   parse_bench_arguments, print_table_header, time_frameworks)

BLOCKS = ("W_B", "W_C", "w")


def make_case(B: int, l: int, d: int = 30, layers: int = 3, seed: int = 0):
    """``(W_B, W_C, w, P, z)``: Table 1's data (``p_a = 0.4``) and the paper's initialisation, perturbed so that
    every block's gradient is non-trivial."""
    import numpy as np

    from mamba_dynamics.outliers.config import OutlierConfig
    from mamba_dynamics.outliers.data import make_patterns, sample_train, seed_streams
    from mamba_dynamics.outliers.stack import init_stack_params

    small = dict(M1=2, M2=1, V=1) if d < 19 else {}  # the smoke run's tiny d
    cfg = OutlierConfig(d=d, l_tr=l, l_ts=l, p_a=0.4, layers=layers, seed=seed, **small)
    streams = seed_streams(seed)
    pat = make_patterns(cfg, streams["patterns"])
    params = init_stack_params(cfg, streams["init"])
    rng = np.random.default_rng(seed)
    params.W_B += 0.02 * rng.standard_normal(params.W_B.shape)
    params.W_C += 0.02 * rng.standard_normal(params.W_C.shape)
    batch = sample_train(cfg, pat, streams["train"], B)
    return params.W_B, params.W_C, params.w, batch.P, batch.z


def counted_flops(B: int, l: int, d: int = 30, layers: int = 3, m: int = 31, gated: bool = True) -> float:
    """2 x multiply-adds of the Numba step, block by block in the form it takes (``core.stack.block_form``): the
    projections (``K D`` per token forward, twice that backward, once for the first block, which needs no gradient
    into the tokens; ``K = 2m + 1``, or ``D + 1`` factored), the mixer's pairs (``(T/2)(3D + 3r)`` per token, ``r
    = D`` factored) or its scans (``7 D r``).  The last block reads out the query: factored, it costs about ``8 D``
    per token (the gate's projection, one row of scores and outputs, their adjoints, the outer products)."""
    from mamba_dynamics.core.stack import block_form

    T, D, g = l + 1, d + 1, int(gated)
    form = block_form(T, D, m)
    K = D + g if form == "factored" else 2 * m + g
    r = D if form == "factored" else m
    mixer = 7 * D * m if form == "scan" else (T / 2) * (3 * D + 3 * r)
    per_token = 0.0
    for k in range(layers):
        if k == layers - 1 and form == "factored":
            per_token += 8 * D
        else:
            per_token += K * D * (2 if k == 0 else 3) + mixer
    return 2.0 * B * T * per_token


def make_numba(reference: bool = False):
    from mamba_dynamics.outliers.stack import loss_and_grad

    def step(args, gated):
        r = loss_and_grad(*args, gated, fast=not reference)
        return r.loss, tuple(r.grads[k] for k in BLOCKS)

    return step, lambda case: case


def _loss(xp, softplus, gated, W_B, W_C, w, P, z):
    """The stack's hinge loss written once for ``xp`` (torch or jax.numpy): per block an RMSNorm (from block 2
    on), the pairwise form with the gate matrix in log space (``log G_ts = log sig_s + sum_{s<j<=t} log(1 -
    sig_j)``), a residual add, and the query's label channel at the end."""
    T = P.shape[1]
    low = xp.asarray(__import__("numpy").tril(__import__("numpy").ones((T, T)))) > 0
    X = P
    for k in range(W_B.shape[0]):
        U = X if k == 0 else X / xp.sqrt(xp.mean(X * X, -1, keepdims=True) + 1e-12)  # RMSNorm from block 2 on
        Bp, Cp = U @ W_B[k].T, U @ W_C[k].T
        S = Cp @ xp.swapaxes(Bp, -1, -2)  # S[n, t, s] = c_t . b_s
        if gated:
            t = U @ w[k]
            cum = xp.cumsum(-softplus(t), -1)
            logG = -softplus(-t)[:, None, :] + cum[:, :, None] - cum[:, None, :]
            G = xp.exp(xp.where(low, logG, -float("inf")))  # masked before exp: no inf * 0 in the backward
        else:
            G = xp.where(low, 1.0, 0.0) * xp.ones_like(S)
        X = X + (G * S) @ U
    F = X[:, -1, -1]
    return xp.mean(xp.where(z * F < 1, 1 - z * F, 0.0))


def make_torch(threads: int):
    import torch
    import torch.nn.functional as tf

    torch.set_num_threads(threads)

    def convert(case):
        return [torch.tensor(a, requires_grad=i < 3) for i, a in enumerate(case)]

    def step(args, gated):
        loss = _loss(torch, tf.softplus, gated, *args)
        grads = torch.autograd.grad(loss, args[:3], allow_unused=True)
        grads = [torch.zeros_like(a) if g is None else g for a, g in zip(args[:3], grads)]
        return float(loss.detach()), tuple(g.numpy() for g in grads)

    return step, convert


def make_jax():
    import jax
    import jax.numpy as jnp

    jax.config.update("jax_enable_x64", True)
    compiled = {g: jax.jit(jax.value_and_grad(lambda a, b, c, P, z, g=g: _loss(jnp, jax.nn.softplus, g, a, b, c, P, z),
                                              argnums=(0, 1, 2))) for g in (True, False)}

    def step(args, gated):
        loss, grads = compiled[gated](*args)
        jax.block_until_ready(grads)
        return float(loss), tuple(jax.device_get(g) for g in grads)

    return step, lambda case: [jnp.asarray(a) for a in case]


def steady_times(loaded: dict, case, gated: bool, rounds: int, burst: int = 10) -> dict:
    """Each framework ``burst`` steps in a row per round (as in a training loop, where a step follows a step of
    the same code), in turn, over ``rounds`` rounds; the median over rounds of the median of each burst's last
    ``burst - 2`` steps, in seconds.  The paired rounds of :func:`time_frameworks` time one step after the other
    frameworks' steps instead, with their code and data in the caches."""
    import time

    import numpy as np

    fns = {}
    for name, (step, convert) in loaded.items():
        if name != "numpy":
            conv = convert(case)
            fns[name] = (lambda step=step, conv=conv: step(conv, gated))
    res = {k: [] for k in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            ts = []
            for _ in range(burst):
                t0 = time.perf_counter()
                fn()
                ts.append(time.perf_counter() - t0)
            res[name].append(float(np.median(ts[2:])))
    return {k: float(np.median(v)) for k, v in res.items()}


def main(argv=None) -> int:
    from mamba_dynamics.core.cli import Parser

    parser = Parser(prog="stack_bench.py", description=__doc__.split("\n\n")[0])
    args, skip = parse_bench_arguments(parser, argv, "Table 1's sizes only")
    factories = {"numba": make_numba, "numpy": lambda: make_numba(reference=True),
                 "torch": lambda: make_torch(args.threads), "jax": make_jax}
    loaded = load_frameworks(factories, skip, args.threads)
    sizes = [(64, 20)] if args.quick else [(64, 20), (6, 200), (1, 2000)]
    budget = 2.0
    if args.smoke:
        sizes, budget = [(4, 5)], 0.05
    names = list(loaded)
    print("\nmedian time of one training step of the 3-block stack (loss and every block's gradients); ratio = "
          "median over paired rounds of time / Numba time")
    print_table_header(f"{'model':<6} {'B':>4} {'l':>5}", names, "ms", 10)
    per_token = []
    for gated, label in ((True, "mamba"), (False, "lt")):
        for B, l in sizes:
            d = 4 if args.smoke else 30
            case = make_case(B, l, d)
            skip_here = ("numpy",) if l > 500 else ()  # the reference's O(T^3) gate derivative
            times, ratios = time_frameworks(loaded, case, gated, budget, f"{label}, B={B}, l={l}", skip_here)
            gflops = counted_flops(B, l, d, m=d + 1, gated=gated) / times["numba"] / 1e9
            print(format_ms_row(f"{label:<6} {B:>4} {l:>5}", times, ratios, names, gflops), flush=True)
            if gated:
                per_token.append((l, {k: t / (B * (l + 1)) for k, t in times.items()}))
    if len(per_token) > 2:
        fits = cost_exponents(per_token, names)
        print("\ncost per token vs l at about the same token count (mamba; 0 = linear in l): "
              + "  ".join(f"{k}: {v:+.2f}" for k, v in fits.items()))
    B, l = sizes[0]
    d = 4 if args.smoke else 30
    print(f"\nsteady state at B={B}, l={l}: each framework 10 steps in a row per round, in turn "
          f"({3 if args.smoke else 40} rounds); median ms and ratio of medians to Numba")
    for gated, label in ((True, "mamba"), (False, "lt")):
        med = steady_times(loaded, make_case(B, l, d), gated, 3 if args.smoke else 40)
        cells = [f"{k} {v * 1e3:.2f}" + ("" if k == "numba" else f" ({v / med['numba']:.2f}x)") for k, v in med.items()]
        print(f"steady {label:<6} " + "  ".join(cells), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
