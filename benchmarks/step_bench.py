#!/usr/bin/env python
"""Time one training step (hinge loss + all gradients) of every model: hand-derived Numba kernel vs NumPy
reference vs PyTorch CPU autograd vs JAX jit(value_and_grad), side by side in one run.

    python benchmarks/step_bench.py                # full table, scaling study, compile times
    python benchmarks/step_bench.py --quick        # paper sizes only
    pip install -e .[bench]                        # torch and jax (optional; missing ones are skipped)

Every framework gets the same float64 inputs and single-threaded execution (``--threads``); results are checked
equal to the Numba kernel before any timing; each time is the median of repeated calls after warm-up.
Also printed: the cost-vs-prompt-length exponent of the Numba step (fitted on log-log axes; O(l) expected),
achieved GFLOP/s against a counted FLOP figure and as a share of the core's measured peak (:func:`core_peak`),
first-call compile time with and without the Numba cache, the gate's exp options (``gate_exp_study``: speed
and accuracy of libm, of a Numba loop compiled with the ``afn`` fast-math flag alone, of NumPy's SIMD exp and of
the kernel's vectorisable polynomial), and the steady state at the paper's sizes (:func:`steady_times`:
each framework ten steps in a row per round, as a training loop runs them; the paired rounds time each step in
the state the other frameworks leave the core in).  Every benchmark script ends with the run's verdict on issue
17's targets at the papers' sizes (:func:`print_verdicts`: 2x JAX and 4x PyTorch for the one-layer steps, 2x
JAX for the stacks), paired and steady, each ratio marked ``met`` or ``MISSED``.
"""

from __future__ import annotations

import math
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def pin_threads(n: int) -> None:
    """Pin every framework to ``n`` threads through the environment, for the libraries not loaded yet (torch,
    jax, SciPy's OpenBLAS).  NumPy's OpenBLAS is loaded by then (the package's imports load it before the
    arguments are parsed) and kept its default of one thread per core until :func:`load_frameworks` began to pin
    every loaded BLAS with threadpoolctl."""
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
        os.environ[var] = str(n)
    flags = os.environ.get("XLA_FLAGS", "")
    os.environ["XLA_FLAGS"] = (flags + f" --xla_cpu_multi_thread_eigen={'true' if n > 1 else 'false'} "
                               f"intra_op_parallelism_threads={n}").strip()
    os.environ.setdefault("JAX_PLATFORMS", "cpu")


# ---------------------------------------------------------------------------------------------- frameworks


#: the models timed, by ``--model`` name: Mamba (eq. 3), the linear Transformer and the softmax Transformer (App.
#: B.1's model at one layer, one head, temperature 1: :class:`mamba_dynamics.outliers.models.SoftmaxOneLayer`)
MODELS = ("mamba", "lt", "st", "mamba2", "gret", "retnet", "gla")
#: the gates' settings in every framework (the config defaults: tau = 16, RetNet's gamma = 1 - 2^-5)
TAU, GAMMA = 16.0, 1.0 - 2.0 ** -5


def _models() -> dict:
    """The package's model objects (the one model interface) by name."""
    from mamba_dynamics.outliers.config import OutlierConfig
    from mamba_dynamics.outliers.models import REGISTRY

    return {m: REGISTRY.build(OutlierConfig(model=m)) for m in MODELS}


def _as_batch(a):
    """``(W_B, W_C, w, P, z)`` -> the one-layer models' ``(params, batch)``."""
    from mamba_dynamics.outliers.data import PromptBatch
    from mamba_dynamics.outliers.model import Params

    return Params(*a[:3]), PromptBatch(*a[3:])


def make_numba(reference: bool = False):
    models = _models()

    def step(args, model):
        r = models[model].loss_and_grad(*args, reference=reference)
        return r.loss, (r.grads["W_B"], r.grads["W_C"], r.grads["w"])

    return step, _as_batch


def make_numpy():
    return make_numba(reference=True)


def make_torch(threads: int):
    import torch
    import torch.nn.functional as tf

    torch.set_num_threads(threads)

    def loss_fn(W_B, W_C, w, P, z, model):
        ctx, pq = P[:, :-1], P[:, -1]
        if model == "st":  # softmax over the examples and the query itself (label 0), temperature 1
            A = torch.softmax(torch.einsum("bid,bd->bi", P, (pq @ W_C.T) @ W_B), -1)
            F = (A[:, :-1] * ctx[..., -1]).sum(1)
            return torch.clamp(1 - z * F, min=0).mean()
        if model == "gla":  # decays sigmoid(W_a p)^(1/tau) per key coordinate, products from the query back
            la = -tf.softplus(-(P @ w.T)) / TAU  # (B, l+1, m)
            logD = torch.flip(torch.cumsum(torch.flip(la, [1]), 1), [1])[:, 1:]
            F = torch.einsum("bi,bia,bia,ba->b", ctx[..., -1], torch.exp(logD), ctx @ W_B.T, pq @ W_C.T)
            return torch.clamp(1 - z * F, min=0).mean()
        s = torch.einsum("bid,bd->bi", ctx, (pq @ W_C.T) @ W_B)
        if model in ("mamba", "mamba2", "gret", "retnet"):
            t = P @ w
            la, lam = {"mamba": (-tf.softplus(-t), -tf.softplus(t)), "mamba2": (torch.log(tf.softplus(t)),
                                                                                 -tf.softplus(t)),
                       "gret": (0.0 * t, -tf.softplus(-t) / TAU),
                       "retnet": (0.0 * t.detach(), torch.full_like(t.detach(), math.log(GAMMA)))}[model]
            suffix = torch.flip(torch.cumsum(torch.flip(lam, [-1]), -1), [-1])
            G = torch.exp(la[:, :-1] + suffix[:, 1:])
            F = (G * ctx[..., -1] * s).sum(1)
        else:
            F = (ctx[..., -1] * s).sum(1)
        return torch.clamp(1 - z * F, min=0).mean()

    def convert(args):
        W_B, W_C, w, P, z = (torch.tensor(a, dtype=torch.float64) for a in args)
        return [W_B.requires_grad_(), W_C.requires_grad_(), w.requires_grad_(), P, z]

    def step(targs, model):
        loss = loss_fn(*targs, model)
        gB, gC, gw = torch.autograd.grad(loss, targs[:3], allow_unused=True)
        gw = torch.zeros_like(targs[2]) if gw is None else gw
        return float(loss.detach()), (gB.detach().numpy(), gC.detach().numpy(), gw.detach().numpy())

    return step, convert


def make_jax():
    import jax
    import jax.numpy as jnp

    jax.config.update("jax_enable_x64", True)

    def loss_fn(W_B, W_C, w, P, z, model):
        ctx, pq = P[:, :-1], P[:, -1]
        if model == "st":
            A = jax.nn.softmax(jnp.einsum("bid,bd->bi", P, (pq @ W_C.T) @ W_B), -1)
            F = (A[:, :-1] * ctx[..., -1]).sum(1)
            return jnp.mean(jnp.maximum(1 - z * F, 0.0))
        if model == "gla":
            la = -jax.nn.softplus(-(P @ w.T)) / TAU
            logD = jnp.flip(jnp.cumsum(jnp.flip(la, 1), 1), 1)[:, 1:]
            F = jnp.einsum("bi,bia,bia,ba->b", ctx[..., -1], jnp.exp(logD), ctx @ W_B.T, pq @ W_C.T)
            return jnp.mean(jnp.maximum(1 - z * F, 0.0))
        s = jnp.einsum("bid,bd->bi", ctx, (pq @ W_C.T) @ W_B)
        if model in ("mamba", "mamba2", "gret", "retnet"):
            t = P @ w
            la, lam = {"mamba": (-jax.nn.softplus(-t), -jax.nn.softplus(t)),
                       "mamba2": (jnp.log(jax.nn.softplus(t)), -jax.nn.softplus(t)),
                       "gret": (jnp.zeros_like(t), -jax.nn.softplus(-t) / TAU),
                       "retnet": (jnp.zeros_like(t), jnp.full_like(t, math.log(GAMMA)))}[model]
            suffix = jnp.flip(jnp.cumsum(jnp.flip(lam, -1), -1), -1)
            G = jnp.exp(la[:, :-1] + suffix[:, 1:])
            F = (G * ctx[..., -1] * s).sum(1)
        else:
            F = (ctx[..., -1] * s).sum(1)
        return jnp.mean(jnp.maximum(1 - z * F, 0.0))

    compiled = {m: jax.jit(jax.value_and_grad(lambda a, b, c, P, z, m=m: loss_fn(a, b, c, P, z, m), argnums=(0, 1, 2)))
                for m in MODELS}

    def convert(args):
        return [jnp.asarray(a) for a in args]

    def step(jargs, model):
        loss, grads = compiled[model](*jargs)
        jax.block_until_ready(grads)
        return float(loss), tuple(jax.device_get(g) for g in grads)

    return step, convert


# ---------------------------------------------------------------------------------------------- workload


def make_case(B: int, l: int, d: int, seed: int = 0, model: str = "mamba"):
    """Paper-like inputs: W_B, W_C ``(d+1, d+1)``, w ``(d+1,)`` (GLA's ``W_a`` ``(d+1, d+1)``), P ``(B, l+1, d+1)``
    with +-1 labels, z ``(B,)``."""
    import numpy as np

    rng = np.random.default_rng(seed)
    D, m = d + 1, d + 1
    W_B = np.eye(m, D) * 0.2 + 0.02 * rng.standard_normal((m, D))
    W_C = np.eye(m, D) * 0.2 + 0.02 * rng.standard_normal((m, D))
    w = rng.standard_normal(D) / np.sqrt(D)
    P = rng.standard_normal((B, l + 1, D))
    P[:, :l, -1] = np.where(rng.random((B, l)) < 0.5, 1.0, -1.0)
    P[:, l, -1] = 0.0
    z = np.where(rng.random(B) < 0.5, 1.0, -1.0)
    if model == "gla":
        w = np.random.default_rng(seed + 1).standard_normal((m, D)) / np.sqrt(D)
    return W_B, W_C, w, P, z


def counted_flops(B: int, l: int, d: int, active: int, gated: bool, vector: bool = False) -> float:
    """Multiply-adds x 2 of the Numba step, transcendentals not counted (the softmax Transformer's counted as the
    linear Transformer's: the same score and weight products).  Per token: score (and gate
    pre-activation) 2D (4D) forward, 2D (4D) backward on active prompts.  Weight products: with ``B > D``,
    ``A = W_B^T W_C``, ``V = P_q A^T``, ``M = sum g p_q r^T``, ``W_C M``, ``W_B M^T`` (6mD^2 + 4BD^2); else five
    ``(B, m, D)`` products (10BmD).  GLA (``vector``): the key and gate projections ``4 m D`` per token, the output
    ``3 m`` per example, the coefficients ``6 m`` per token of an active prompt, two gradient products ``4 m D``
    per token and ``W_C``'s ``2 B m D``."""
    D = m = d + 1
    if vector:
        return float(B * (l + 1) * 8 * m * D + B * l * 3 * m + active * (l + 1) * 6 * m + 2 * B * m * D)
    per_token = 4 if gated else 2
    tokens = B * (l + 1) * per_token * D + active * (l + 1) * per_token * D
    weights = 6 * m * D * D + 4 * B * D * D if D < B else 10 * B * m * D
    return float(tokens + weights)


def median_time(fn, min_total: float = 0.3, max_reps: int = 200, warmup: int = 3) -> float:
    """Median wall time of ``fn`` after ``warmup`` calls."""
    for _ in range(warmup):
        fn()
    times = []
    t_start = time.perf_counter()
    while len(times) < max_reps and (time.perf_counter() - t_start < min_total or len(times) < 5):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    times.sort()
    return times[len(times) // 2]


#: untimed pause after each call of :func:`paired_times`, as a fraction of that call's time (``--settle``)
SETTLE = {"fraction": 0.0}


def paired_times(fns: dict, min_total: float = 2.0, max_rounds: int = 400, warmup: int = 3) -> tuple[dict, dict]:
    """Side-by-side timing: every round calls each function once (in turn), so all see the same machine state.
    With ``--settle F`` each call is followed by an untimed pause of ``F`` times its duration (at most 0.1 s),
    so that work a framework leaves running in its own threads after it returns (JAX does: measured in
    docs/performance_history.md, "Deep stacks") finishes before the next call is timed.  Returns (median time per name,
    median over rounds of time / time of the first name)."""
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    names = list(fns)
    rounds = {n: [] for n in names}
    t_start = time.perf_counter()
    while len(rounds[names[0]]) < max_rounds and (time.perf_counter() - t_start < min_total
                                                  or len(rounds[names[0]]) < 7):
        for n in names:
            t0 = time.perf_counter()
            fns[n]()
            rounds[n].append(time.perf_counter() - t0)
            if SETTLE["fraction"] > 0:
                time.sleep(min(0.1, SETTLE["fraction"] * rounds[n][-1]))
    import numpy as np

    med = {n: float(np.median(v)) for n, v in rounds.items()}
    ref = np.asarray(rounds[names[0]])
    ratio = {n: float(np.median(np.asarray(v) / ref)) for n, v in rounds.items()}
    return med, ratio


def print_table_header(lead: str, names: list, unit: str, width: int) -> None:
    """Print the column header of a timing table (``lead`` = the formatted size columns, then one time column per
    framework in ``unit``, one ratio column per framework other than Numba, Numba's GFLOP/s and its share of the
    core's measured peak, :func:`core_peak`) and a rule under it."""
    head = (lead + "  " + " ".join(f"{n + ' ' + unit:>{width}}" for n in names) + "  " +
            " ".join(f"{n + '/numba':>12}" for n in names if n != "numba") + f"  {'GFLOP/s':>8} {'%peak':>6}")
    print(head)
    print("-" * len(head))


def rate_cells(gflops: float) -> str:
    """The last two columns of a row: Numba's counted GFLOP/s and its percentage of :data:`PEAK` (``-`` when the
    peak was not measured)."""
    peak = PEAK["gflops"]
    return f"  {gflops:>8.2f} " + (f"{100.0 * gflops / peak:>6.1f}" if peak else f"{'-':>6}")


def format_ms_row(lead: str, times: dict, ratios: dict, names: list, gflops: float) -> str:
    """One row under :func:`print_table_header` (unit ms, width 10): the times, the ratios to Numba, the
    GFLOP/s and the share of the peak; a framework skipped at this size shows ``-``."""
    return (lead + "  " + " ".join(f"{times[n] * 1e3:>10.2f}" if n in times else f"{'-':>10}" for n in names)
            + "  " + " ".join(f"{ratios[n]:>12.2f}" if n in ratios else f"{'-':>12}" for n in names if n != "numba")
            + rate_cells(gflops))


#: the core's measured double-precision peak in GFLOP/s (:func:`core_peak`, set by :func:`load_frameworks`)
PEAK = {"gflops": None}


def core_peak(n: int = 1024, reps: int = 5) -> float:
    """The core's practical float64 peak: GFLOP/s of NumPy's BLAS on one ``n x n`` by ``n x n`` product (``2 n^3``
    flops), the median of ``reps`` after one warm-up, under the thread limit in force (one thread in the
    benchmarks).  It measures the BLAS kernels that run (AVX-512 or AVX2, "BLAS kernels and threads" in
    docs/performance_history.md), so the share of it is what the same machine reaches on large products."""
    import numpy as np

    rng = np.random.default_rng(0)
    A, B = rng.standard_normal((n, n)), rng.standard_normal((n, n))
    C = np.empty((n, n))
    np.matmul(A, B, out=C)
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter()
        np.matmul(A, B, out=C)
        ts.append(time.perf_counter() - t0)
    return 2.0 * n**3 / float(np.median(ts)) / 1e9


def cost_exponents(rows: list, names: list) -> dict:
    """Fitted exponent of the cost per token in the length, ``{framework: slope of log(time) on log(length)}``,
    from ``rows = [(length, {framework: time per token})]``, for the frameworks timed at every length."""
    import numpy as np

    lengths = np.log(np.array([r[0] for r in rows], dtype=float))
    return {n: float(np.polyfit(lengths, np.log([r[1][n] for r in rows]), 1)[0])
            for n in names if all(n in r[1] for r in rows)}


def time_frameworks(loaded: dict, case, variant, budget: float, where: str, skip=()) -> tuple[dict, dict]:
    """Convert ``case`` for every loaded framework (``{name: (step, convert)}``, Numba first), run one step each
    and stop with a message naming ``where`` if any disagrees with Numba, then time them side by side
    (:func:`paired_times`).  ``variant`` is passed to every step (the model)."""
    results, fns = {}, {}
    for name, (step, convert) in loaded.items():
        if name in skip:
            continue
        conv = convert(case)
        results[name] = step(conv, variant)
        if name != "numba" and not agree(results["numba"], results[name]):
            raise SystemExit(f"{name} disagrees with the Numba kernel at {where}")
        fns[name] = (lambda step=step, conv=conv: step(conv, variant))
    return paired_times(fns, min_total=budget)


def steady_times(loaded: dict, case, variant, rounds: int, burst: int = 10) -> dict:
    """Each framework ``burst`` steps in a row per round (as in a training loop, where a step follows a step of
    the same code), in turn, over ``rounds`` rounds; the median over rounds of the median of each burst's last
    ``burst - 2`` steps, in seconds (the NumPy reference is left out).  The paired rounds of
    :func:`time_frameworks` time one step after the other frameworks' steps instead, in the state they leave the
    core in (docs/performance_history.md, "Two ways to time a step")."""
    import time

    import numpy as np

    fns = {}
    for name, (step, convert) in loaded.items():
        if name != "numpy":
            conv = convert(case)
            fns[name] = (lambda step=step, conv=conv: step(conv, variant))
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


def steady_cells(med: dict) -> str:
    """``numba 1.23  torch 4.56 (3.71x)  ...``: the steady-state medians in ms and their ratios to Numba."""
    return "  ".join(f"{k} {v * 1e3:.2f}" + ("" if k == "numba" else f" ({v / med['numba']:.2f}x)")
                     for k, v in med.items())


def print_steady_table(loaded: dict, rows, rounds: int, where: str) -> list:
    """Print the steady-state table ``where`` (e.g. "at the paper's sizes"): one line ``steady <lead>  numba ...``
    per ``(lead, case, variant)`` of ``rows`` (:func:`steady_times` over ``rounds`` rounds, :func:`steady_cells`).
    Returns ``[("steady", lead, {framework: time / Numba time})]`` for :func:`print_verdicts`."""
    print(f"\nsteady state {where}: each framework 10 steps in a row per round, in turn ({rounds} rounds); median ms "
          "and ratio of medians to Numba")
    out = []
    for lead, case, variant in rows:
        med = steady_times(loaded, case, variant, rounds)
        print(f"steady {lead}  " + steady_cells(med), flush=True)
        out.append(("steady", lead, {k: v / med["numba"] for k, v in med.items() if k != "numba"}))
    return out


#: issue 17's targets for the one-layer kernels at the papers' sizes: the Numba step at least this many times as
#: fast as each framework's
TARGETS = {"jax": 2.0, "torch": 4.0}
#: issue 15's target for the deep stacks
STACK_TARGETS = {"jax": 2.0}


def print_verdicts(rows: list, targets: dict = TARGETS, smoke: bool = False) -> None:
    """The run's verdict on ``targets`` (``{framework: least ratio}``): one line per ``(kind, lead, ratios)`` of
    ``rows`` (``kind`` "paired" or "steady"; ``ratios`` ``{framework: time / Numba time}``), each framework's ratio
    followed by ``met`` or ``MISSED``; a framework that did not run is left out.  ``smoke``: the rows are the smoke
    sizes, which the header says (the targets are for the papers' sizes)."""
    goal = ", ".join(f"{v:g}x {k}" for k, v in targets.items())
    where = "the smoke sizes (the targets are for the papers' sizes)" if smoke else "the papers' sizes"
    print(f"\ntargets ({goal}) at {where}, this run:")
    for kind, lead, ratios in rows:
        cells = [f"{fw} {ratios[fw]:.2f}x {'met' if ratios[fw] >= t else 'MISSED'}"
                 for fw, t in targets.items() if fw in ratios]
        print(f"verdict {kind:<6} {lead}  " + "  ".join(cells), flush=True)


def agree(ref, other, rtol: float = 1e-8) -> bool:
    import numpy as np

    (l1, g1), (l2, g2) = ref, other
    if not np.isclose(l1, l2, rtol=rtol, atol=1e-12):
        return False
    for a, b in zip(g1, g2):
        scale = max(np.max(np.abs(a)), 1e-300)
        if np.max(np.abs(np.asarray(a) - np.asarray(b))) > rtol * scale:
            return False
    return True


def compile_times() -> dict:
    """First-call time of the Numba step in fresh interpreters: empty cache dir (compile) vs warm cache dir."""
    code = ("import time, numpy as np, sys; sys.path.insert(0, %r); "
            "from benchmarks.step_bench import make_case; from mamba_dynamics.outliers.gradients import hinge_grads; "
            "a = make_case(8, 5, 4); t = time.perf_counter(); hinge_grads(*a, True); "
            "print(time.perf_counter() - t)") % str(ROOT)
    out = {}
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache)
        for label in ("no cache (compile)", "with cache"):
            res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=600)
            out[label] = float(res.stdout.strip().splitlines()[-1]) if res.returncode == 0 else float("nan")
    return out


def parse_bench_arguments(parser, argv, quick_help: str, memory=None):
    """Add and parse the flags every benchmark script shares (``--quick``, ``--smoke``, ``--threads``, ``--skip``,
    ``--max-memory``), check them (one-line error, exit 2), and pin the threads; returns ``(args, frameworks to
    skip)``.  ``memory(args)``: the bench's largest case's peak memory (an
    :class:`~mamba_dynamics.core.resources.Estimate`: the frameworks' arrays, which are larger than Numba's),
    refused with one line above the limit before anything is timed."""
    from mamba_dynamics.core.resources import add_memory_argument, check_fits

    add_memory_argument(parser)
    parser.add_argument("--quick", action="store_true", help=quick_help)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes and short timings (checks the script runs)")
    parser.add_argument("--threads", type=int, default=1, help="threads for every framework")
    parser.add_argument("--skip", default="", help="comma-separated frameworks to skip (numpy,torch,jax)")
    parser.add_argument("--settle", type=float, default=0.0,
                        help="untimed pause after each timed call, as a fraction of its time (default 0)")
    args = parser.parse_args(argv)
    if args.threads < 1:
        parser.error(f"--threads must be a positive integer, got {args.threads}")
    if not 0.0 <= args.settle <= 10.0:
        parser.error(f"--settle must be between 0 and 10, got {args.settle}")
    SETTLE["fraction"] = args.settle
    skip = set(filter(None, args.skip.split(",")))
    if skip - {"numpy", "torch", "jax"}:
        parser.error(f"--skip takes numpy, torch, jax; got {', '.join(sorted(skip - {'numpy', 'torch', 'jax'}))}")
    if memory is not None:
        check_fits(parser, args, memory(args), "this benchmark's largest case")
    pin_threads(args.threads)
    return args, skip


def load_frameworks(factories: dict, skip: set, threads: int) -> dict:
    """``{name: factory()}`` for every framework not in ``skip`` whose libraries import; prints the machine line
    and one ``skipped:`` line per framework that is not installed."""
    import numpy as np

    loaded, missing = {}, []
    for name, factory in factories.items():
        if name in skip:
            continue
        try:
            loaded[name] = factory()
        except ImportError as exc:
            missing.append(f"{name} ({exc.name} not installed: pip install -e .[bench])")
    from threadpoolctl import threadpool_limits

    from mamba_dynamics.core.blas import summary

    threadpool_limits(threads)  # every BLAS loaded so far: NumPy's (loaded before pin_threads) and SciPy's
    print(f"machine: {cpu_name()}, {os.cpu_count()} logical cores; {threads} thread(s) per framework; "
          f"python {platform.python_version()}, numpy {np.__version__}")
    print(summary())
    from mamba_dynamics.core.simd import simd_summary

    print(simd_summary())
    print(framework_isa(loaded))
    PEAK["gflops"] = core_peak()
    print(f"peak: {PEAK['gflops']:.1f} GFLOP/s (NumPy's BLAS on one 1024^3 float64 product, {threads} thread(s)); "
          "%peak = Numba's counted GFLOP/s against it")
    for m in missing:
        print(f"skipped: {m}")
    return loaded


def framework_isa(loaded: dict) -> str:
    """One line naming the vector instructions the frameworks run: PyTorch's CPU capability (capped by the
    environment variable ``ATEN_CPU_CAPABILITY``) and JAX's cap (``--xla_cpu_max_isa`` in ``XLA_FLAGS``), to time
    an AVX2 core's code on an AVX-512 one (docs/performance.md, "Per instruction set")."""
    parts = []
    if "torch" in loaded:
        import torch

        parts.append(f"PyTorch CPU capability {torch.backends.cpu.get_cpu_capability()}")
    if "jax" in loaded:
        flags = os.environ.get("XLA_FLAGS", "").split()
        caps = [f.split("=", 1)[1] for f in flags if f.startswith("--xla_cpu_max_isa=")]
        parts.append(f"JAX {'capped at ' + caps[-1] if caps else 'on the host instructions'}")
    return "frameworks: " + ("; ".join(parts) if parts else "none loaded")


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def gate_exp_study(sizes, budget: float) -> None:
    """The options for the Mamba gate's ``exp`` (issue 17), measured side by side: ``exp(-|t|)`` of one batch's
    pre-activations alone by a Numba loop calling libm, the same loop compiled with ``fastmath={"afn"}``
    (approximate functions, the narrowest fast-math flag), NumPy's vectorised ``exp``, and a Numba loop of
    :func:`~mamba_dynamics.core.simd.exp_nonpos` (the polynomial the kernel uses, which vectorises); each one's
    largest difference from libm in units in the last place (ulp).  Then the whole step, and the largest
    difference of its gradients from the NumPy reference relative to the largest entry."""
    import numpy as np
    from numba import njit

    from mamba_dynamics.core.simd import exp_nonpos
    from mamba_dynamics.outliers.gradients import hinge_grads, hinge_grads_reference

    def exp_loop(x, out):
        for i in range(x.size):
            out[i] = np.exp(x[i])

    def poly_loop(x, out):
        for i in range(x.size):
            out[i] = exp_nonpos(x[i])

    loops = {"libm": njit(exp_loop), "afn": njit(fastmath={"afn"})(exp_loop),
             "numpy": lambda x, out: np.exp(x, out=out), "poly": njit(error_model="numpy")(poly_loop)}
    print("\nthe gate's exp: options (exp of one batch's B (l+1) pre-activations alone; ulp = largest difference "
          "from libm)")
    print(f"{'B':>5} {'l':>4} {'d':>4}  " + " ".join(f"{n + ' us':>9}" for n in loops) + "  " +
          " ".join(f"{n + ' ulp':>9}" for n in loops if n != "libm") + f"  {'step us':>9} {'vs reference':>12}")
    for B, l, d in sizes:
        W_B, W_C, w, P, z = make_case(B, l, d)
        x = -np.abs(P @ w).ravel()
        outs = {n: np.empty_like(x) for n in loops}
        times, _ = paired_times({n: (lambda f, o: lambda: f(x, o))(f, outs[n]) for n, f in loops.items()},
                                min_total=budget / 2)
        ulp = {n: int(np.max(np.abs(outs[n].view(np.int64) - outs["libm"].view(np.int64)))) for n in loops}
        step = median_time(lambda: hinge_grads(W_B, W_C, w, P, z, True), min_total=budget / 2)
        a, ref = hinge_grads(W_B, W_C, w, P, z, True), hinge_grads_reference(W_B, W_C, w, P, z, True)
        rel = max(np.max(np.abs(a.grads[k] - ref.grads[k])) / np.max(np.abs(ref.grads[k])) for k in a.grads)
        print(f"{B:>5} {l:>4} {d:>4}  " + " ".join(f"{times[n] * 1e6:>9.1f}" for n in loops) + "  " +
              " ".join(f"{ulp[n]:>9d}" for n in loops if n != "libm") + f"  {step * 1e6:>9.1f} {rel:>12.1e}",
              flush=True)


# ---------------------------------------------------------------------------------------------- main


def main(argv=None) -> int:
    from mamba_dynamics.core.cli import Parser

    parser = Parser(prog="step_bench.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--no-compile-times", action="store_true")
    args, skip = parse_bench_arguments(parser, argv, "paper sizes only, no scaling study")
    import numpy as np

    frameworks = {"numba": make_numba, "numpy": make_numpy, "torch": lambda: make_torch(args.threads),
                  "jax": make_jax}
    loaded = load_frameworks(frameworks, skip, args.threads)

    paper = [(64, 20, 30), (256, 20, 30), (1024, 20, 30)]
    larger = [(256, 80, 30), (1024, 320, 30), (64, 20, 120), (64, 20, 480), (64, 1000, 30), (16, 10_000, 30)]
    sizes = paper if args.quick else paper + larger
    budget = 2.0
    if args.smoke:
        sizes, budget = [(8, 5, 6)], 0.05
    names = list(loaded)
    print("\nmedian time of one step (loss + all gradients); ratio = median over paired rounds of time / Numba time")
    print_table_header(f"{'model':<6} {'B':>5} {'l':>6} {'d':>4}", names, "us", 12)
    verdicts = []
    for model in MODELS:
        for B, l, d in sizes:
            base = make_case(B, l, d, model=model)
            # the O(l^2) NumPy reference would take seconds per call (and B * l^2 memory) on long prompts
            times, ratios = time_frameworks(loaded, base, model, budget, f"B={B}, l={l}, d={d}, {model}",
                                            skip=("numpy",) if B * l * l > 2e7 else ())
            r = _models()[model].loss_and_grad(*_as_batch(base))
            active = int(np.sum(base[4] * r.F < 1))
            gflops = counted_flops(B, l, d, active, model in ("mamba", "mamba2", "gret"),
                                   model == "gla") / times["numba"] / 1e9
            lead = f"{model:<6} {B:>5} {l:>6} {d:>4}"
            row = lead + "  " + " ".join(
                f"{times[n] * 1e6:>12.1f}" if n in times else f"{'-':>12}" for n in names) + "  " + " ".join(
                f"{ratios[n]:>12.2f}" if n in ratios else f"{'-':>12}" for n in names if n != "numba")
            print(row + rate_cells(gflops), flush=True)
            if args.smoke or (B, l, d) in paper:
                verdicts.append(("paired", lead, ratios))

    verdicts += print_steady_table(loaded, [(f"{model:<6} {B:>5} {l:>6} {d:>4}", make_case(B, l, d, model=model),
                                             model) for model in MODELS for B, l, d in (sizes[:1] if args.smoke else paper)],
                                   2 if args.smoke else 15, "at the paper's sizes")
    print_verdicts(verdicts, smoke=args.smoke)

    if not args.quick:
        gate_exp_study(sizes[:1] if args.smoke else paper, budget)

    if not (args.quick or args.smoke):
        print("\nscaling of the Numba Mamba step with prompt length (B = 16, d = 30)")
        ls = [100, 300, 1000, 3000, 10_000]
        ts = []
        step, convert = loaded["numba"]
        for l in ls:
            a = convert(make_case(16, l, 30))
            ts.append(median_time(lambda: step(a, "mamba")))
            print(f"  l = {l:>6}: {ts[-1] * 1e3:8.3f} ms  ({ts[-1] / (16 * (l + 1)) * 1e9:6.1f} ns per token)")
        slope = np.polyfit(np.log(ls), np.log(ts), 1)[0]
        print(f"  fitted exponent: time ~ l^{slope:.3f}  (linear = 1)")

    if not (args.no_compile_times or args.smoke):
        ct = compile_times()
        print("\nfirst call of the Numba step in a fresh interpreter: " +
              ", ".join(f"{k}: {v:.2f} s" for k, v in ct.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
