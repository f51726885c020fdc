"""Progress bars (tqdm on an interactive terminal, silent otherwise: ``--quiet``, pipes, CI, tests) and the
thread pinning every worker process applies."""

from __future__ import annotations

import os
import sys


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


class _Silent:
    """Stand-in with tqdm's interface that does nothing."""

    def update(self, n: int = 1) -> None:
        pass

    def set_postfix(self, **kwargs) -> None:
        pass

    def close(self) -> None:
        pass


def progress_bar(total: int, desc: str = "", enabled: bool = True):
    """A tqdm bar writing to stderr when ``enabled`` and stderr is a terminal; otherwise a silent stand-in."""
    if not enabled or not sys.stderr.isatty():
        return _Silent()
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, leave=False, dynamic_ncols=True)
