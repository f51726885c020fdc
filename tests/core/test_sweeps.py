"""Sweeps and phase diagrams (core engine, exercised through the outlier family, and the phase-diagram CLI of every
family): grids, resume after kill -9, failure isolation, the Dask path, bad specs."""

import json
import os
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from mamba_dynamics.core.sweeps import Axis, GridError, SweepSpec, parse_grid, run_sweep, save_dataset
from mamba_dynamics.outliers import experiments
from mamba_dynamics.outliers.config import OutlierConfig
from mamba_dynamics.outliers.experiments import SWEEP

SMALL = OutlierConfig(steps=150, n_test=100)


def spec_of(*args, **kwargs):
    return SweepSpec(SWEEP, *args, **kwargs)


def quiet(*a, **k):
    pass


def test_parse_grid_forms():
    assert parse_grid(SWEEP, "alpha", "0:0.3:0.1") == (0.0, 0.1, 0.2, 0.3)
    assert parse_grid(SWEEP, "l_ts", "10,20,40") == (10, 20, 40)
    assert parse_grid(SWEEP, "eta", "geom:0.01:1:3") == (0.01, 0.1, 1.0)
    assert parse_grid(SWEEP, "model", "mamba,lt") == ("mamba", "lt")
    assert len(parse_grid(SWEEP, "alpha", None)) == 10  # default grid


@pytest.mark.parametrize("field, text, needle", [
    ("alfa", "0,1", "unknown config field 'alfa'"),
    ("alpha", "0:1", "cannot read the grid"),
    ("alpha", "a,b", "cannot read the grid"),
    ("alpha", "0.5:0.1:0.1", "cannot read the grid"),
    ("l_ts", "10,15.5", "takes integers"),
    ("alpha", "0.1,0.1", "repeats a value"),
    ("seed", "0,1", "cannot be an axis"),
    ("alpha", ",", "is empty"),
])
def test_bad_grids(field, text, needle):
    with pytest.raises(GridError, match=re.escape(needle)):
        parse_grid(SWEEP, field, text)


def test_invalid_cell_is_named():
    spec = spec_of(SMALL, Axis("alpha", (0.5,)), Axis("p_a", (0.5, 1.0)), (0,))
    with pytest.raises(GridError, match="cell alpha=0.5, p_a=1.0: p_a"):
        spec.groups()
    with pytest.raises(GridError, match="both 'alpha'"):
        spec_of(SMALL, Axis("alpha", (0.1,)), Axis("alpha", (0.2,)), (0,))


def test_test_side_axes_share_training_runs():
    spec = spec_of(SMALL, Axis("alpha", (0.0, 0.5, 0.9)), Axis("l_ts", (10, 20)), (0, 1))
    assert len(spec.groups()) == 2  # one training per seed for 6 cells
    spec = spec_of(SMALL, Axis("alpha", (0.0, 0.5)), Axis("p_a", (0.2, 0.6)), (0,))
    assert len(spec.groups()) == 2  # one per p_a


def test_failed_cells_are_recorded_and_sweep_goes_on(tmp_path, monkeypatch):
    spec = spec_of(SMALL, Axis("alpha", (0.3,)), Axis("eta", (0.1, 1e8, 0.2)), (0,), n_eval=200)
    real_train = experiments.train

    def flaky(cfg, *a, **k):
        if cfg.eta == 0.2:
            raise ValueError("injected failure")
        return real_train(cfg, *a, **k)

    monkeypatch.setattr(experiments, "train", flaky)
    data = run_sweep(spec, tmp_path, jobs=1, log=quiet)
    assert data["status"][:, 0, 0].tolist() == [1, 2, 2]
    errors = sorted(f["error"] for f in data["failures"])
    assert errors[0].startswith("RuntimeError: diverged at step") and errors[1] == "ValueError: injected failure"
    assert np.isfinite(data["arrays"]["test_err"][0, 0, 0]) and np.isnan(data["arrays"]["test_err"][1, 0, 0])
    save_dataset(spec, data, tmp_path)
    side = json.loads((tmp_path / "phase.json").read_text())
    assert len(side["failures"]) == 2


def _phase_cmd(root, out, *extra):
    return [sys.executable, str(root / "scripts" / "phase_diagram.py"), "--model", "mamba", "--x", "alpha",
            "--x-values", "0.2,0.6", "--y", "p_a", "--y-values", "0.2,0.4,0.6,0.8", "--seeds", "2", "--steps", "300",
            "--n-eval", "200", "--jobs", "1", "--quiet", "--out", str(out), *extra]


def test_resume_after_kill_gives_identical_dataset(root, tmp_path):
    full, killed = tmp_path / "full", tmp_path / "killed"
    assert subprocess.run(_phase_cmd(root, full), capture_output=True, timeout=300).returncode == 0
    proc = subprocess.Popen(_phase_cmd(root, killed), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)
    deadline = time.time() + 120
    while time.time() < deadline and len(list((killed / "cells").glob("*.json"))) < 2:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    n_done = len(list((killed / "cells").glob("*.json")))
    assert 2 <= n_done < 8, n_done
    res = subprocess.run(_phase_cmd(root, killed), capture_output=True, text=True, timeout=300)
    assert res.returncode == 0 and f"{n_done} already finished, {8 - n_done} to run" in res.stdout
    with np.load(full / "phase.npz") as a, np.load(killed / "phase.npz") as b:
        assert sorted(a.files) == sorted(b.files)
        for k in a.files:
            np.testing.assert_array_equal(a[k], b[k])


def test_dask_cluster_path(tmp_path):
    distributed = pytest.importorskip("distributed")
    spec = spec_of(SMALL, Axis("alpha", (0.2, 0.7)), Axis("p_a", (0.3, 0.6)), (0,), n_eval=200)
    local = run_sweep(spec, tmp_path / "local", jobs=1, log=quiet)
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None) as c:
        remote = run_sweep(spec, tmp_path / "dask", scheduler=c.scheduler_address, log=quiet)
    assert c.scheduler_address.startswith("tcp://")
    for m in ("test_err", "attn_same", "gate_clean"):
        np.testing.assert_array_equal(local["arrays"][m], remote["arrays"][m])
    assert len(list((tmp_path / "dask" / "cells").glob("*.json"))) == 2


@pytest.mark.parametrize("args, needle", [
    (["--x", "alpha", "--y", "alpha"], "both 'alpha'"),
    (["--x", "alpha", "--y", "nope"], "unknown config field 'nope'"),
    (["--x", "alpha", "--x-values", "0:1", "--y", "p_a"], "cannot read the grid"),
    (["--x", "alpha", "--x-values", "0.5,1.5", "--y", "p_a"], "alpha (test outlier fraction) must lie in [0, 1]"),
    (["--x", "alpha", "--y", "p_a", "--metric", "accuracy"], "unknown metric 'accuracy'"),
    (["--x", "alpha", "--y", "p_a", "--seeds", "0"], "--seeds must be a positive integer"),
    (["--x", "alpha"], "the following arguments are required: --y"),
])
def test_phase_cli_bad_specs_exit_2(args, needle, cli_error):
    from phase_diagram import main

    assert needle in cli_error(main, args)


def test_phase_cli_dry_run_and_figure(root, tmp_path, capsys):
    from phase_diagram import main

    assert main(["--x", "alpha", "--y", "l_ts", "--dry-run", "--out", str(tmp_path / "dry")]) == 0
    dry = capsys.readouterr().out
    assert "training runs" in dry and "estimated time" in dry
    assert not (tmp_path / "dry").exists()
    out = tmp_path / "ph"
    assert main(_phase_cmd(root, out, "--pdf")[2:]) == 0
    assert (out / "phase.png").stat().st_size > 10_000 and (out / "phase.pdf").exists()
    with np.load(out / "phase.npz") as z:
        assert z["test_err"].shape == (4, 2, 2) and z["test_err_mean"].shape == (4, 2)
        assert (z["status"] == 1).all()
    side = json.loads((out / "phase.json").read_text())
    assert side["sweep"]["x"]["field"] == "alpha" and side["n_training_runs"] == 8


@pytest.mark.parametrize("args", [
    ["--model", "ssm", "--regime", "majority", "--x", "alpha_r", "--y", "L", "--dry-run"],
    ["--model", "mamba-single-index", "--x", "d", "--y", "r", "--metric", "risk", "--dry-run"],
])
def test_phase_dry_run_for_other_families(args, capsys):
    from phase_diagram import main

    assert main(args) == 0
    out = capsys.readouterr().out
    assert "training runs" in out and "estimated time" in out


@pytest.mark.parametrize("args, shape", [
    (["--model", "ssm", "--regime", "majority", "--x", "alpha_r", "--x-values", "0.3,0.5", "--y", "L",
      "--y-values", "10,20", "--steps", "40", "--n-train", "150", "--metric", "iters_to_target"], (2, 2, 2)),
    (["--model", "mamba-single-index", "--x", "d", "--x-values", "4,6", "--y", "r", "--y-values", "1,2",
      "--T1", "300", "--T2", "150", "--N-pt", "32", "--width", "16", "--queries", "8", "--metric", "risk"], (2, 2, 2)),
])
def test_phase_diagrams_run_for_other_families(args, shape, tmp_path):
    from phase_diagram import main

    out = tmp_path / "ph"
    assert main([*args, "--seeds", "2", "--n-eval", "60", "--jobs", "1", "--quiet", "--out", str(out)]) == 0
    with np.load(out / "phase.npz") as z:
        metric = args[args.index("--metric") + 1]
        assert z[metric].shape == shape and (z["status"] == 1).all()
    assert (out / "phase.png").stat().st_size > 10_000
    side = json.loads((out / "phase.json").read_text())
    assert side["sweep"]["family"] in ("features", "single_index")
    assert main([*args, "--seeds", "2", "--n-eval", "60", "--jobs", "1", "--quiet", "--out", str(out)]) == 0


@pytest.mark.parametrize("args, needle", [
    (["--model", "ssm", "--x", "alpha_r", "--y", "nope"], "unknown config field 'nope'"),
    (["--model", "mamba-single-index", "--x", "d", "--y", "r", "--metric", "test_err"], "unknown metric 'test_err'"),
    (["--model", "gpt", "--x", "d", "--y", "r"], "unknown model 'gpt'"),
    (["--model", "mamba-single-index", "--x", "d", "--x-values", "4", "--y", "r", "--y-values", "8"], "r = 8 > d = 4"),
])
def test_phase_cli_bad_specs_other_families(args, needle, cli_error):
    from phase_diagram import main

    assert needle in cli_error(main, args)
