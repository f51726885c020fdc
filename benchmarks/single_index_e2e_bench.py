#!/usr/bin/env python
"""Time one training step's loss and every gradient of the end-to-end single-index networks (arXiv 2510.12026;
``single_index.network_gradients.loss_grad``): the context as quadratic forms in BLAS and Numba, the NumPy
reference (explicit embedding, full gate Jacobian), PyTorch CPU autograd and JAX jit(value_and_grad), side by side
in one run.

    python benchmarks/single_index_e2e_bench.py            # the experiment's sizes (d = 16, 32), then 10x longer
    python benchmarks/single_index_e2e_bench.py --quick    # the experiment's sizes only

Same protocol as benchmarks/step_bench.py: one thread each, float64, every loss and gradient checked equal to
Numba (relative 1e-8) before timing, paired rounds, ratio = median over rounds of time / Numba time.  Sizes are a
training batch of the reproduction (``scripts/single_index_e2e.py``): 64 prompts x 4 queries, ``m_s = m = 64``,
Hermite tokens, at the mean training context N = 87 (log-uniform on [16, 256]) and at N = 256; then N = 2560 and
25 600 at about the same token count, with the fitted exponent of the cost per context token in N.  Last, the
steady state at the training sizes: each framework ten steps in a row per round (``step_bench.steady_times``).
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.single_index_bench import _flip, _triu  # noqa: E402
from benchmarks.step_bench import (cost_exponents, format_ms_row, load_frameworks,  # noqa: E402
                                   parse_bench_arguments, print_steady_table, print_table_header, print_verdicts,
                                   time_frameworks)

BLOCKS = ("W_B", "W_C", "w", "b", "v", "c", "a")


#: the networks timed, by their mixer (``NetworkConfig.gate``): the Mamba gate, linear attention (G = 1/N) and
#: softmax attention (temperature sqrt(state), the config's default)
GATES = ("mamba", "constant", "softmax")


def blocks_of(gate: str) -> tuple:
    """The blocks with a gradient (linear and softmax attention have no gate)."""
    return BLOCKS if gate == "mamba" else ("W_B", "W_C", "v", "c", "a")


def make_case(n: int, N: int, d: int, Q: int = 4, seed: int = 0):
    """``(params, (Xc, Yc, Xq, yq))`` of a trained-like network: the reproduction's initialisation, with the
    gate's weights perturbed so that every gate gradient is non-trivial."""
    import numpy as np

    from mamba_dynamics.single_index.config import NetworkConfig
    from mamba_dynamics.single_index.data import task
    from mamba_dynamics.single_index.network_train import draw_batch, init_params

    cfg = NetworkConfig(d=d, r=min(8, d), seed=seed)
    I, coefs = task(cfg)
    rng = np.random.default_rng(seed)
    params = init_params(cfg, rng)
    params.w += rng.standard_normal(params.w.shape) * 0.05
    Xc, Yc, Xq, yq, _ = draw_batch(cfg, I, coefs, n, N, Q, rng)
    return params, (Xc, Yc, Xq, yq)


def counted_flops(n: int, N: int, d: int, Q: int = 4, ms: int = 64, m: int = 64, gate: str = "mamba") -> float:
    """2 x multiply-adds of the Numba step (Hermite tokens as quadratic forms of ``x~ = (x, 1)``, ``e = d + 1``):
    per context token the moment ``x~ x~^T`` of ``A`` (``e^2``), and with a gate ``X~ T_w`` and its row dot
    (``e^2 + e``) forward, ``X~ T_U``, its row dot and the adjoint's moment (``2 e^2 + e``); per query the
    embedding's cross products, ``W_C z_q`` and its gradient; per prompt ``W_B A``, ``W_B^T Gamma``, ``dW_B`` and,
    gated, the quadratic form of ``U_p``; the MLP (``4 m`` per query).  Softmax attention: the scores ``z_i . u_q``
    and ``U_q = sum_i e_i z_i`` (``2 D`` per context token and query; the context is never projected), per query
    ``c_q = W_C z_q``, ``u_q = W_B^T c_q``, ``dW_B``, ``W_B U_q`` and ``dW_C`` (``5 m_s D``) and the MLP."""
    D = (d + 1) * (d + 2) // 2 + 1
    e = d + 1
    if gate == "softmax":
        return 2.0 * (n * N * Q * 2 * D + n * Q * (5 * ms * D + D + 4 * m))
    gated = gate == "mamba"
    ctx = n * N * ((4 * e * e + 2 * e) if gated else e * e)
    return 2.0 * (ctx + n * Q * (d * (d - 1) / 2 + 2 * ms * D + 4 * m) + 3 * n * ms * D)


def make_numba(reference: bool = False):
    """The package's model objects (the one model interface), one per gate."""
    from mamba_dynamics.single_index.config import NetworkConfig
    from mamba_dynamics.single_index.models import REGISTRY
    from mamba_dynamics.single_index.network_gradients import NetworkBatch

    models = {g: REGISTRY.build(NetworkConfig(gate=g, tokens="hermite")) for g in GATES}

    def step(args, gate):
        params, batch = args
        r = models[gate].loss_and_grad(params, batch, reference=reference)
        return r.loss, tuple(r.grads[k] for k in blocks_of(gate))

    return step, lambda case: (case[0], NetworkBatch(*case[1]))


def _loss(xp, softplus, gate, data, W_B, W_C, w, b, v, c, a):
    """The end-to-end loss written once for ``xp`` (torch or jax.numpy): explicit Hermite tokens, log-space
    gates (a reverse cumulative sum), one shared context statistic per prompt; or, for softmax attention, each
    query's softmax over its context and itself."""
    Xc, Yc, Xq, yq = data
    n, N, d = Xc.shape
    iu, ju = (xp.asarray(i) for i in _triu(d))

    def tokens(X, y):
        one = xp.ones(X.shape[:-1] + (1,), dtype=X.dtype)
        return xp.concatenate([one, X, (X**2 - 1) / 2**0.5, X[..., iu] * X[..., ju], y[..., None]], -1)

    Zc, Zq = tokens(Xc, Yc), tokens(Xq, xp.zeros(Xq.shape[:-1], dtype=Xq.dtype))
    if gate == "softmax":
        tau = math.sqrt(W_B.shape[0])
        Cq = Zq @ W_C.T
        S = xp.concatenate([Cq @ xp.swapaxes(Zc @ W_B.T, 1, 2), ((Zq @ W_B.T) * Cq).sum(-1)[..., None]], -1) / tau
        if xp.__name__ == "torch":
            A = xp.softmax(S, -1)
        else:
            import jax

            A = jax.nn.softmax(S, -1)
        M = (A[..., :N] * Yc[:, None, :]).sum(-1)
        f = xp.maximum(M[..., None] * v + c, xp.zeros((), dtype=Xc.dtype)) @ a
        return 0.5 * xp.mean((f - yq) ** 2)
    if gate == "mamba":
        s = Zc @ w + b[0] - math.log(N)
        later = _flip(xp, xp.cumsum(_flip(xp, -softplus(s)), -1)) + softplus(s)  # sum_{j > i} log sig(-s_j)
        G = xp.exp(-softplus(-s) + later)
        kappa = xp.exp(-softplus(Zq @ w + b[0] - math.log(N)))
    else:
        G = xp.ones((n, N), dtype=Xc.dtype) / N
        kappa = xp.ones(Zq.shape[:2], dtype=Xc.dtype)
    A = xp.einsum("ni,nik->nk", G * Yc, Zc)
    M = kappa * xp.einsum("nqs,ns->nq", Zq @ W_C.T, A @ W_B.T)
    f = xp.maximum(M[..., None] * v + c, xp.zeros((), dtype=Xc.dtype)) @ a
    return 0.5 * xp.mean((f - yq) ** 2)


def make_torch(threads: int):
    import torch
    import torch.nn.functional as tf

    torch.set_num_threads(threads)

    def convert(case):
        params, data = case
        return ([torch.tensor(getattr(params, k), requires_grad=True) for k in BLOCKS],
                tuple(torch.tensor(x) for x in data))

    def step(args, gate):
        weights, data = args
        loss = _loss(torch, tf.softplus, gate, data, *weights)
        used = [weights[BLOCKS.index(k)] for k in blocks_of(gate)]
        grads = torch.autograd.grad(loss, used)
        return float(loss.detach()), tuple(g.numpy() for g in grads)

    return step, convert


def make_jax():
    import jax
    import jax.numpy as jnp

    jax.config.update("jax_enable_x64", True)

    def fn(gate):
        def loss(weights, data):
            return _loss(jnp, jax.nn.softplus, gate, data, *weights)

        return jax.jit(jax.value_and_grad(loss))

    compiled = {g: fn(g) for g in GATES}

    def convert(case):
        params, data = case
        return tuple(jnp.asarray(getattr(params, k)) for k in BLOCKS), tuple(jnp.asarray(x) for x in data)

    def step(args, gate):
        weights, data = args
        loss, grads = compiled[gate](weights, data)
        jax.block_until_ready(grads)
        return float(loss), tuple(jax.device_get(grads[BLOCKS.index(k)]) for k in blocks_of(gate))

    return step, convert


def main(argv=None) -> int:
    from mamba_dynamics.core.cli import Parser

    parser = Parser(prog="single_index_e2e_bench.py", description=__doc__.split("\n\n")[0])
    args, skip = parse_bench_arguments(parser, argv, "the experiment's sizes only")
    factories = {"numba": make_numba, "numpy": lambda: make_numba(reference=True),
                 "torch": lambda: make_torch(args.threads), "jax": make_jax}
    loaded = load_frameworks(factories, skip, args.threads)
    paper = [(64, 87, 16), (64, 256, 16), (64, 87, 32), (64, 256, 32)]
    # then N x10 and x100 at about the same token count (the NumPy reference's (n, N, N) gate Jacobian is skipped
    # above N = 5000: 5 GB at N = 25 600)
    sizes = paper if args.quick else paper + [(6, 2560, 16), (1, 25600, 16)]
    budget = 2.0
    if args.smoke:
        sizes, budget = [(4, 6, 3)], 0.05
    names = list(loaded)
    print("\nmedian time of one training step (loss and every gradient); ratio = median over paired rounds of "
          "time / Numba time")
    print_table_header(f"{'gate':<9} {'n':>4} {'N':>6} {'d':>4}", names, "ms", 10)
    per_token, verdicts = [], []
    for label in GATES:
        for n, N, d in sizes:
            skip = ("numpy",) if N > 5000 else ()
            times, ratios = time_frameworks(loaded, make_case(n, N, d), label, budget,
                                            f"{label} gate, n={n}, N={N}, d={d}", skip)
            gflops = counted_flops(n, N, d, gate=label) / times["numba"] / 1e9
            lead = f"{label:<9} {n:>4} {N:>6} {d:>4}"
            print(format_ms_row(lead, times, ratios, names, gflops), flush=True)
            if args.smoke or (n, N, d) in paper:
                verdicts.append(("paired", lead, ratios))
            if label == "mamba" and d == 16 and N >= 256:
                per_token.append((N, {k: t / (n * N) for k, t in times.items()}))
    verdicts += print_steady_table(loaded, [(f"{label:<9} {n:>4} {N:>6} {d:>4}", make_case(n, N, d), label)
                                            for label in GATES for n, N, d in (sizes[:1] if args.smoke else paper)],
                                   2 if args.smoke else 6, "at the training sizes")
    print_verdicts(verdicts, smoke=args.smoke)
    if len(per_token) > 2:
        fits = cost_exponents(per_token, names)
        print("\ncost per context token vs N at about the same token count (mamba gate, d = 16; 0 = linear in N): "
              + "  ".join(f"{k}: {v:+.2f}" for k, v in fits.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
