import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
for p in (ROOT, ROOT / "scripts"):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT


@pytest.fixture
def cli_error(capsys):
    """``cli_error(main, argv)``: run an entry point's ``main`` in-process on input it must refuse and return its
    one stderr line, after checking the contract every entry point keeps: exit status 2, exactly one line, no
    traceback."""

    def run(main, argv) -> str:
        with pytest.raises(SystemExit) as exc:
            main(list(argv))
        err = capsys.readouterr().err
        lines = err.strip().splitlines()
        assert exc.value.code == 2, err
        assert len(lines) == 1 and "error:" in lines[0] and "Traceback" not in err, err
        return lines[0]

    return run
