"""The end-to-end single-index networks (arXiv 2510.12026, spec section 6): kernels against their naive references
and the raw selective scan, the gate adjoint, numerics at N = 10^4 and saturated gates, the optimiser, training
(deterministic, divergence stops with a message, the tracked quantities) and the reduced reproduction: the trained
Mamba's risk falls with N and barely moves with d."""

import json
import subprocess
import sys

import numpy as np
import pytest

from mamba_dynamics.core.optim import Optimizer
from mamba_dynamics.core.scan import selective_scan
from mamba_dynamics.single_index import network, network_gradients, quadforms
from mamba_dynamics.single_index.config import NetworkConfig
from mamba_dynamics.single_index.data import embed, index_set, sample_prompts, sample_queries
from mamba_dynamics.single_index.hermite import parse_link
from mamba_dynamics.single_index.network_train import feature_mask, risk_curve, share_relevant_K, train_network


def case(rng, d=3, N=5, Q=3, n=4, ms=4, m=5, tokens="hermite", scale=0.5, link="h2"):
    X, Y, beta = sample_prompts(n, N, d, index_set(d, 2, rng), parse_link(link), 0.1, rng)
    Xq, yq = sample_queries(beta, Q, parse_link(link), 0.1, rng)
    D = network.token_width(d, tokens)
    p = network.NetworkParams(scale * rng.standard_normal((ms, D)), scale * rng.standard_normal((ms, D)),
                              scale * rng.standard_normal(D), np.array([0.3]), rng.choice([-1.0, 1.0], m),
                              rng.uniform(-1, 1, m), rng.standard_normal(m))
    return p, (X[:, :-1], Y[:, :-1], Xq, yq)


def test_numba_embedding_matches_the_numpy_one():
    x = np.random.default_rng(0).standard_normal(5)
    out = np.empty(21)
    network.embed_row(x, True, out)
    assert np.array_equal(out, embed(x))
    network.embed_row(x, False, out)
    assert np.array_equal(out[:5], x)
    X = np.random.default_rng(1).standard_normal((3, 4, 5)) * 10
    Y = np.random.default_rng(2).standard_normal((3, 4))
    for tokens in ("hermite", "raw"):
        for labels in (None, Y):
            assert np.array_equal(network.embed_tokens(X, labels, tokens, fast=True),
                                  network.embed_tokens(X, labels, tokens))


def test_hermite_features_as_quadratic_forms_of_the_augmented_input():
    """The fast path never embeds: ``x~^T T_u x~ = phi(x) . u`` (:func:`quadforms.quad_form`) and the moment
    ``sum_i c_i x~_i x~_i^T`` read back (:func:`quadforms.features_of`) is ``sum_i c_i phi(x_i)``."""
    rng = np.random.default_rng(5)
    for d in (1, 2, 5, 16):
        X = rng.standard_normal((40, d))
        F = embed(X)
        Xt = np.hstack([X, np.ones((40, 1))])
        u = rng.standard_normal(F.shape[1] + 1)
        T = np.empty((d + 1, d + 1))
        quadforms.quad_form(u, T)
        np.testing.assert_allclose(np.einsum("ik,kq,iq->i", Xt, T, Xt), F @ u[:-1], rtol=1e-13, atol=1e-13)
        assert np.all(np.tril(T, -1) == 0.0)
        c = rng.standard_normal(40)
        out = np.full(F.shape[1] + 1, np.nan)
        quadforms.features_of(Xt.T @ (c[:, None] * Xt), out)
        np.testing.assert_allclose(out[:-1], c @ F, rtol=1e-13, atol=1e-13)
        assert np.isnan(out[-1])  # the label slot is the caller's


@pytest.mark.parametrize("tokens", ["hermite", "raw"])
@pytest.mark.parametrize("gated", [True, False])
def test_outputs_equal_the_raw_selective_scan(tokens, gated):
    """``M = kappa (W_B A) . (W_C z_q)`` against the literal recurrence with the query last and the gate bias
    ``b - log N`` carried by a constant coordinate in front of every token."""
    rng = np.random.default_rng(1)
    p, (Xc, Yc, Xq, yq) = case(rng, tokens=tokens)
    n, N, _ = Xc.shape
    A = network.context_statistic(Xc, Yc, p.w, p.b, gated, tokens)
    assert np.allclose(A, network.context_statistic_reference(Xc, Yc, p.w, p.b, gated, tokens), rtol=1e-13,
                       atol=1e-14)
    Zq = network.embed_tokens(Xq, None, tokens)
    M = network.scan_outputs(p, A, Zq, N, gated)[0]
    Zc = network.embed_tokens(Xc, Yc, tokens)
    pad = lambda W: np.concatenate([np.zeros((W.shape[0], 1)), W], axis=1)  # noqa: E731
    w = np.concatenate([[p.b[0] + network.gate_offset(N)], p.w])
    for q in range(Xq.shape[1]):
        P = np.concatenate([Zc, Zq[:, q:q + 1]], axis=1)
        P = np.concatenate([np.ones(P.shape[:2] + (1,)), P], axis=2)
        ref = selective_scan(pad(p.W_B), pad(p.W_C), w, P, gated) / (1 if gated else N)
        assert np.allclose(M[:, q], ref, rtol=1e-12, atol=1e-13)


def test_gate_adjoint_matches_its_full_jacobian_reference():
    rng = np.random.default_rng(2)
    for tokens in ("hermite", "raw"):
        p, (Xc, Yc, _, _) = case(rng, N=9, tokens=tokens)
        U = rng.standard_normal((Xc.shape[0], network.token_width(Xc.shape[2], tokens)))
        gw, gb = network.gate_adjoint(Xc, Yc, p.w, p.b, tokens, U)
        gw_r, gb_r = network.gate_adjoint_reference(Xc, Yc, p.w, p.b, tokens, U)
        assert np.allclose(gw, gw_r, rtol=1e-12, atol=1e-13) and abs(gb - gb_r) < 1e-12 * max(1, abs(gb_r))


@pytest.mark.parametrize("tokens", ["hermite", "raw"])
@pytest.mark.parametrize("gated", [True, False])
def test_gradients_kernel_reference_and_finite_differences(tokens, gated):
    from mamba_dynamics.core.gradcheck import finite_differences

    rng = np.random.default_rng(3)
    p, data = case(rng, tokens=tokens)
    batch = network_gradients.NetworkBatch(*data)
    lk, gk, _ = network_gradients.network_grads(p, batch, gated, tokens)
    lr, gr, _ = network_gradients.network_grads(p, batch, gated, tokens, reference=True)
    fd = finite_differences(lambda q, dd: network_gradients.network_grads(network.NetworkParams(**q), dd, gated,
                                                                           tokens, True)[0], p.as_arrays(), batch, 1e-6)
    assert abs(lk - lr) <= 1e-13 * abs(lr)
    for name in gk:
        scale = max(np.abs(gr[name]).max(), 1e-12)
        assert np.abs(gk[name] - gr[name]).max() <= 1e-12 * scale, name
        assert np.abs(gk[name] - fd[name]).max() <= 1e-6 * max(scale, np.abs(fd[name]).max()), name
    if not gated:
        assert not gk["w"].any() and not gk["b"].any()


def test_head_kernel_matches_its_numpy_reference():
    """The one-pass head (:func:`network.mlp_head`) against the NumPy passes, with about half the units inactive."""
    rng = np.random.default_rng(8)
    p, _ = case(rng)
    M, y = rng.standard_normal((6, 3)), rng.standard_normal((6, 3))
    f, g, grads = network.mlp_head(M, y, p)
    f_r, g_r, grads_r = network.mlp_head_reference(M, y, p)
    H = M[..., None] * p.v + p.c
    assert 0.2 < np.mean(H > 0) < 0.8
    np.testing.assert_allclose(f, f_r, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(g, g_r, rtol=1e-13, atol=1e-15)
    for k in ("a", "v", "c"):
        np.testing.assert_allclose(grads[k], grads_r[k], rtol=1e-12, atol=1e-15)


def test_long_prompts_and_saturated_gates_stay_finite():
    """N = 10^4 examples, and gate weights scaled up 1000x (every gate factor saturated at 0 or 1)."""
    rng = np.random.default_rng(4)
    p, (Xc, Yc, Xq, yq) = case(rng, d=4, N=10_000, n=2, Q=3)
    for scale in (1.0, 1e3):
        q = p.copy()
        q.w *= scale
        q.b *= scale
        batch = network_gradients.NetworkBatch(Xc, Yc, Xq, yq)
        loss, grads, f = network_gradients.network_grads(q, batch, True, "hermite")
        assert np.isfinite(loss) and np.all(np.isfinite(f))
        assert all(np.all(np.isfinite(g)) for g in grads.values())
        A, logG = network.context_statistic(Xc, Yc, q.w, q.b, True, "hermite", log_gates=True)
        assert np.all(np.isfinite(A)) and not np.any(np.isnan(logG)) and np.all(logG <= 0)


def test_adam_and_sgd_steps():
    p = {"x": np.array([1.0, -2.0])}
    g = {"x": np.array([0.5, -4.0])}
    opt = Optimizer("adam", lr=0.1)
    opt.step(p, g)  # first Adam step: m_hat = g, v_hat = g^2, so the step is lr * sign(g) (up to eps)
    assert np.allclose(p["x"], [0.9, -1.9], atol=1e-9)
    q = {"x": np.array([1.0, -2.0])}
    Optimizer("sgd", lr=0.1, weight_decay=0.5).step(q, g)
    assert np.allclose(q["x"], [1.0 * 0.95 - 0.05, -2.0 * 0.95 + 0.4])
    with pytest.raises(ValueError, match="unknown optimizer"):
        Optimizer("lion", 0.1)


SMALL = dict(d=4, r=2, N_min=8, N_max=64, steps=1500, batch=32, state=16, width=32, log_every=500, n_test=200,
             test_queries=64)


def test_training_is_deterministic_and_tracks_the_proof_quantities():
    cfg = NetworkConfig(**{**SMALL, "steps": 300, "log_every": 100})
    a, b = train_network(cfg), train_network(cfg)
    assert a.status == "completed" and a.steps_done == 300
    for k, v in a.arrays().items():
        assert np.array_equal(v, b.arrays()[k], equal_nan=True), k
    h = a.history
    assert list(h["step"]) == [0, 100, 200, 300]
    for key in ("eval_risk", "eval_risk_short", "share_relevant", "cos_quad", "n_eff", "w_label", "gate_bias",
                "w_square_rel"):
        assert h[key].shape == (4,) and np.all(np.isfinite(h[key])), key
    assert h["w_label"][0] == 0.25 and h["gate_bias"][0] == -1.0  # starts at the Algorithm-1 gate
    mask = feature_mask(cfg, a.extras["I"])
    assert h["share_relevant"][-1] == pytest.approx(share_relevant_K(a.params, mask))
    assert h["share_relevant"][-1] > h["share_relevant"][0]
    la = train_network(cfg.replace(gate="constant"))
    assert np.allclose(la.history["n_eff"], 1.0, rtol=1e-12) and np.array_equal(la.params.w, la.params_init.w)


def test_divergence_stops_with_the_step_and_the_quantity():
    res = train_network(NetworkConfig(**{**SMALL, "steps": 50, "diverge_norm": 0.5}))
    assert res.status == "diverged" and res.steps_done == 0
    assert "diverged at step 1" in res.message and "exceeds" in res.message


def test_reduced_reproduction_risk_falls_with_N_and_is_insensitive_to_d():
    """The paper's claims on the trained Mamba, reduced (r = 2, d = 4 and 8, 1500 Adam steps, about 3 s each):
    the in-context risk falls with N, and the curves for the two d agree."""
    curves = {}
    for d in (4, 8):
        cfg = NetworkConfig(**{**SMALL, "d": d})
        res = train_network(cfg)
        assert res.status == "completed"
        curves[d] = risk_curve(res.params, cfg, [8, 64, 256])
        risk = curves[d]["risk"]
        assert risk[0] > 2.5 * risk[1] and risk[1] > risk[2], (d, risk)  # measured 0.21, 0.05, 0.03
        assert curves[d]["cos_quad"][-1] > 0.99
        assert res.final["share_relevant"] > 0.9
    assert np.all(np.abs(curves[4]["risk"] - curves[8]["risk"]) < 0.06), curves


def test_simulate_e2e_writes_results_and_refuses_bad_input(root, tmp_path, cli_error):
    res = subprocess.run([sys.executable, str(root / "scripts" / "simulate.py"), "--model", "mamba-single-index-e2e",
                          "--d", "4", "--r", "2", "--steps", "200", "--N-min", "8", "--N-max", "32", "--state", "8",
                          "--width", "16", "--n-test", "40", "--test-queries", "16", "--test-N", "8,32", "--krr",
                          "--krr-prompts", "4", "--log-every", "50", "--quiet", "--out", str(tmp_path / "r")],
                         capture_output=True, text=True, timeout=300, cwd=root)
    assert res.returncode == 0, res.stderr
    assert "N = 32" in res.stdout and "KRR(x_I)" in res.stdout
    side = json.loads((tmp_path / "r" / "results.json").read_text())
    assert side["status"] == "completed" and side["config"]["gate"] == "mamba" and set(side["test"]) == {"8", "32"}
    with np.load(tmp_path / "r" / "results.npz") as z:
        assert z["test_risk"].shape == (2,) and z["hist_share_relevant"].shape == (5,)
        assert z["final_W_B"].shape == (8, 16) and z["test_krr_x_I"].shape == (2,)
    assert (tmp_path / "r" / "tracked.png").stat().st_size > 10000
    from simulate import main

    base = ["--model", "la-single-index-e2e"]
    assert "N_min = 64 exceeds N_max = 32" in cli_error(main, [*base, "--N-min", "64", "--N-max", "32"])
    assert "unknown tokens 'onehot'" in cli_error(main, [*base, "--tokens", "onehot"])
    assert "unknown optimizer 'lion'" in cli_error(main, [*base, "--optimizer", "lion"])
    assert "does not fit in d" in cli_error(main, [*base, "--r", "9", "--d", "8"])


def test_comparison_script_quick_and_resumes(root, tmp_path):
    from single_index_e2e import main

    args = ["--links", "h2", "--dims", "4", "--r", "2", "--seeds", "1", "--steps", "100", "--N-min", "8",
            "--N-max", "32", "--state", "8", "--width", "16", "--test-N", "8,32", "--n-test", "30",
            "--test-queries", "16", "--krr-prompts", "4", "--jobs", "1", "--quiet", "--out", str(tmp_path)]
    assert main(args) == 0
    with np.load(tmp_path / "e2e.npz") as z:
        for key in ("mamba_e2e", "la_e2e", "st_e2e", "mamba_alg1", "krr_x", "krr_x_I"):
            assert z[f"h2_d4_{key}_risk"].shape == (1, 2) and np.all(np.isfinite(z[f"h2_d4_{key}_risk"])), key
        assert z["h2_d4_mamba_e2e_hist_share_relevant"].shape[0] == 1
    cells = sorted((tmp_path / "cells").glob("*.npz"))
    stamps = [c.stat().st_mtime_ns for c in cells]
    assert main(args) == 0 and [c.stat().st_mtime_ns for c in cells] == stamps
    assert (tmp_path / "risk_vs_N.png").exists() and (tmp_path / "training.png").exists()


def test_wrong_network_kernel_is_caught(monkeypatch):
    from mamba_dynamics.core.gradcheck import check
    from mamba_dynamics.single_index import symbolic

    real = network.gate_adjoint
    monkeypatch.setattr(network, "gate_adjoint", lambda *a, **k: (1.01 * real(*a, **k)[0], real(*a, **k)[1]))
    rows = check(symbolic.MAMBA_E2E, 0, symbolic=False)
    bad = {(r.block, r.comparison) for r in rows if not r.ok}
    assert ("w", "kernel~reference") in bad and ("w", "kernel~fd") in bad
    assert not any(b != "w" for b, _ in bad)


def test_phase_diagram_of_an_end_to_end_model(root, tmp_path):
    res = subprocess.run([sys.executable, str(root / "scripts" / "phase_diagram.py"), "--model", "la-single-index-e2e",
                          "--x", "d", "--x-values", "4,6", "--y", "lr", "--y-values", "0.001,0.003", "--r", "2",
                          "--steps", "100", "--N-max", "32", "--state", "8", "--width", "16", "--test-queries", "8",
                          "--seeds", "1", "--n-eval", "20", "--jobs", "1", "--quiet", "--out", str(tmp_path)],
                         capture_output=True, text=True, timeout=300, cwd=root)
    assert res.returncode == 0, res.stderr
    with np.load(tmp_path / "phase.npz") as z:
        assert z["risk"].shape[:2] == (2, 2) and np.all(np.isfinite(z["risk"])) and "share_relevant" in z.files
    side = json.loads((tmp_path / "phase.json").read_text())
    assert side["sweep"]["family"] == "single_index_e2e" and side["sweep"]["base"]["gate"] == "constant"
