"""The lanes of :func:`mamba_dynamics.core.simd.gemm`'s tiles on this machine (a module of its own so that both
implementations of :mod:`~mamba_dynamics.core.simd` read the one value)."""

from __future__ import annotations

import os


def _host_width() -> int:
    """8 lanes where the core has AVX-512 (its 32 vector registers hold a tile of eight 8-lane sums), else 4; the
    environment variable ``MAMBA_DYNAMICS_GEMM_WIDTH`` (4 or 8) overrides it (to time an AVX2 core's tiles on an
    AVX-512 one, with ``NUMBA_CPU_NAME=haswell`` and a fresh ``NUMBA_CACHE_DIR``: the cached kernels keep the
    width they were compiled with; the results are the same bits at either width)."""
    forced = os.environ.get("MAMBA_DYNAMICS_GEMM_WIDTH", "")
    if forced in ("4", "8"):
        return int(forced)
    try:
        from llvmlite import binding

        return 8 if binding.get_host_cpu_features().get("avx512f", False) else 4
    except Exception:  # pragma: no cover - no feature query on this platform
        return 4


#: lanes per vector of :func:`gemm`'s tiles (8 with AVX-512, else 4): a speed choice only, each element's sum is
#: the same
GEMM_WIDTH = _host_width()
