"""Which BLAS kernels NumPy and SciPy run, for run sidecars and benchmark headers.

OpenBLAS built with ``DYNAMIC_ARCH`` (the NumPy and SciPy wheels) picks its kernels (its "core": ``Haswell`` for
AVX2, ``SkylakeX`` for AVX-512, ...) from the CPU when the library loads, unless the environment variable
``OPENBLAS_CORETYPE`` names one.  Some machines set that variable for every process (this project's build machines
set ``OPENBLAS_CORETYPE=Haswell`` and ``OPENBLAS_L2_SIZE=512``, for older OpenBLAS builds that misbehave on their
CPU); NumPy 2.4's OpenBLAS then runs the AVX2 kernels on a CPU with AVX-512, and its small batched products take
2-2.5x as long (docs/performance_history.md, "BLAS kernels and threads").  The package never changes the variable; it
records what ran, so that a number can be traced to the kernels that made it: the kernels change the summation
order inside BLAS products, so results under two kernel sets agree to rounding, not bit for bit.

Glossary: ``core`` = OpenBLAS's name for a kernel set; ``threads`` = its thread count at the time of the call.
"""

from __future__ import annotations

import os


def describe() -> dict:
    """The BLAS libraries loaded so far (NumPy's; SciPy's once ``scipy.linalg`` is imported): ``{"libraries":
    [{"library", "version", "core", "threads"}, ...], "forced": OPENBLAS_CORETYPE or None}`` (``forced``: the
    kernels were named by the environment rather than detected).  Empty ``libraries`` without threadpoolctl."""
    info = {"libraries": [], "forced": os.environ.get("OPENBLAS_CORETYPE") or None}
    try:
        from threadpoolctl import threadpool_info
    except ImportError:  # pragma: no cover - a declared dependency
        return info
    for lib in threadpool_info():
        if lib.get("user_api") == "blas":
            info["libraries"].append({"library": os.path.basename(lib.get("filepath", "")),
                                      "version": lib.get("version"), "core": lib.get("architecture"),
                                      "threads": lib.get("num_threads")})
    return info


def summary() -> str:
    """One line for benchmark headers, e.g. ``BLAS: OpenBLAS 0.3.31.188.0 SkylakeX, 1 thread(s) (kernels
    detected)``."""
    d = describe()
    libs = "; ".join(f"{'OpenBLAS' if 'openblas' in lib['library'] else lib['library']} {lib['version']} "
                     f"{lib['core']}, {lib['threads']} thread(s)" for lib in d["libraries"]) or "none reported"
    how = f"kernels forced by OPENBLAS_CORETYPE={d['forced']}" if d["forced"] else "kernels detected"
    return f"BLAS: {libs} ({how})"


__all__ = ("describe", "summary")
