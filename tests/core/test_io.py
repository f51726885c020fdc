"""Atomic writes, JSON sidecar contents, round trip."""

import json

import numpy as np

from mamba_dynamics.core.io import atomic_write_bytes, load_run, save_json, write_run


def test_atomic_write_leaves_no_temp_files(tmp_path):
    p = atomic_write_bytes(tmp_path / "a" / "x.bin", b"hello")
    assert p.read_bytes() == b"hello"
    atomic_write_bytes(p, b"again")
    assert p.read_bytes() == b"again"
    assert sorted(x.name for x in p.parent.iterdir()) == ["x.bin"]


def test_json_nan_becomes_null(tmp_path):
    save_json(tmp_path / "s.json", {"a": float("nan"), "b": np.float64(2.0), "c": np.arange(3)})
    assert json.loads((tmp_path / "s.json").read_text()) == {"a": None, "b": 2.0, "c": [0, 1, 2]}


def test_write_run_round_trip_with_metadata(tmp_path):
    write_run(tmp_path, "r", {"x": np.arange(4.0)}, {"config": {"seed": 3}, "seed": 3})
    arrays, side = load_run(tmp_path, "r")
    np.testing.assert_array_equal(arrays["x"], np.arange(4.0))
    assert side["seed"] == 3 and side["arrays"] == ["x"]
    assert {"numpy", "numba", "python", "mamba_dynamics"} <= set(side["metadata"]["versions"])
    assert "git_commit" in side["metadata"]
    # the BLAS kernels that made the numbers (they change the last bits of every product)
    blas = side["metadata"]["blas"]
    assert set(blas) == {"libraries", "forced"} and all({"core", "threads", "version"} <= set(lib)
                                                         for lib in blas["libraries"])
