"""The sign law of the gate in local concentration (derived from Eq. 5, features.theory), checked in sympy and
through the model's own forward; the fixed gate at any value; blank cells outside gap_near < gap_far; Thm 2's
delta to the first power."""

import numpy as np
import pytest

from mamba_dynamics.core.sweeps import OUTSIDE, Axis, GridError, SweepSpec, assemble
from mamba_dynamics.features import symbolic, theory
from mamba_dynamics.features.config import ConfigError, FeaturesConfig
from mamba_dynamics.features.experiments import SWEEP, block_steps
from mamba_dynamics.features.model import content_scores, log_beta
from mamba_dynamics.features.models import REGISTRY
from mamba_dynamics.features import data


def test_sympy_derives_the_signal_and_its_push_exactly():
    rows = symbolic.sign_law_checks(6)
    assert len(rows) == 15 and all(r[2] == 0 and r[3] == 0 for r in rows)


@pytest.mark.parametrize("pair, interleave", [((1, 4), False), ((2, 5), False), ((3, 6), False), ((2, 3), False),
                                              ((1, 4), True), ((2, 5), True), ((3, 6), True)])
def test_the_models_own_forward_has_the_derived_derivative(pair, interleave):
    """Interleaved: the close pair strictly inside the spread one (its tokens are not irrelevant there)."""
    S0, dS, formula = symbolic.model_sign_law(*pair, interleave=interleave)
    assert S0 == pytest.approx(theory.locality_delta(*pair) / 2, abs=1e-14)  # Thm 2's bracket, halved
    assert dS == pytest.approx(formula, abs=1e-8)
    if not interleave:  # every token inside a pair irrelevant: the closed form
        assert formula == pytest.approx(float(theory.irrelevant_push(*pair)), abs=1e-15)


def test_the_sign_law_by_hand():
    assert theory.irrelevant_push(1, 4) == pytest.approx(3 / 64)  # (1, 4): + (3/16)/4, the gate opens
    assert theory.irrelevant_push(2, 3) == 0  # (2 - 1) / 4 = (3 - 1) / 8
    assert theory.irrelevant_push(3, 6) == pytest.approx(-(2 / 8 - 5 / 64) / 4)  # Lemma 4.2's sign
    assert theory.expected_irrelevant_push(1, 4, 16) > 0 > theory.expected_irrelevant_push(3, 6, 16)
    assert np.all(theory.lemma42_bracket([1, 2, 3], [4, 5, 6]) > 0)  # the lemma: negative push everywhere
    assert theory.sigma_star(1, 4) == 1.0
    assert theory.sigma_star(2, 5) == pytest.approx(1 - 0.25 ** (1 / 3))
    s = theory.sigma_star(3, 6)  # the optimum of the pair signal with the pattern gates at 1/2
    grid = np.linspace(0.01, 0.99, 9801)
    assert abs(grid[np.argmax(theory.pair_signal(grid, 3, 6))] - s) < 1e-4
    assert theory.uniform_gate_signal(0.5, 2, 5) == pytest.approx(theory.locality_delta(2, 5) / 2)


def test_theorem_2_has_delta_to_the_first_power():
    t1 = theory.iterations("locality", 1.0, 0.2, 16)
    assert theory.iterations("locality", 1.0, 0.1, 16) == pytest.approx(2 * t1)
    assert theory.sample_complexity("locality", 1.0, 0.1, 16, 10) == pytest.approx(
        4 * theory.sample_complexity("locality", 1.0, 0.2, 16, 10))  # N keeps delta^2
    assert theory.PREDICTED_SLOPES[("locality", "delta")] == -1.0


def test_a_gate_fixed_at_any_value_is_mambas_constant_gate():
    cfg = FeaturesConfig(regime="locality", gate="fixed", gate_sigma=0.3)
    model = REGISTRY.build(cfg)
    rng = np.random.default_rng(0)
    params = model.init_params(rng)
    seqs = data.sample(cfg, data.make_basis(cfg.d, rng), 40, rng)
    t = np.full(seqs.X.shape[:2], np.log(0.3 / 0.7))  # sigma(t) = 0.3 on every token
    want = np.einsum("nls,nsd->nld", np.exp(log_beta(t)) * content_scores(seqs.X, np.eye(cfg.d), np.eye(cfg.d)),
                     seqs.X)
    np.testing.assert_allclose(model.outputs(params, seqs.X), want, atol=1e-14)
    np.testing.assert_allclose(model.outputs(params, seqs.X, reference=True), want, atol=1e-14)
    assert model.trained == ("V",)
    half = REGISTRY.build(cfg.replace(gate_sigma=0.5))  # 1/2 is w = 0 with Mamba's gate, the old "fixed"
    assert half.cfg.mixer_gate.kind == "mamba" and half.cfg.input_scale == 1.0
    with pytest.raises(ConfigError, match="gate_sigma applies to a fixed gate"):
        FeaturesConfig(gate_sigma=0.3)
    with pytest.raises(ConfigError, match="gate_sigma must lie in"):
        FeaturesConfig(gate="fixed", gate_sigma=1.0)


def test_cells_outside_gap_near_below_gap_far_are_blank_not_an_error():
    base = FeaturesConfig(regime="locality", L=16, steps=2, n_train=20, n_test=20, log_every=1)
    spec = SweepSpec(SWEEP, base, Axis("gap_near", (1, 3, 5)), Axis("gap_far", (2, 4)), (0,), 20)
    groups = spec.groups()
    cells = sorted((iy, ix) for g in groups for iy, ix, _ in g.cells)
    assert cells == [(0, 0), (1, 0), (1, 1)]  # (1,2), (1,4), (3,4); (3,2), (5,2), (5,4) are outside
    data_ = assemble(spec, groups, {})
    assert (data_["status"][0, 1:] == OUTSIDE).all() and (data_["status"][1, 2] == OUTSIDE).all()
    assert (data_["status"][0, 0] == 0).all()  # inside and not run yet: missing
    with pytest.raises(GridError, match="every cell of this grid lies outside"):
        SweepSpec(SWEEP, base, Axis("gap_near", (4, 5)), Axis("gap_far", (2, 3)), (0,), 20).groups()
    majority = FeaturesConfig(steps=2)  # the rule is local concentration's only
    assert SWEEP.outside(majority, {"gap_near": 5, "gap_far": 2}) is None


def test_block_steps_at_initialisation():
    steps = block_steps(FeaturesConfig(regime="locality", n_train=200, steps=10))
    assert set(steps) == {"w", "V"} and all(np.isfinite(v) and v > 0 for v in steps.values())


def test_the_paper_preset_and_its_reporting():
    from mamba_dynamics.features.experiments import protocol_summary

    cfg = FeaturesConfig(preset="paper")
    assert (cfg.d, cfg.m) == (32, 50) and (FeaturesConfig().d, FeaturesConfig().m) == (10, 40)
    assert FeaturesConfig(preset="paper", d=16).d == 16 and cfg.replace(preset="default").d == 10
    with pytest.raises(ConfigError, match="unknown preset"):
        FeaturesConfig(preset="nature")
    runs = [{"label": "a", "test_loss": np.array([1.0, 5e-4]), "test_err": np.array([0.5, 0.0])},
            {"label": "a", "test_loss": np.array([1.0, 0.3]), "test_err": np.array([0.5, 0.2])},
            {"label": "b", "test_loss": np.array([1.0, 0.9]), "test_err": np.array([0.5, 0.4])}]
    summ = protocol_summary(runs)
    assert summ["a"]["successes"] == 1 and summ["a"]["success_rate"] == 0.5
    assert summ["a"]["test_err_successes"] == 0.0 and summ["a"]["test_err_all"] == pytest.approx(0.1)
    assert summ["b"]["successes"] == 0 and np.isnan(summ["b"]["test_err_successes"])


def test_the_gate_studies_end_to_end(tmp_path):
    """features_paper.py's gate studies on reduced sizes: the fixed-gate sweep, the trajectory with the blocks'
    first steps, and the paper's protocol with its success counts."""
    import json

    from features_paper import main

    args = ["--quick", "--seeds", "1", "--jobs", "1", "--study", "fixed_sigma,trajectory,paper_protocol", "--quiet",
            "--out", str(tmp_path)]
    assert main(args) == 0
    for name in ("fixed_sigma.png", "gate_trajectory.png", "paper_protocol.png"):
        assert (tmp_path / name).stat().st_size > 20_000, name
    fixed = json.loads((tmp_path / "fixed_sigma.json").read_text())["final"]
    assert set(fixed) == {"gaps 1,4 fixed sigma=0.1", "gaps 1,4 fixed sigma=0.5", "gaps 1,4 fixed sigma=0.9",
                          "gaps 1,4 learned"}
    traj = json.loads((tmp_path / "trajectory.json").read_text())
    assert set(traj["block_steps"]["gaps 1,4 learned, 600 steps"]) == {"w", "V"}
    proto = json.loads((tmp_path / "paper_protocol.json").read_text())["protocol"]
    assert set(proto) == {"gaps 1,4 ssm, gate learned", "gaps 1,4 ssm, gate fixed"}
    assert all(v["trials"] == 1 and 0 <= v["success_rate"] <= 1 for v in proto.values())
