"""The benchmark script runs and checks every framework against the Numba kernel (speed is never asserted)."""

import subprocess
import sys


def test_step_bench_smoke(root):
    res = subprocess.run([sys.executable, str(root / "benchmarks" / "step_bench.py"), "--smoke"],
                         capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-2000:]
    out = res.stdout
    assert "numba us" in out and "GFLOP/s" in out
    rows = [line for line in out.splitlines() if line.startswith(("mamba ", "lt "))]
    assert len(rows) == 2
    # frameworks that are not installed are reported as skipped, not as failures
    for name in ("torch", "jax"):
        assert f"{name} us" in out or f"skipped: {name}" in out


def test_features_bench_smoke(root):
    """The feature-model benchmark checks torch / JAX / NumPy against the Numba step, then times them."""
    res = subprocess.run([sys.executable, str(root / "benchmarks" / "features_bench.py"), "--smoke"],
                         capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-2000:]
    rows = [line for line in res.stdout.splitlines() if line.startswith(("ssm ", "lt-mlp "))]
    assert len(rows) == 2 and "GFLOP/s" in res.stdout
    for name in ("torch", "jax"):
        assert f"{name} ms" in res.stdout or f"skipped: {name}" in res.stdout
