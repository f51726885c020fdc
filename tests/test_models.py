"""The one model interface (mamba_dynamics.core.model): every model of every family, one layer and stacks, answers
the same calls, and a model's scratch arrays are its own, so two models used in one process, interleaved, give the
numbers each gives alone."""

import numpy as np
import pytest

from mamba_dynamics import families
from mamba_dynamics.core.losses import LossGrad
from mamba_dynamics.core.model import Model
from mamba_dynamics.features import data as fdata
from mamba_dynamics.features.config import FeaturesConfig
from mamba_dynamics.outliers.config import OutlierConfig
from mamba_dynamics.outliers.data import make_patterns, sample_train, seed_streams
from mamba_dynamics.single_index.config import NetworkConfig, SingleIndexConfig
from mamba_dynamics.single_index.data import sample_prompts, task
from mamba_dynamics.single_index.gradients import ReadoutBatch
from mamba_dynamics.single_index.network_gradients import NetworkBatch
from mamba_dynamics.single_index.network_train import draw_batch


def _outliers(seed=0, **kw):
    cfg = OutlierConfig(d=8, M1=2, M2=2, V=2, l_tr=6, l_ts=6, seed=seed, **kw)
    rng = seed_streams(seed)
    return cfg, sample_train(cfg, make_patterns(cfg, rng["patterns"]), rng["train"], 12)


def _features(seed=0, N=20, **kw):
    cfg = FeaturesConfig(seed=seed, **kw)
    rng = fdata.seed_streams(seed)
    return cfg, fdata.sample(cfg, fdata.make_basis(cfg.d, rng["basis"]), N, rng["train"])


def _network(seed=0, **kw):
    cfg = NetworkConfig(d=4, r=2, state=6, width=8, seed=seed, **kw)
    I, coefs = task(cfg)
    return cfg, NetworkBatch(*draw_batch(cfg, I, coefs, 5, 9, 3, np.random.default_rng(seed))[:4])


def _readout(seed=0, **kw):
    cfg = SingleIndexConfig(d=4, r=2, width=8, seed=seed, **kw)
    I, coefs = task(cfg)
    X, Y, _ = sample_prompts(6, 10, cfg.d, I, coefs, cfg.tau, np.random.default_rng(seed))
    return cfg, ReadoutBatch(X, Y)


#: one small setting per model class: (registry family, config and batch maker, config fields)
SETTINGS = {
    "mamba": ("outliers", _outliers, dict(model="mamba")),
    "lt": ("outliers", _outliers, dict(model="lt")),
    "mamba-stack": ("outliers", _outliers, dict(model="mamba", layers=2)),
    "lt-stack": ("outliers", _outliers, dict(model="lt", layers=3)),
    "st": ("outliers", _outliers, dict(model="st", m=10, heads=2)),
    "st-stack": ("outliers", _outliers, dict(model="st", layers=2, window=4)),
    "mamba2": ("outliers", _outliers, dict(model="mamba2")),
    "gret": ("outliers", _outliers, dict(model="gret", gate_tau=3.0)),
    "retnet": ("outliers", _outliers, dict(model="retnet", decay=0.9)),
    "gla": ("outliers", _outliers, dict(model="gla", gate_tau=2.0)),
    "gla-stack": ("outliers", _outliers, dict(model="gla", layers=2, gate_tau=2.0)),
    "ssm": ("features", _features, dict(model="ssm", wbc="trained")),
    "ssm-gate-only": ("features", _features, dict(model="ssm", reading="gate-only")),
    "lt-mlp": ("features", _features, dict(model="lt-mlp")),
    "lt-mlp-window": ("features", _features, dict(model="lt-mlp", window=3)),
    "ssm-stack": ("features", _features, dict(model="ssm", layers=2)),
    "ssm-gla": ("features", _features, dict(model="ssm", gate_type="gla", wbc="trained")),
    "st-mlp": ("features", _features, dict(model="st-mlp", heads=2, temperature=2.0)),
    "st-mlp-window": ("features", _features, dict(model="st-mlp", window=3)),
    "mamba-single-index": ("single_index", _readout, dict(gate="mamba")),
    "la-single-index": ("single_index", _readout, dict(gate="constant")),
    "mamba-single-index-e2e": ("single_index", _network, dict(gate="mamba")),
    "la-single-index-e2e": ("single_index", _network, dict(gate="constant", tokens="raw")),
    "st-single-index-e2e": ("single_index", _network, dict(gate="softmax")),
}


def _build(name, seed=0, **extra):
    family, make, fields = SETTINGS[name]
    cfg, batch = make(seed, **fields, **extra)
    return families.module(family, "models").REGISTRY.build(cfg), batch


def _inputs(batch):
    """What a model's ``predict`` reads of a batch: the prompts or sequences, or (single index) the batch."""
    return batch if isinstance(batch, tuple) else getattr(batch, "P", getattr(batch, "X", None))


def test_every_model_name_has_a_setting_here():
    assert set(families.models()) <= set(SETTINGS)


@pytest.mark.parametrize("name", sorted(SETTINGS))
def test_every_model_answers_the_same_calls(name):
    """``init_params``, ``trained`` (a subset of the container's blocks, every one with a gradient),
    ``loss_and_grad(params, batch)`` and its ``reference=True`` twin (the same numbers), ``predict``."""
    mdl, batch = _build(name)
    assert isinstance(mdl, Model)
    params = mdl.init_params(np.random.default_rng(1))
    assert isinstance(params, mdl.Params)
    blocks = params.as_arrays()
    assert mdl.trained and set(mdl.trained) <= set(blocks)
    for k in mdl.trained:  # move off the initialisation (zero gates, identity projections)
        blocks[k] += 0.1 * np.random.default_rng(2).standard_normal(blocks[k].shape)
    fast = mdl.loss_and_grad(params, batch)
    ref = mdl.loss_and_grad(params, batch, reference=True)
    assert isinstance(fast, LossGrad) and np.isfinite(fast.loss)
    assert set(mdl.trained) <= set(fast.grads) == set(ref.grads)
    assert fast.loss == pytest.approx(ref.loss, rel=1e-10, abs=1e-13)
    for k, g in ref.grads.items():
        assert fast.grads[k].shape == blocks[k].shape
        np.testing.assert_allclose(fast.grads[k], g, rtol=1e-9, atol=1e-12 * max(1.0, np.abs(g).max()))
    F = mdl.predict(params, _inputs(batch))
    np.testing.assert_allclose(F, fast.F, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(mdl.predict(params, _inputs(batch), reference=True), F, rtol=1e-9, atol=1e-12)
    assert mdl.params_from(params.as_arrays()).as_arrays().keys() == blocks.keys()


def test_the_registry_picks_one_layer_or_stack_once():
    from mamba_dynamics.features.models import GateOnlySSM, SSMStack
    from mamba_dynamics.outliers.models import OneLayer, Stack

    assert type(_build("mamba")[0]) is OneLayer and type(_build("mamba-stack")[0]) is Stack
    assert type(_build("ssm-stack")[0]) is SSMStack and type(_build("ssm-gate-only")[0]) is GateOnlySSM
    assert _build("mamba-stack")[0].label == "2-block mamba"
    with pytest.raises(KeyError, match="unknown outliers model"):
        families.module("outliers", "models").REGISTRY.model_class(type("C", (), {"model": "gpt", "layers": 1}))


#: models whose fast paths keep arrays in workspaces, at sizes that take those paths: the outlier stack (its
#: training and evaluation arrays), the Eq. 5 SSM on long sequences (the chunked scan: step, head and active rows),
#: linear attention's chunked pairwise form, the feature stack, the Hermite network's context passes
INTERLEAVED = [("mamba-stack", {}), ("ssm", dict(L=64, d=8)), ("lt-mlp", dict(L=70, d=64)), ("ssm-stack", {}),
               ("mamba-single-index-e2e", {}), ("st", {}), ("st-mlp", {})]


@pytest.mark.parametrize("name, extra", INTERLEAVED)
def test_two_models_interleaved_give_the_numbers_each_gives_alone(name, extra):
    """Two model objects of one class and the same shapes (the case module-level scratch arrays got wrong),
    different parameters and data, called in turn: every loss, gradient and output equals the one a fresh object
    gives alone, and an output a model returned is not overwritten by the other model's calls."""
    runs = []
    for seed in (0, 1):
        mdl, batch = _build(name, seed, **extra)
        params = mdl.init_params(np.random.default_rng(seed + 5))
        for k in mdl.trained:
            getattr(params, k)[...] += 0.2 * np.random.default_rng(seed).standard_normal(getattr(params, k).shape)
        runs.append((mdl, params, batch))

    def results(mdl, params, batch):
        r = mdl.loss_and_grad(params, batch)
        return r.loss, {k: g.copy() for k, g in r.grads.items()}, mdl.predict(params, _inputs(batch)).copy()

    alone = [results(type(m)(m.cfg), p, b) for m, p, b in runs]
    for _ in range(2):  # in turn, twice (the second time on warm workspaces)
        for (mdl, params, batch), want in zip(runs, alone):
            got = results(mdl, params, batch)
            assert got[0] == want[0] and np.array_equal(got[2], want[2])
            assert all(np.array_equal(got[1][k], want[1][k]) for k in want[1])
    if hasattr(runs[0][0], "outputs"):  # an evaluation's arrays belong to its model
        (m0, p0, b0), (m1, p1, b1) = runs
        Y0 = m0.outputs(p0, b0.X)
        kept = Y0.copy()
        m1.outputs(p1, b1.X)
        m1.predict(p1, b1.X)
        np.testing.assert_array_equal(Y0, kept)


def test_a_model_pickles_without_its_scratch_arrays():
    """Models go to worker processes: their workspaces stay behind (a fresh one is made there on first use)."""
    import pickle

    mdl, batch = _build("mamba-stack")
    params = mdl.init_params(np.random.default_rng(0))
    before = mdl.loss_and_grad(params, batch)
    clone = pickle.loads(pickle.dumps(mdl))
    assert clone._scratch == {} and mdl._scratch
    after = clone.loss_and_grad(params, batch)
    assert after.loss == before.loss and all(np.array_equal(after.grads[k], before.grads[k]) for k in before.grads)
