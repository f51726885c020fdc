"""Progress bars appear only on a terminal and never with --quiet."""

import sys

from mamba_dynamics.core.progress import _Silent, progress_bar


def test_silent_when_disabled_or_not_a_terminal(monkeypatch):
    assert isinstance(progress_bar(10, enabled=False), _Silent)
    monkeypatch.setattr(sys.stderr, "isatty", lambda: False, raising=False)
    assert isinstance(progress_bar(10, enabled=True), _Silent)


def test_tqdm_on_a_terminal(monkeypatch):
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)
    bar = progress_bar(3, enabled=True)
    assert not isinstance(bar, _Silent)
    bar.update(1)
    bar.close()
