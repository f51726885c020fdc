"""Symbolic Stage-I gradient of the single-index Mamba readout (arXiv 2510.12026; spec section 7).

The readout is the raw selective scan :func:`mamba_dynamics.core.scan.selective_scan_symbolic` run on tokens
``z_i = (phi(x_i), y_i)``, ``z_q = (phi(x), 0)`` with ``W_B = diag(gamma, 0)``, ``W_C = I`` and gate weights
``w = (b, 0, ..., 0, 1/rho)``; the linear-attention ablation is the ungated scan divided by N.  The loss is
``L1 = (1/2T) sum_t (f^t - y^t)^2`` with the MLP head ``f = sum_j a_j ReLU(v_j M + b_j)``.  Only ``gamma`` is
symbolic; sympy differentiates the loss of the *recurrence* and the result is compared with the hand-derived
:func:`mamba_dynamics.single_index.gradients.stage1_grads` (the function pretraining runs) with the Numba
``psi`` kernel and with its NumPy reference.

The end-to-end networks (:mod:`mamba_dynamics.single_index.network`) are checked the same way with *every* weight
symbolic: ``W_B, W_C, w, b`` and the MLP's ``v, c, a``.  Each query's output is the raw scan over the prompt's
tokens with the query last, the gate bias ``b - log N`` carried by a constant coordinate put in front of every
token (with zero columns in ``W_B, W_C``), so sympy sees only the recurrence.

:func:`gradient_specs` gives the checker's specs of models ``mamba-single-index``, ``la-single-index``,
``mamba-single-index-e2e`` and ``la-single-index-e2e``.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import sympy as sp

from ..core.gradcheck import GradientSpec, model_spec
from ..core.scan import selective_scan_symbolic
from . import model, network
from .config import NetworkConfig, SingleIndexConfig
from .gradients import ReadoutBatch
from .models import REGISTRY, ReadoutParams
from .network_gradients import NetworkBatch
from .data import embed, index_set, sample_prompts, sample_queries
from .hermite import parse_link

SIZES = dict(d=2, N=3, T=2, m=3)  # d~ = 6 features, tokens of width 7
RHO, BIAS = 2.0, -1.0


def _relu(u):
    return sp.Piecewise((u, u > 0), (0, True))


@lru_cache(maxsize=None)
def _symbolic(gated: bool, key: tuple):
    """Lambdified loss and gradient in the symbols gamma, for the fixed numbers encoded in ``key``."""
    X, Y, v, bj, a = (np.array(k) for k in key)
    T, lp1, d = X.shape
    dt = (d + 1) * (d + 2) // 2
    gamma = sp.symbols(f"g0:{dt}", real=True)
    W_B = sp.diag(*gamma, 0)
    W_C = sp.eye(dt + 1)
    w = sp.Matrix([sp.Float(BIAS)] + [0] * (dt - 1) + [sp.Float(1 / RHO)])
    loss = 0
    for t in range(T):
        Phi = embed(X[t])
        Z = sp.Matrix([[sp.Float(float(v_)) for v_ in Phi[i]] + [sp.Float(float(Y[t, i]) if i < lp1 - 1 else 0.0)]
                       for i in range(lp1)])
        M = selective_scan_symbolic(W_B, W_C, w, Z, gated)
        if not gated:
            M = M / (lp1 - 1)
        f = sum(sp.Float(float(a[j])) * _relu(sp.Float(float(v[j])) * M + sp.Float(float(bj[j])))
                for j in range(len(a)))
        loss += (f - sp.Float(float(Y[t, -1]))) ** 2 / (2 * T)
    grads = [sp.diff(loss, g) for g in gamma]
    return sp.lambdify([gamma], loss, "mpmath"), sp.lambdify([gamma], grads, "mpmath")


def symbolic_loss_grad(params: dict, data: tuple, gated: bool):
    import mpmath

    X, Y, v, bj, a = data
    key = tuple(np.asarray(x).tolist() if np.ndim(x) else x for x in (X, Y, v, bj, a))
    key = tuple(_freeze(k) for k in key)
    f_loss, f_grad = _symbolic(gated, key)
    with mpmath.workdps(40):
        g = [mpmath.mpf(float(x)) for x in params["gamma"]]
        return float(f_loss(g)), {"gamma": np.array([float(x) for x in f_grad(g)])}


def _freeze(x):
    return tuple(_freeze(v) for v in x) if isinstance(x, list) else x


def make_case(gated: bool):
    def random_case(rng: np.random.Generator, scale: float = 1.0):
        d, N, T, m = SIZES["d"], SIZES["N"], SIZES["T"], SIZES["m"]
        while True:  # keep every ReLU away from its kink, so finite differences are exact to O(eps^2)
            X, Y, _ = sample_prompts(T, N, d, index_set(d, 1, rng), parse_link("h3"), 0.1, rng)
            gamma = scale * rng.standard_normal((d + 1) * (d + 2) // 2)
            v, bj, a = np.sign(rng.standard_normal(m)), rng.uniform(-1, 1, m), rng.standard_normal(m)
            Yc = Y.copy()
            Yc[:, -1] = 0.0
            M = model.psi(X, Yc, RHO, BIAS, gated) @ gamma
            if np.min(np.abs(np.outer(M, v) + bj)) > 1e-3:
                return {"gamma": gamma}, (X, Y, v, bj, a)

    return random_case


def _spec(name: str, gated: bool) -> GradientSpec:
    """The readout's spec: its kernel and reference are the model object's ``loss_and_grad``, the method
    pretraining's Stage I calls (:func:`~mamba_dynamics.core.gradcheck.model_spec`)."""
    cfg = SingleIndexConfig(gate="mamba" if gated else "constant", rho=RHO, gate_bias=BIAS)

    def assemble(params, data):
        X, Y, v, bj, a = data
        return ReadoutParams(params["gamma"], v, bj, a), ReadoutBatch(X, Y)

    return model_spec(
        name, REGISTRY.build(cfg), make_case(gated), assemble,
        symbolic=lambda p, d: symbolic_loss_grad(p, d, gated), symbolic_sizes=dict(SIZES),
        description=f"single-index {'Mamba' if gated else 'linear-attention'} readout + MLP, Stage-I loss "
                    f"(arXiv 2510.12026)",
    )


MAMBA_SI = _spec("mamba-single-index", True)
LA_SI = _spec("la-single-index", False)


# ------------------------------------------------------------------------------------------------------------
# end-to-end networks
# ------------------------------------------------------------------------------------------------------------

E2E_SIZES = dict(d=1, N=3, n=2, Q=2, state=2, m=2, tokens="hermite")  # D = 4: 27 symbolic weights
BLOCKS = ("W_B", "W_C", "w", "b", "v", "c", "a")


def _block_symbols(D: int, ms: int, m: int) -> dict:
    return {"W_B": sp.Matrix(ms, D, lambda i, k: sp.Symbol(f"WB_{i}_{k}", real=True)),
            "W_C": sp.Matrix(ms, D, lambda i, k: sp.Symbol(f"WC_{i}_{k}", real=True)),
            "w": sp.Matrix(D, 1, lambda k, _: sp.Symbol(f"w_{k}", real=True)),
            "b": sp.Matrix(1, 1, lambda *_: sp.Symbol("b", real=True)),
            "v": sp.Matrix(m, 1, lambda j, _: sp.Symbol(f"v_{j}", real=True)),
            "c": sp.Matrix(m, 1, lambda j, _: sp.Symbol(f"c_{j}", real=True)),
            "a": sp.Matrix(m, 1, lambda j, _: sp.Symbol(f"a_{j}", real=True))}


def _softmax_readout_symbolic(S: dict, Zc: np.ndarray, Yc: np.ndarray, zq: np.ndarray, temperature: float):
    """The softmax network's ``M`` for one query in sympy, from the raw definition: ``sum_i exp(s_i / tau) y_i /
    sum_j exp(s_j / tau)`` over the context and the query itself (label 0), ``s_i = (W_B z_i) . (W_C z_q)``."""
    num = lambda x: sp.Float(float(x))  # noqa: E731
    c = S["W_C"] * sp.Matrix([num(x) for x in zq])
    keys = [sp.Matrix([num(x) for x in z]) for z in list(Zc) + [zq]]
    e = [sp.exp(((S["W_B"] * z).T * c)[0] / num(temperature)) for z in keys]
    return sum(ei * num(y) for ei, y in zip(e, list(Yc) + [0.0])) / sum(e)


@lru_cache(maxsize=None)
def _e2e_symbolic(gated, tokens: str, key: tuple):
    """Lambdified loss and gradient of the end-to-end network in all its weights, for the fixed prompts in
    ``key``; the output of each query is the raw selective scan (:func:`selective_scan_symbolic`), or, with
    ``gated`` a temperature (the softmax network), the softmax readout (:func:`_softmax_readout_symbolic`)."""
    Xc, Yc, Xq, yq = (np.array(k) for k in key)
    n, N, d = Xc.shape
    Q = Xq.shape[1]
    D = network.token_width(d, tokens)
    S = _block_symbols(D, E2E_SIZES["state"], E2E_SIZES["m"])
    zero = sp.zeros(E2E_SIZES["state"], 1)
    W_B, W_C = zero.row_join(S["W_B"]), zero.row_join(S["W_C"])  # the constant coordinate has no B, C weight
    w = sp.Matrix([[S["b"][0] + sp.Float(network.gate_offset(N))]]).col_join(S["w"])
    Zc, Zq = network.embed_tokens(Xc, Yc, tokens), network.embed_tokens(Xq, None, tokens)
    num = lambda x: sp.Float(float(x))  # noqa: E731
    loss = 0
    for p in range(n):
        for q in range(Q):
            if not isinstance(gated, bool):  # the softmax network (gated = its temperature)
                M = _softmax_readout_symbolic(S, Zc[p], Yc[p], Zq[p, q], gated)
            else:
                rows = [[1.0] + list(Zc[p, i]) for i in range(N)] + [[1.0] + list(Zq[p, q])]
                M = selective_scan_symbolic(W_B, W_C, w, sp.Matrix([[num(x) for x in r] for r in rows]), gated)
                if not gated:
                    M = M / N
            f = sum(S["a"][j] * _relu(S["v"][j] * M + S["c"][j]) for j in range(E2E_SIZES["m"]))
            loss += (f - num(yq[p, q])) ** 2 / (2 * n * Q)
    flat = [x for name in BLOCKS for x in S[name]]
    grads = [sp.diff(loss, x) for x in flat]
    return sp.lambdify([flat], loss, "mpmath", cse=True), sp.lambdify([flat], grads, "mpmath", cse=True)


def e2e_symbolic_loss_grad(params: dict, data: tuple, gated: bool, tokens: str):
    import mpmath

    key = tuple(_freeze(np.asarray(x).tolist()) for x in data)
    f_loss, f_grad = _e2e_symbolic(gated, tokens, key)
    shapes = {name: np.shape(params[name]) for name in BLOCKS}
    with mpmath.workdps(40):
        flat = [mpmath.mpf(float(x)) for name in BLOCKS for x in np.ravel(params[name])]
        g = np.array([float(x) for x in f_grad(flat)])
        loss = float(f_loss(flat))
    out, start = {}, 0
    for name in BLOCKS:
        size = int(np.prod(shapes[name]))
        out[name] = g[start:start + size].reshape(shapes[name])
        start += size
    return loss, out


def make_e2e_case(gated, tokens: str, temperature: float | None = None, sizes: dict | None = None):
    def random_case(rng: np.random.Generator, scale: float = 1.0):
        z = sizes or E2E_SIZES
        D = network.token_width(z["d"], tokens)
        while True:  # keep every ReLU away from its kink (finite differences exact to O(eps^2))
            X, Y, beta = sample_prompts(z["n"], z["N"], z["d"], index_set(z["d"], 1, rng), parse_link("h2"), 0.1, rng)
            Xq, yq = sample_queries(beta, z["Q"], parse_link("h2"), 0.1, rng)
            data = (X[:, :-1], Y[:, :-1], Xq, yq)
            blocks = {"W_B": scale * rng.standard_normal((z["state"], D)) / 2,
                      "W_C": scale * rng.standard_normal((z["state"], D)) / 2,
                      "w": scale * rng.standard_normal(D) / 2, "b": scale * rng.standard_normal(1),
                      "v": rng.standard_normal(z["m"]), "c": rng.uniform(-1, 1, z["m"]),
                      "a": rng.standard_normal(z["m"])}
            params = network.NetworkParams(**blocks)
            if temperature is not None:
                M = network.softmax_readout_reference(params, network.embed_tokens(*data[:2], tokens),
                                                      data[1], network.embed_tokens(Xq, None, tokens), temperature)
            else:
                M = network.scan_outputs(params, network.context_statistic(*data[:2], params.w, params.b, gated,
                                                                           tokens),
                                         network.embed_tokens(Xq, None, tokens), z["N"], gated)[0]
            if np.min(np.abs(network.mlp_forward(M, params)[1])) > 1e-3:
                return blocks, data

    return random_case


def _e2e_spec(name: str, gated: bool) -> GradientSpec:
    """The end-to-end network's spec (the model object's ``loss_and_grad``, the method training calls)."""
    tokens = E2E_SIZES["tokens"]
    cfg = NetworkConfig(gate="mamba" if gated else "constant", tokens=tokens)
    return model_spec(
        name, REGISTRY.build(cfg), make_e2e_case(gated, tokens),
        lambda params, data: (network.NetworkParams(**params), NetworkBatch(*data)),
        blocks=BLOCKS if gated else ("W_B", "W_C", "v", "c", "a"),
        symbolic=lambda p, d: e2e_symbolic_loss_grad(p, d, gated, tokens), symbolic_sizes=dict(E2E_SIZES),
        description=f"single-index {'Mamba' if gated else 'linear attention'} + MLP trained end to end, all "
                    f"weights (arXiv 2510.12026)",
    )


MAMBA_E2E = _e2e_spec("mamba-single-index-e2e", True)
LA_E2E = _e2e_spec("la-single-index-e2e", False)


#: the softmax network's checked prompts: one prompt, three examples and two queries (its expression, exponentials
#: of bilinear forms in 16 symbols, cost sympy 5 s a point with two prompts)
ST_E2E_SIZES = dict(E2E_SIZES, n=1)


def _softmax_e2e_spec(name: str, temperature: float) -> GradientSpec:
    """The softmax network's spec (every weight but the unused gate symbolic)."""
    tokens = E2E_SIZES["tokens"]
    cfg = NetworkConfig(gate="softmax", tokens=tokens, temperature=temperature)
    return model_spec(
        name, REGISTRY.build(cfg), make_e2e_case(False, tokens, temperature, ST_E2E_SIZES),
        lambda params, data: (network.NetworkParams(**params), NetworkBatch(*data)),
        blocks=("W_B", "W_C", "v", "c", "a"),
        symbolic=lambda p, d: e2e_symbolic_loss_grad(p, d, temperature, tokens), symbolic_sizes=dict(ST_E2E_SIZES),
        description=f"single-index softmax attention + MLP trained end to end, temperature {temperature:g} "
                    f"(arXiv 2510.12026's Transformer)",
    )


ST_E2E = _softmax_e2e_spec("st-single-index-e2e", 1.5)


def gradient_specs() -> tuple[GradientSpec, ...]:
    """The family's gradient-check specs, for the caller to register."""
    return (MAMBA_SI, LA_SI, MAMBA_E2E, LA_E2E, ST_E2E)
