"""Resource limits (:mod:`mamba_dynamics.core.resources`): the limit's syntax, the estimates against the measured
peak of NumPy's allocations (``tracemalloc``) for every family, and the one-line refusal (exit 2, nothing written,
in well under 2 s) of every family's entry point, a sweep's largest cell and a benchmark."""

import argparse
import importlib
import time
import tracemalloc

import numpy as np
import pytest

from mamba_dynamics.core.resources import FACTOR, Estimate, available_memory, check_fits, parse_memory


@pytest.mark.parametrize("text, value", [("16G", 16 * 2**30), ("512M", 512 * 2**20), ("2.5GB", int(2.5 * 2**30)),
                                         ("1e9", 10**9), ("64 KiB", 64 * 1024), ("1T", 2**40)])
def test_the_limit_reads_sizes_with_units(text, value):
    assert parse_memory(text) == value


@pytest.mark.parametrize("text", ["abc", "-1G", "0", "nan", "inf", "12X", ""])
def test_a_bad_limit_is_refused(text):
    with pytest.raises(argparse.ArgumentTypeError):
        parse_memory(text)


def test_the_available_memory_is_read_from_the_system():
    avail = available_memory()
    assert avail is None or avail > 2**20


def test_work_beyond_the_bound_is_refused(capsys):
    from mamba_dynamics.core.cli import Parser

    parser = Parser(prog="x")
    with pytest.raises(SystemExit) as e:
        check_fits(parser, None, Estimate({"a": 1.0}, ("--steps",), 1e30))
    err = capsys.readouterr().err
    assert e.value.code == 2 and "floating-point operations" in err and "--steps" in err


def _peak(run) -> int:
    run()  # compile and warm up outside the measurement
    tracemalloc.start()
    try:
        run()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def _outliers(**kw):
    from mamba_dynamics.outliers.config import OutlierConfig
    from mamba_dynamics.outliers.train import train

    cfg = OutlierConfig(steps=4, log_every=2, **kw)
    return cfg.memory(), lambda: train(cfg)


def _features(**kw):
    from mamba_dynamics.features.config import FeaturesConfig
    from mamba_dynamics.features.train import train

    cfg = FeaturesConfig(steps=3, log_every=1, **kw)
    return cfg.memory(), lambda: train(cfg)


def _algorithm1(test_N=(64, 256), **kw):
    from mamba_dynamics.single_index.config import SingleIndexConfig
    from mamba_dynamics.single_index.experiments import simulate

    cfg = SingleIndexConfig(**kw)
    return cfg.memory(test_N), lambda: simulate(cfg, list(test_N), (), 1, 1, False, None)


def _network(test_N=(64,), **kw):
    from mamba_dynamics.single_index.config import NetworkConfig
    from mamba_dynamics.single_index.network_train import risk_curve, train_network

    cfg = NetworkConfig(steps=10, log_every=10, r=2, **kw)

    def run():
        risk_curve(train_network(cfg).params, cfg, test_N)

    return cfg.memory(test_N), run


#: runs of 40-150 MB, each family's largest parts exercised (measured peak / estimate: 0.6-1.2 when written)
CASES = {"outliers, large test set": lambda: _outliers(n_test=5000),
         "outliers, large batch": lambda: _outliers(batch=8000, n_test=200),
         "outliers, 3-block stack": lambda: _outliers(layers=3, n_test=2000),
         "outliers, GLA": lambda: _outliers(model="gla", batch=2000, n_test=2000),
         "features, large training set": lambda: _features(n_train=8000),
         "features, long sequences": lambda: _features(L=150, n_train=500, n_test=500),
         "features, 5-block stack": lambda: _features(layers=5),
         "single index, Algorithm 1": lambda: _algorithm1(T1=400, T2=100, n_test=50, d=12, r=2),
         "single index, network": lambda: _network(d=8, batch=300, n_eval=50)}


@pytest.mark.parametrize("case", CASES)
def test_the_estimate_holds_within_the_stated_factor(case):
    est, run = CASES[case]()
    peak = _peak(run)
    assert est.total / FACTOR <= peak <= est.total * FACTOR, (case, peak / 2**20, est.total / 2**20)


REFUSED = [("simulate", ["--model", "mamba"]), ("simulate", ["--model", "gla", "--layers", "3"]),
           ("simulate", ["--model", "ssm"]), ("simulate", ["--model", "mamba-single-index"]),
           ("simulate", ["--model", "st-single-index-e2e"]), ("fig2_error_vs_alpha", []),
           ("features_scaling", []), ("features_paper", []), ("single_index_e2e", [])]


@pytest.mark.parametrize("module, base", REFUSED, ids=lambda v: v if isinstance(v, str) else " ".join(v))
def test_a_run_above_the_limit_is_refused_with_one_line(module, base, tmp_path, monkeypatch, capsys):
    main = importlib.import_module(module).main
    monkeypatch.chdir(tmp_path)
    t0 = time.perf_counter()
    with pytest.raises(SystemExit) as e:
        main([*base, "--max-memory", "1M", "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err.strip().splitlines()
    assert e.value.code == 2 and len(err) == 1 and "needs about" in err[0] and "--max-memory" in err[0], err
    assert list(tmp_path.iterdir()) == [] and time.perf_counter() - t0 < 2.0


@pytest.mark.parametrize("script", ["stack_bench.py", "features_bench.py"])
def test_a_benchmark_above_the_limit_is_refused_before_timing(root, script):
    """The benchmarks' largest cases (the frameworks' pairwise arrays) are checked before any framework loads."""
    import subprocess
    import sys

    res = subprocess.run([sys.executable, str(root / "benchmarks" / script), "--max-memory", "1M"],
                         capture_output=True, text=True, timeout=120)
    err = res.stderr.strip().splitlines()
    assert res.returncode == 2 and len(err) == 1 and "largest case needs about" in err[0] and not res.stdout, err


def test_a_sweep_is_refused_by_its_largest_cell(tmp_path, capsys):
    from phase_diagram import main

    argv = ["--model", "mamba", "--x", "d", "--x-values", "40,100000", "--y", "p_a", "--y-values", "0.5",
            "--out", str(tmp_path / "o")]
    with pytest.raises(SystemExit) as e:
        main(argv)
    err = capsys.readouterr().err
    assert e.value.code == 2 and "the largest cell of this sweep" in err and not (tmp_path / "o").exists()


def test_the_named_runs_of_the_issue_are_refused(tmp_path, capsys):
    """The configurations one typo away from sensible that issue 41 tried (a traceback, a killed machine, a
    minute without output before): one line each, exit 2."""
    from simulate import main

    for argv in (["--model", "mamba", "--d", "100000"], ["--model", "mamba", "--l-tr", "100000000"],
                 ["--model", "mamba-single-index", "--d", "100000"], ["--model", "mamba", "--layers", "1000000"],
                 ["--model", "mamba", "--batch", "100000000"]):
        with pytest.raises(SystemExit) as e:
            main([*argv, "--out", str(tmp_path / "o")])
        err = capsys.readouterr().err.strip().splitlines()
        assert e.value.code == 2 and len(err) == 1 and "needs about" in err[0], (argv, err)
    assert not (tmp_path / "o").exists()


def test_a_generous_limit_lets_a_run_through():
    est, _ = _outliers()
    parser = argparse.ArgumentParser()
    check_fits(parser, argparse.Namespace(max_memory=2**40), est)  # nothing raised
    assert np.isfinite(est.total) and est.work > 0
