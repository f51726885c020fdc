#!/usr/bin/env python
"""Time one Stage-I gradient of the single-index readout (arXiv 2510.12026, Algorithm 1): the gated context
statistic ``psi`` over every prompt, the MLP head and ``grad_gamma`` of the squared loss, for the Numba kernel
(``single_index.gradients.stage1_grads`` with ``model.psi``, which never materialises the embedding), the
NumPy reference (explicit embedding), PyTorch CPU autograd and JAX jit(value_and_grad), side by side in one run.

    python benchmarks/single_index_bench.py            # paper sizes (d = 16, 32), 10x and 100x longer contexts
    python benchmarks/single_index_bench.py --quick    # the paper sizes only

Same protocol as benchmarks/step_bench.py: one thread each, float64, every result checked equal to Numba
(relative 1e-8) before timing, paired rounds, ratio = median over rounds of time / Numba time.  The sizes keep
the token count ``T N`` fixed while the context ``N`` grows 10x and 100x; the printed exponent is the cost per
token against ``N`` (0 = linear in the context, as both the gate and the statistic are).
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.step_bench import (cost_exponents, format_ms_row, load_frameworks,  # noqa: E402
                                   parse_bench_arguments, print_table_header, print_verdicts, time_frameworks)

RHO, BIAS = 4.0, 1.0


def make_case(T: int, N: int, d: int, width: int = 256, seed: int = 0):
    """``(gamma (d~,), X (T, N+1, d), Y (T, N+1), v, bj, a (width,))``: single-index prompts with r = 8 relevant
    coordinates and link h2, a random gamma and MLP (so that every prediction and slope is non-trivial)."""
    import numpy as np

    from mamba_dynamics.single_index.config import SingleIndexConfig
    from mamba_dynamics.single_index.data import sample_prompts
    from mamba_dynamics.single_index.experiments import task

    cfg = SingleIndexConfig(d=d, r=min(8, d), N_pt=N)
    I, coefs = task(cfg)
    rng = np.random.default_rng(seed)
    X, Y, _ = sample_prompts(T, N, d, I, coefs, cfg.tau, rng)
    dt = (d + 1) * (d + 2) // 2
    gamma = rng.standard_normal(dt) / np.sqrt(dt)
    v = np.where(rng.random(width) < 0.5, 1.0, -1.0)
    bj = rng.uniform(-1.0, 1.0, width)
    a = rng.standard_normal(width) / width
    return gamma, X, Y, v, bj, a


def counted_flops(T: int, N: int, d: int, width: int = 256) -> float:
    """2 x multiply-adds of the Numba step: the statistic (``d (d + 1) / 2 + 2 d`` per context token), the query's
    embedding product, ``M = psi gamma``, the MLP forward and slope (``4 width`` per prompt) and ``psi^T r``."""
    dt = (d + 1) * (d + 2) // 2
    return 2.0 * (T * N * (d * (d + 1) / 2 + 2 * d) + 3 * T * dt + 4 * T * width)


def make_numba(reference: bool = False):
    """The package's readout models (the one model interface; gate temperature ``RHO`` and bias ``BIAS``)."""
    from mamba_dynamics.single_index.config import SingleIndexConfig
    from mamba_dynamics.single_index.gradients import ReadoutBatch
    from mamba_dynamics.single_index.models import REGISTRY, ReadoutParams

    models = {g: REGISTRY.build(SingleIndexConfig(gate="mamba" if g else "constant", rho=RHO, gate_bias=BIAS))
              for g in (True, False)}

    def convert(case):
        gamma, X, Y, v, bj, a = case
        return ReadoutParams(gamma, v, bj, a), ReadoutBatch(X, Y)

    def step(args, gated):
        r = models[gated].loss_and_grad(*args, reference=reference)
        return r.loss, (r.grads["gamma"],)

    return step, convert


def _loss(xp, softplus, gated, gamma, X, Y, v, bj, a):
    """The Stage-I loss written once for ``xp`` (torch or jax.numpy): explicit embedding, log-space gates."""
    T, lp1, d = X.shape
    N = lp1 - 1
    iu, ju = (xp.asarray(i) for i in _triu(d))
    Phi = xp.concatenate([xp.ones(X.shape[:-1] + (1,), dtype=X.dtype), X, (X**2 - 1) / 2**0.5,
                          X[..., iu] * X[..., ju]], -1)
    if gated:
        s = xp.concatenate([BIAS + Y[:, :-1] / RHO, xp.full((T, 1), BIAS, dtype=X.dtype)], 1)
        suffix = _flip(xp, xp.cumsum(_flip(xp, -softplus(s)), -1))  # sum_{j >= i} log(1 - sigma(s_j))
        G = xp.exp(-softplus(-s[:, :-1]) + suffix[:, 1:])
    else:
        G = xp.ones((T, N), dtype=X.dtype) / N
    ctx = xp.einsum("bi,bik->bk", G * Y[:, :-1], Phi[:, :-1])
    M = (Phi[:, -1] * ctx) @ gamma
    f = xp.maximum(M[:, None] * v[None, :] + bj[None, :], xp.zeros((), dtype=X.dtype)) @ a
    return 0.5 * xp.mean((f - Y[:, -1]) ** 2)


def _flip(xp, x):
    """Reverse the last axis (torch and jax.numpy spell the axis argument differently)."""
    return xp.flip(x, [-1]) if xp.__name__ == "torch" else xp.flip(x, -1)


def _triu(d: int):
    import numpy as np

    return np.triu_indices(d, k=1)


def make_torch(threads: int):
    import torch
    import torch.nn.functional as tf

    torch.set_num_threads(threads)

    def convert(case):
        gamma, *rest = case
        return [torch.tensor(gamma, requires_grad=True)] + [torch.tensor(x) for x in rest]

    def step(args, gated):
        loss = _loss(torch, tf.softplus, gated, *args)
        (g,) = torch.autograd.grad(loss, [args[0]])
        return float(loss.detach()), (g.numpy(),)

    return step, convert


def make_jax():
    import jax
    import jax.numpy as jnp

    jax.config.update("jax_enable_x64", True)
    compiled = {g: jax.jit(jax.value_and_grad(lambda gamma, *rest, g=g: _loss(jnp, jax.nn.softplus, g, gamma, *rest)))
                for g in (True, False)}

    def convert(case):
        return [jnp.asarray(x) for x in case]

    def step(args, gated):
        loss, g = compiled[gated](*args)
        jax.block_until_ready(g)
        return float(loss), (jax.device_get(g),)

    return step, convert


def main(argv=None) -> int:
    from mamba_dynamics.core.cli import Parser

    parser = Parser(prog="single_index_bench.py", description=__doc__.split("\n\n")[0])
    args, skip = parse_bench_arguments(parser, argv, "the paper sizes only")
    factories = {"numba": make_numba, "numpy": lambda: make_numba(reference=True),
                 "torch": lambda: make_torch(args.threads), "jax": make_jax}
    loaded = load_frameworks(factories, skip, args.threads)

    # (T, N, d): a Stage-I chunk at the paper's sizes (r = 8, d = 16 and 32, N_pt = 256), then N x10 and x100 at
    # the same token count
    paper = [(256, 256, 16), (256, 256, 32)]
    sizes = paper if args.quick else paper + [(26, 2560, 16), (3, 25600, 16)]
    budget = 2.0
    if args.smoke:
        sizes, budget = [(8, 12, 4)], 0.05
    names = list(loaded)
    print("\nmedian time of one Stage-I gradient (psi, MLP, loss, grad gamma); ratio = median over paired rounds "
          "of time / Numba time")
    print_table_header(f"{'gate':<9} {'T':>5} {'N':>6} {'d':>4}", names, "ms", 10)
    per_token, verdicts = [], []
    for gated, label in ((True, "mamba"), (False, "constant")):
        for T, N, d in sizes:
            case = make_case(T, N, d)
            times, ratios = time_frameworks(loaded, case, gated, budget, f"{label} gate, T={T}, N={N}, d={d}")
            gflops = counted_flops(T, N, d) / times["numba"] / 1e9
            lead = f"{label:<9} {T:>5} {N:>6} {d:>4}"
            print(format_ms_row(lead, times, ratios, names, gflops), flush=True)
            if args.smoke or (T, N, d) in paper:
                verdicts.append(("paired", lead, ratios))
            if gated and d == 16:
                per_token.append((N, {n: t / (T * N) for n, t in times.items()}))
    print_verdicts(verdicts, smoke=args.smoke)
    if len(per_token) > 2:
        fits = cost_exponents(per_token, names)
        print("\ncost per context token vs N at a fixed token count (mamba gate, d = 16; 0 = linear in N): "
              + "  ".join(f"{n}: {v:+.2f}" for n, v in fits.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
