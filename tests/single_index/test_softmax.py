"""st-single-index-e2e, the end-to-end network with causal softmax attention (the Transformer of arXiv 2510.12026's
comparison): the kernel equals its reference, N = 10^4 and huge scores stay finite, training tracks the attention's
effective context, the reduced run's risk falls with N, and its flags are validated."""

import json

import numpy as np
import pytest

from mamba_dynamics.core.config import ConfigError
from mamba_dynamics.single_index import network, network_gradients
from mamba_dynamics.single_index.config import NetworkConfig
from mamba_dynamics.single_index.network_train import risk_curve, train_network

from .test_network import SMALL, case


@pytest.mark.parametrize("tokens", ["hermite", "raw"])
def test_kernel_equals_reference(tokens):
    rng = np.random.default_rng(2)
    p, (Xc, Yc, Xq, yq) = case(rng, tokens=tokens)
    batch = network_gradients.NetworkBatch(Xc, Yc, Xq, yq)
    a = network_gradients.softmax_network_grads(p, batch, tokens, 0.7, False)
    b = network_gradients.softmax_network_grads(p, batch, tokens, 0.7, True)
    assert a.loss == pytest.approx(b.loss, rel=1e-12)
    np.testing.assert_allclose(a.F, b.F, rtol=1e-12, atol=1e-13)
    for k in b.grads:
        np.testing.assert_allclose(a.grads[k], b.grads[k], rtol=1e-10, atol=1e-13 * max(1.0, np.abs(b.grads[k]).max()))
    assert not a.grads["w"].any() and not a.grads["b"].any()  # the gate's weights are unused


def test_long_prompts_and_huge_scores_stay_finite():
    """N = 10^4 examples, W_B and W_C scaled up 30x (scores of order 10^3): finite loss, outputs and gradients, and
    every weight in [0, 1]."""
    rng = np.random.default_rng(4)
    p, (Xc, Yc, Xq, yq) = case(rng, d=4, N=10_000, n=2, Q=3)
    for scale in (1.0, 30.0):
        q = p.copy()
        q.W_B *= scale
        q.W_C *= scale
        lg = network_gradients.softmax_network_grads(q, network_gradients.NetworkBatch(Xc, Yc, Xq, yq), "hermite",
                                                     1.0, False)
        assert np.isfinite(lg.loss) and np.all(np.isfinite(lg.F))
        assert all(np.all(np.isfinite(g)) for g in lg.grads.values())
        M, (_, _, _, A, _, _) = network.softmax_readout(q, Xc, Yc, Xq, 1.0, "hermite")
        assert np.all(np.isfinite(M)) and A.min() >= 0.0 and A.max() <= 1.0


def test_reduced_run_tracks_attention_and_risk_falls_with_N():
    """The reduced setting of test_network.py (r = 2, d = 4, 1500 Adam steps, about 1 s): the risk falls with N
    (measured 0.54, 0.20, 0.19 at N = 8, 64, 256; Mamba's 0.21, 0.06, 0.03), the effective context n_eff / N is
    tracked, and training is deterministic."""
    cfg = NetworkConfig(**{**SMALL, "gate": "softmax"})
    assert cfg.model == "st-single-index-e2e" and cfg.temperature == 4.0  # sqrt(state) by default
    res = train_network(cfg)
    assert res.status == "completed"
    h = res.history
    assert np.all((h["n_eff"] > 0) & (h["n_eff"] <= 1)) and np.all(np.isnan(h["cos_quad"]))
    assert h["eval_risk"][-1] < 0.25 * h["eval_risk"][0]
    risk = risk_curve(res.params, cfg, [8, 64, 256])["risk"]
    assert risk[0] > 2 * risk[1] and risk[2] < risk[1] * 1.05, risk
    again = train_network(cfg)
    assert np.array_equal(again.history["eval_risk"], h["eval_risk"])


def test_config_and_cli_refuse_bad_temperature(root, tmp_path, cli_error):
    with pytest.raises(ConfigError, match="temperature"):
        NetworkConfig(gate="softmax", temperature=0.0)
    with pytest.raises(ConfigError, match="temperature"):
        NetworkConfig(gate="mamba", temperature=2.0)
    from simulate import main

    assert "temperature" in cli_error(main, ["--model", "st-single-index-e2e", "--temperature", "-1"])
    assert main(["--model", "st-single-index-e2e", "--d", "4", "--r", "2", "--steps", "60", "--N-min", "8",
                 "--N-max", "32", "--state", "8", "--width", "16", "--n-test", "40", "--test-queries", "16",
                 "--test-N", "8,32", "--log-every", "30", "--quiet", "--out", str(tmp_path)]) == 0
    side = json.loads((tmp_path / "results.json").read_text())
    assert side["config"]["gate"] == "softmax" and side["status"] == "completed"
    assert (tmp_path / "tracked.png").exists()
