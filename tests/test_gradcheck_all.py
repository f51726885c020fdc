"""Every model's gradients four ways (Numba kernel, NumPy reference, finite differences, sympy of the recurrence),
the checker CLI from the repository and from the installed package, and the gradient each training loop runs is
the one the checker verifies (a wrong kernel is caught by the checker *and* changes training)."""

import subprocess
import sys

import numpy as np
import pytest

from mamba_dynamics import families
from mamba_dynamics.core.gradcheck import check

SPECS = families.gradient_specs()
#: specs checked four ways by their own tests (tests/outliers/test_gated_family.py, tests/features/test_gates.py):
#: the stacks of App. E.6's gates and the Eq. 5 mixer with them (``--layers``, ``--gate-type``: no model names)
OWN_TESTS = {"mamba2-stack", "gret-stack", "retnet-stack", "gla-stack", "ssm-mamba2", "ssm-gret", "ssm-retnet",
             "ssm-gla"}


#: the specs whose sympy derivation costs seconds a point (stacks, networks trained end to end): sympy at the
#: unit point only (the checker's CLI and derivations/ run every point)
SLOW_SYMBOLIC = {name for name in SPECS if name.endswith(("-stack", "-e2e"))}


@pytest.mark.parametrize("name", sorted(set(SPECS) - OWN_TESTS))
@pytest.mark.parametrize("seed, scale, symbolic", [(0, 1.0, True), (1, 0.3, False), (2, 3.0, True)])
def test_every_model_four_ways(name, seed, scale, symbolic):
    """Kernel, reference and finite differences at three points; sympy (the costly part: its derivation is made
    for each point's data) at the unit and the large-weight point (:data:`SLOW_SYMBOLIC`: the unit one)."""
    symbolic = symbolic and not (name in SLOW_SYMBOLIC and scale != 1.0)
    rows = check(SPECS[name], seed, scale, symbolic=symbolic)
    expected = {"kernel~reference", "kernel~fd"} | ({"kernel~sympy", "reference~sympy"} if symbolic else set())
    assert {r.comparison for r in rows} == expected
    bad = [r for r in rows if not r.ok]
    assert not bad, bad


def test_every_model_of_the_vocabulary_is_checked():
    """Every model name has a spec; the extra specs are the deep stacks (``--layers``), which are no model names."""
    assert set(SPECS) - set(families.models()) == {"mamba-stack", "lt-stack", "ssm-stack", "st-stack"} | OWN_TESTS
    assert set(families.models()) <= set(SPECS)


def test_check_gradients_cli(root, tmp_path):
    """The script checks a model it is asked for and offers every spec (``all`` runs the loop that
    :func:`test_every_model_four_ways` runs in process, spec by spec)."""
    res = subprocess.run([sys.executable, str(root / "scripts" / "check_gradients.py"), "--model", "gla-stack",
                          "--no-sympy"], capture_output=True, text=True, timeout=300, cwd=root)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "comparisons within tolerance" in res.stdout and "NO" not in res.stdout and "\ngla-stack " in res.stdout
    helptext = subprocess.run([sys.executable, str(root / "scripts" / "check_gradients.py"), "--help"],
                              capture_output=True, text=True, timeout=120, cwd=root).stdout
    for name in SPECS:
        assert name in " ".join(helptext.split()).replace("- ", "-")
    bad = subprocess.run([sys.executable, str(root / "scripts" / "check_gradients.py"), "--model", "gpt"],
                         capture_output=True, text=True, timeout=120, cwd=root)
    assert bad.returncode == 2 and "unknown model 'gpt'" in bad.stderr and len(bad.stderr.splitlines()) == 1


def test_checker_runs_from_the_installed_package(tmp_path):
    """From a folder outside the repository, with nothing of the checkout on the path: the symbolic specs are
    part of the installed package."""
    res = subprocess.run([sys.executable, "-m", "mamba_dynamics.check_gradients", "--model", "lt"],
                         capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "kernel~sympy" in res.stdout and "comparisons within tolerance" in res.stdout


def _scaled(module, name, factor, monkeypatch, pick):
    real = getattr(module, name)

    def wrong(*args, **kwargs):
        return pick(real(*args, **kwargs), factor)

    monkeypatch.setattr(module, name, wrong)


def test_outlier_training_runs_the_checked_kernel(monkeypatch):
    from mamba_dynamics.outliers import gradients, symbolic
    from mamba_dynamics.outliers.config import OutlierConfig
    from mamba_dynamics.outliers.train import train

    cfg = OutlierConfig(steps=5, log_every=5, n_test=50)
    before = train(cfg).params.W_C
    _scaled(gradients, "hinge_grads", 1.5, monkeypatch,
            lambda r, f: r._replace(grads=dict(r.grads, W_C=f * r.grads["W_C"])))
    assert not all(r.ok for r in check(symbolic.MAMBA, 0, symbolic=False))
    assert not np.array_equal(train(cfg).params.W_C, before)


def test_feature_training_runs_the_checked_kernel(monkeypatch):
    from mamba_dynamics.features import content, symbolic
    from mamba_dynamics.features.config import FeaturesConfig
    from mamba_dynamics.features.train import train

    cfg = FeaturesConfig(steps=3, n_train=50, n_test=50)
    before = train(cfg).params.w
    _scaled(content, "content_grads", 1.5, monkeypatch,
            lambda r, f: r._replace(grads=dict(r.grads, w=f * r.grads["w"])))
    assert not all(r.ok for r in check(symbolic.SSM, 0, symbolic=False))
    assert not np.array_equal(train(cfg).params.w, before)


def test_single_index_pretraining_runs_the_checked_gradient(monkeypatch):
    """Stage I of Algorithm 1 calls gradients.stage1_grads, the function the checker verifies: a spy sees
    every chunk, and a wrong version is caught by the checker and changes gamma*."""
    from mamba_dynamics.single_index import gradients, symbolic
    from mamba_dynamics.single_index.config import SingleIndexConfig
    from mamba_dynamics.single_index.experiments import task
    from mamba_dynamics.single_index.train import stage1_direction

    cfg = SingleIndexConfig(d=5, r=2, T1=300, N_pt=32, width=16)
    I, coefs = task(cfg)
    v = np.ones(cfg.width)
    base = stage1_direction(cfg, I, coefs, v, np.random.default_rng(0))[0]
    calls = []
    real = gradients.stage1_grads
    monkeypatch.setattr(gradients, "stage1_grads", lambda *a, **k: calls.append(len(a[1])) or real(*a, **k))
    spied = stage1_direction(cfg, I, coefs, v, np.random.default_rng(0))[0]
    assert sum(calls) == cfg.T1 and np.allclose(spied, base, rtol=1e-12, atol=0)
    _scaled(gradients, "stage1_grads", 1.5, monkeypatch, lambda r, f: r._replace(grads={"gamma": f * r.grads["gamma"]}))
    assert not all(r.ok for r in check(symbolic.MAMBA_SI, 0, symbolic=False))
    assert not np.allclose(stage1_direction(cfg, I, coefs, v, np.random.default_rng(0))[0], base)
