"""Progress bars: tqdm on an interactive terminal, silent otherwise (``--quiet``, pipes, CI, tests)."""

from __future__ import annotations

import sys


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
