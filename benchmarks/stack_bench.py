#!/usr/bin/env python
"""Time one training step (hinge loss and every block's gradients) of the deep stacks: the outlier stacks of arXiv
2510.00399 Table 1 (3 Mamba or linear-Transformer blocks on a residual stream; ``outliers.stack.stack_grads``) and
of its App. B.1 (3 causal softmax-attention blocks, temperature 1, one head: ``st``) and App. E.6 (3 GLA blocks,
a decay per key coordinate, tau = 16: ``gla``, up to l = 200), and the feature-filtering stack of arXiv 2602.12499 Table 3 (5 selective-SSM blocks and the Eq. 6 head;
``features.stack.stack_grads``): the hand-derived Numba backward pass, the NumPy reference, PyTorch CPU autograd
and JAX jit(value_and_grad), side by side in one run.

    python benchmarks/stack_bench.py            # Table 1's sizes, prompts 10x and 100x longer, Table 3's sizes
    python benchmarks/stack_bench.py --quick    # Table 1's and Table 3's sizes only

Same protocol as benchmarks/step_bench.py: one thread each, float64, every loss and gradient checked equal to
Numba (relative 1e-8) before timing, paired rounds, ratio = median over rounds of time / Numba time.  Sizes: a
training batch of ``scripts/outliers_table1.py`` (B = 64 prompts, l = 20, d = 30, m = 31, 3 blocks), then l = 200
and 2000 at about the same token count (B = 6 and 1; the frameworks' pairwise gate matrix is ``B L (l+1)^2``
doubles), with the fitted exponent of the cost per token in ``l``; then Table 3's full-batch step (``N = 1000``
sequences of ``L = 12`` tokens, majority voting, ``d = 10`` and ``32``, 5 blocks, ``m = 40``).  The frameworks
compute the blocks in the pairwise form with the gate matrix in log space, as one would write them; Numba takes
the pairwise kernels at ``l = 20`` and the scans above (``core.mixer.quadratic_form``), the pairwise ones on the
factored scores ``u_t^T Q u_s`` (``core.stack.block_form``).  Last, the steady state (steps back to back) of both
sizes (``step_bench.print_steady_table``).
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.step_bench import (cost_exponents, format_ms_row, load_frameworks,  # noqa: E402
                                   STACK_TARGETS, parse_bench_arguments, print_steady_table, print_table_header,
                                   print_verdicts, time_frameworks)

BLOCKS = ("W_B", "W_C", "w")


def make_case(B: int, l: int, d: int = 30, layers: int = 3, seed: int = 0, gla: bool = False):
    """``(W_B, W_C, w, P, z)``: Table 1's data and initialisation (:func:`mamba_dynamics.outliers.data.stack_point`);
    ``gla``: ``w`` is GLA's ``W_a`` ``(L, m, D)`` instead, each row drawn as Mamba's ``w`` is."""
    import numpy as np

    from mamba_dynamics.outliers.data import stack_point

    case = stack_point(B, l, d, layers, seed)
    if gla:
        L, m, D = case[0].shape
        case = (case[0], case[1], np.random.default_rng(seed + 1).standard_normal((L, m, D)) / np.sqrt(D)) + \
            tuple(case[3:])
    return case


def _block_flops(T: int, D: int, m: int, gated: bool, first: bool, softmax: bool = False) -> float:
    """Multiply-adds per token of one full block of the Numba step in the form it takes
    (``core.stack.block_form``; softmax blocks: the pairs on ``b``, ``c``): the projections (``K D`` forward, twice
    that backward, once for the first block, which needs no gradient into the tokens; ``K = 2m + 1``, or ``D + 1``
    factored, one less without a gate) and the mixer's pairs (``(T/2)(3D + 3r)``, ``r = D`` factored) or its scans
    (``7 D r``)."""
    from mamba_dynamics.core.stack import block_form

    form = "pairs" if softmax else block_form(T, D, m)
    K = (D if form == "factored" else 2 * m) + int(gated)
    r = D if form == "factored" else m
    mixer = 7 * D * m if form == "scan" else (T / 2) * (3 * D + 3 * r)
    return K * D * (2 if first else 3) + mixer


def counted_flops(B: int, l: int, d: int = 30, layers: int = 3, m: int = 31, gated: bool = True,
                  softmax: bool = False, gla: bool = False) -> float:
    """2 x multiply-adds of the Numba step of an outlier stack, block by block (:func:`_block_flops`).  The last
    block reads out the query: factored, it costs about ``8 D`` per token (the gate's projection, one row of
    scores and outputs, their adjoints, the outer products); a softmax block about ``3 m D + 3 (m + D)`` (every
    token's ``b`` and its adjoint, one row of weights)."""
    from mamba_dynamics.core.stack import block_form

    T, D = l + 1, d + 1
    per_token = 0.0
    for k in range(layers):
        if gla:  # every block scans in full: projections [W_B; W_C; W_a] (3m rows) and 7 D m in the scans
            per_token += 3 * m * D * (2 if k == 0 else 3) + 7 * D * m
        elif k == layers - 1 and softmax:
            per_token += 3 * m * D + 3 * (m + D)
        elif k == layers - 1 and block_form(T, D, m) == "factored":
            per_token += 8 * D
        else:
            per_token += _block_flops(T, D, m, gated, k == 0, softmax)
    return 2.0 * B * T * per_token


def counted_flops_features(N: int, L: int, d: int, layers: int = 5, m: int = 40) -> float:
    """2 x multiply-adds of the Numba step of the feature stack: every block in full (:func:`_block_flops`,
    ``r = d``) and the Eq. 6 head (``Y V^T``, ``dV``, ``Gy``: ``3 m d`` per token)."""
    return 2.0 * N * L * (sum(_block_flops(L, d, d, True, k == 0) for k in range(layers)) + 3 * m * d)


#: the feature stack's trained and checked blocks, in the order of :func:`make_features_case`
FEATURE_BLOCKS = ("W_B", "W_C", "w", "V")
#: the step variant that selects the feature stack (the outlier stacks' variant is ``gated``, a bool, or SOFTMAX)
FEATURES = "features"
#: the step variant of the softmax Transformer's stack (App. B.1)
SOFTMAX = "st"
#: the step variant of the GLA stack (App. E.6: a decay per key coordinate, tau = 16; its w is W_a (L, m, D))
GLA = "gla"
GLA_TAU = 16.0
#: the outlier stacks timed: (variant, label)
OUTLIER_STACKS = ((True, "mamba"), (False, "lt"), (SOFTMAX, "st"), (GLA, "gla"))
#: GLA's frameworks hold its (B, T, T, m) decay products: at l = 2000 that is a gigabyte an array, so its rows stop
#: at l = 200
GLA_MAX_L = 200


def make_features_case(d: int, N: int = 1000, L: int = 12, layers: int = 5, seed: int = 0):
    """``[W_B, W_C, w, V, a, X, y]``: Table 3's data and initialisation
    (:func:`mamba_dynamics.features.data.stack_point`)."""
    from mamba_dynamics.features.data import stack_point

    return stack_point(d, N, L, layers, seed)


def make_numba(reference: bool = False):
    """The package's model objects (the one model interface): the 3-block outlier stacks and the feature stack
    with every block of ``FEATURE_BLOCKS`` trained; each case converted once to ``(params, batch)``."""
    from mamba_dynamics.features import stack as features_stack
    from mamba_dynamics.features.config import FeaturesConfig
    from mamba_dynamics.features.data import Sequences
    from mamba_dynamics.features.models import REGISTRY as FEATURE_MODELS
    from mamba_dynamics.outliers.config import OutlierConfig
    from mamba_dynamics.outliers.data import PromptBatch
    from mamba_dynamics.outliers.models import REGISTRY as OUTLIER_MODELS
    from mamba_dynamics.outliers.stack import StackParams

    models = {}

    def model(gated, L):
        key = (gated, L)
        if key not in models:
            name = gated if gated in (SOFTMAX, GLA) else "mamba" if gated else "lt"
            models[key] = (FEATURE_MODELS.build(FeaturesConfig(model="ssm", layers=L, wbc="trained"))
                           if gated == FEATURES else OUTLIER_MODELS.build(OutlierConfig(model=name, layers=L)))
        return models[key]

    def convert(case):
        if len(case) == 7:  # the feature stack: W_B, W_C, w, V, a, X, y
            W_B, W_C, w, V, a, X, y = case
            return features_stack.StackParams(w, W_B, W_C, V, a), Sequences(X, y), len(w)
        W_B, W_C, w, P, z = case
        return StackParams(W_B, W_C, w), PromptBatch(P, z), len(w)

    def step(args, gated):
        params, batch, L = args
        r = model(gated, L).loss_and_grad(params, batch, reference=reference)
        return r.loss, tuple(r.grads[k] for k in (FEATURE_BLOCKS if gated == FEATURES else BLOCKS))

    return step, convert


def _loss(xp, softplus, gated, W_B, W_C, w, P, z):
    """The stack's hinge loss written once for ``xp`` (torch or jax.numpy): per block an RMSNorm (from block 2
    on), the pairwise form with the gate matrix in log space (``log G_ts = log sig_s + sum_{s<j<=t} log(1 -
    sig_j)``) or, for ``gated == SOFTMAX``, the causal softmax of the scores (the framework's own, masked with
    -inf), a residual add, and the query's label channel at the end."""
    T = P.shape[1]
    low = xp.asarray(__import__("numpy").tril(__import__("numpy").ones((T, T)))) > 0
    X = P
    for k in range(W_B.shape[0]):
        U = X if k == 0 else X / xp.sqrt(xp.mean(X * X, -1, keepdims=True) + 1e-12)  # RMSNorm from block 2 on
        Bp, Cp = U @ W_B[k].T, U @ W_C[k].T
        S = Cp @ xp.swapaxes(Bp, -1, -2)  # S[n, t, s] = c_t . b_s
        if gated == SOFTMAX:
            X = X + _softmax(xp, xp.where(low, S, -float("inf"))) @ U
            continue
        if gated == GLA:  # D[n, t, s, a] = prod_{s<j<=t} sigmoid(t_ja)^(1/tau), in log space, masked before exp
            csum = xp.cumsum(-softplus(-(U @ xp.swapaxes(w[k], -1, -2))) / GLA_TAU, 1)
            logD = csum[:, :, None, :] - csum[:, None, :, :]
            Dg = xp.exp(xp.where(low[None, :, :, None], logD, -float("inf")))
            X = X + xp.einsum("ntsa,nta,nsa->nts", Dg, Cp, Bp) @ U
            continue
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


def _softmax(xp, S):
    """The row softmax of ``S`` with the framework's own function (``torch.softmax``, ``jax.nn.softmax``)."""
    if hasattr(xp, "softmax"):
        return xp.softmax(S, -1)
    import jax

    return jax.nn.softmax(S, -1)


def _blocks(xp, softplus, W_B, W_C, w, X):
    """The selective-SSM stack's last mixer outputs ``Y_L`` for ``xp`` (the blocks of :func:`_loss`, read out at
    the mixer as Table 3's Eq. 6 head does)."""
    T = X.shape[1]
    low = xp.asarray(__import__("numpy").tril(__import__("numpy").ones((T, T)))) > 0
    for k in range(W_B.shape[0]):
        U = X if k == 0 else X / xp.sqrt(xp.mean(X * X, -1, keepdims=True) + 1e-12)
        S = (U @ W_C[k].T) @ xp.swapaxes(U @ W_B[k].T, -1, -2)
        t = U @ w[k]
        cum = xp.cumsum(-softplus(t), -1)
        logG = -softplus(-t)[:, None, :] + cum[:, :, None] - cum[:, None, :]
        Y = (xp.exp(xp.where(low, logG, -float("inf"))) * S) @ U
        X = X + Y
    return Y


def _features_loss(xp, softplus, W_B, W_C, w, V, a, X, y):
    """Table 3's loss for ``xp``: the stack, the Eq. 6 head ``F = mean_l a . relu(V y_l)`` and the hinge."""
    H = _blocks(xp, softplus, W_B, W_C, w, X) @ V.T
    F = (xp.where(H > 0, H, 0.0) @ a).sum(-1) / X.shape[1]
    return xp.mean(xp.where(y * F < 1, 1 - y * F, 0.0))


def make_torch(threads: int):
    import torch
    import torch.nn.functional as tf

    torch.set_num_threads(threads)

    def convert(case):  # the weights (3 for the outlier stacks, 4 for the feature stack) take gradients
        n = len(FEATURE_BLOCKS) if len(case) == 7 else len(BLOCKS)
        return [torch.tensor(a, requires_grad=i < n) for i, a in enumerate(case)]

    def step(args, gated):
        if gated == FEATURES:
            loss, n = _features_loss(torch, tf.softplus, *args), len(FEATURE_BLOCKS)
        else:
            loss, n = _loss(torch, tf.softplus, gated, *args), len(BLOCKS)
        grads = torch.autograd.grad(loss, args[:n], allow_unused=True)
        grads = [torch.zeros_like(a) if g is None else g for a, g in zip(args[:n], grads)]
        return float(loss.detach()), tuple(g.numpy() for g in grads)

    return step, convert


def make_jax():
    import jax
    import jax.numpy as jnp

    jax.config.update("jax_enable_x64", True)
    compiled = {g: jax.jit(jax.value_and_grad(lambda a, b, c, P, z, g=g: _loss(jnp, jax.nn.softplus, g, a, b, c, P, z),
                                              argnums=(0, 1, 2))) for g in (True, False, SOFTMAX, GLA)}
    compiled[FEATURES] = jax.jit(jax.value_and_grad(lambda *a: _features_loss(jnp, jax.nn.softplus, *a),
                                                    argnums=(0, 1, 2, 3)))

    def step(args, gated):
        loss, grads = compiled[gated](*args)
        jax.block_until_ready(grads)
        return float(loss), tuple(jax.device_get(g) for g in grads)

    return step, lambda case: [jnp.asarray(a) for a in case]


def bench_memory(args):
    """The largest case's peak memory: the frameworks' pairwise arrays, a dozen ``(B, T, T)`` per block in
    autograd's graph (GLA: four ``(B, T, T, m)`` decay products per block, up to :data:`GLA_MAX_L`)."""
    from mamba_dynamics.core.resources import Estimate, arrays

    sizes = [(4, 5)] if args.smoke else [(64, 20)] if args.quick else [(64, 20), (6, 200), (1, 2000)]
    per = [arrays((36, B, l + 1, l + 1)) for B, l in sizes]
    per += [arrays((12, B, l + 1, l + 1, 31)) for B, l in sizes if l <= GLA_MAX_L]
    return Estimate({"the frameworks' arrays of the largest case": max(per)},
                    ("the long-sequence rows (--quick leaves them out)",))


def main(argv=None) -> int:
    from mamba_dynamics.core.cli import Parser

    parser = Parser(prog="stack_bench.py", description=__doc__.split("\n\n")[0])
    args, skip = parse_bench_arguments(parser, argv, "Table 1's sizes only", bench_memory)
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
    per_token, verdicts = [], []
    for gated, label in OUTLIER_STACKS:
        for B, l in sizes:
            if gated == GLA and l > GLA_MAX_L:
                continue
            d = 4 if args.smoke else 30
            case = make_case(B, l, d, gla=gated == GLA)
            skip_here = ("numpy",) if l > 500 else ()  # the reference's O(T^3) gate derivative
            times, ratios = time_frameworks(loaded, case, gated, budget, f"{label}, B={B}, l={l}", skip_here)
            flops = counted_flops(B, l, d, m=d + 1, gated=gated is True, softmax=gated == SOFTMAX, gla=gated == GLA)
            gflops = flops / times["numba"] / 1e9
            lead = f"{label:<6} {B:>4} {l:>5}"
            print(format_ms_row(lead, times, ratios, names, gflops), flush=True)
            if (B, l) == sizes[0]:
                verdicts.append(("paired", lead, ratios))
            if gated is True:
                per_token.append((l, {k: t / (B * (l + 1)) for k, t in times.items()}))
    if len(per_token) > 2:
        fits = cost_exponents(per_token, names)
        print("\ncost per token vs l at about the same token count (mamba; 0 = linear in l): "
              + "  ".join(f"{k}: {v:+.2f}" for k, v in fits.items()))
    print("\nTable 3 (arXiv 2602.12499): one full-batch step of the 5-block selective-SSM stack and the Eq. 6 head "
          "(N sequences of L tokens)")
    print_table_header(f"{'model':<8} {'N':>5} {'L':>3} {'d':>3}", names, "ms", 10)
    for N, L, d in ([(6, 4, 3)] if args.smoke else [(1000, 12, 10), (1000, 12, 32)]):
        layers = 2 if args.smoke else 5
        # a round takes 0.1-0.2 s here: three times the budget gives 30-60 rounds, not 10-20
        times, ratios = time_frameworks(loaded, make_features_case(d, N, L, layers), FEATURES, 3 * budget,
                                        f"features, N={N}, L={L}, d={d}")
        gflops = counted_flops_features(N, L, d, layers) / times["numba"] / 1e9
        lead = f"{'features':<8} {N:>5} {L:>3} {d:>3}"
        print(format_ms_row(lead, times, ratios, names, gflops), flush=True)
        verdicts.append(("paired", lead, ratios))
    B, l = sizes[0]
    d = 4 if args.smoke else 30
    verdicts += print_steady_table(loaded, [(f"{label:<6}", make_case(B, l, d, gla=gated == GLA), gated)
                                            for gated, label in OUTLIER_STACKS],
                                   3 if args.smoke else 40, f"at B={B}, l={l}")
    features = [(6, 4, 3)] if args.smoke else [(1000, 12, 10), (1000, 12, 32)]
    verdicts += print_steady_table(loaded, [(f"features d={d:<3}", make_features_case(d, N, L, 2 if args.smoke else 5),
                                             FEATURES) for N, L, d in features], 2 if args.smoke else 10,
                                   "of Table 3's step")
    print_verdicts(verdicts, STACK_TARGETS, args.smoke)  # issue 15's target for the stacks: 2x JAX
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
