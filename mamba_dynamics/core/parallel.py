"""Process-level parallelism shared by reproductions and sweeps: one BLAS/Numba thread per worker process."""

from __future__ import annotations

import os
from typing import Callable, Iterator


def pin_threads() -> None:
    """One thread for BLAS (threadpoolctl) and Numba in this process: parallelism is across worker processes."""
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
        os.environ[var] = "1"
    try:
        import numba

        numba.set_num_threads(1)
    except (ImportError, ValueError):  # pragma: no cover
        pass
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(1)
    except ImportError:  # pragma: no cover
        pass


def call_pinned(fn: Callable, item):
    """``fn(item)`` after pinning this process to one BLAS/Numba thread (what every worker runs)."""
    pin_threads()
    return fn(item)


def map_processes(fn: Callable, items: list, jobs: int = 0, ordered: bool = True) -> Iterator:
    """Yield ``fn(item)`` for every item, in ``jobs`` worker processes (0 = all cores; 1 = in this process).
    ``ordered=False`` yields results as they complete.  Workers run with one BLAS/Numba thread each."""
    if not items:
        return
    jobs = (os.cpu_count() or 1) if jobs <= 0 else jobs
    if jobs == 1 or len(items) == 1:
        for item in items:
            yield fn(item)
        return
    from joblib import Parallel, delayed, parallel_config

    with parallel_config(backend="loky", inner_max_num_threads=1):
        yield from Parallel(n_jobs=min(jobs, len(items)),
                            return_as="generator" if ordered else "generator_unordered")(
            delayed(call_pinned)(fn, item) for item in items)


def map_with_progress(fn: Callable, items: list, jobs: int = 0, desc: str = "runs",
                      show_progress: bool = False) -> list:
    """``[fn(item) for item in items]`` (in order) through :func:`map_processes`, with a progress bar over the
    items (shown only on a terminal and with ``show_progress``)."""
    from .progress import progress_bar

    bar = progress_bar(total=len(items), desc=desc, enabled=show_progress)
    results = []
    try:
        for r in map_processes(fn, items, jobs, ordered=True):
            results.append(r)
            bar.update(1)
        return results
    finally:
        bar.close()


__all__ = ("pin_threads", "call_pinned", "map_processes", "map_with_progress")
