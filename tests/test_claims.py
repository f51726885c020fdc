"""The claims ledger: every claim measured from the saved results, the generated pages up to date, each reduced
check agreeing with the recorded verdict, and the command line's contract."""

import ast
import shutil
from pathlib import Path

import pytest

from mamba_dynamics.claims import VERDICTS, ledger
from mamba_dynamics.claims.__main__ import main

ROOT = Path(__file__).resolve().parent.parent
CLAIMS = ledger.all_claims()


@pytest.fixture(scope="module")
def rows():
    return ledger.evaluate(CLAIMS, ROOT)


def test_generated_pages_are_up_to_date(rows):
    """docs/claims.md / .json / .html and the verdict tables of README.md and each paper's page are what the
    registry and the saved results give now (regenerate with ``python -m mamba_dynamics.claims``)."""
    assert ledger.stale(rows, ROOT) == []
    for page in ("README.md", "docs/outliers.md", "docs/features.md", "docs/single_index.md"):
        assert "<!-- claims:" in (ROOT / page).read_text(), page


def test_every_claim_is_measured_from_files_that_exist(rows):
    assert len({c.id for c in CLAIMS}) == len(CLAIMS)
    assert {c.paper for c in CLAIMS} == set(ledger.PAPERS)
    for r in rows:
        assert r.measured is not None, r.missing
        assert r.measured.verdict in VERDICTS and r.measured.reason and r.measured.ours
        assert (ROOT / "docs" / r.claim.figure_path).exists(), r.claim.figure_path
        for s in r.claim.sources:
            assert s.command.startswith("python ") and f"docs/figures/{s.folder}" in s.command


def test_each_family_module_imports_only_the_core_and_its_family():
    pkg = ROOT / "mamba_dynamics" / "claims"
    for family in ("outliers", "features", "single_index"):
        tree = ast.parse((pkg / f"{family}.py").read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level:
                top = (node.module or "").split(".")[0]
                assert top in ("record", "core", family), (family, node.module)


@pytest.mark.parametrize("claim", [c for c in CLAIMS if c.reduced], ids=lambda c: c.id)
def test_reduced_check_agrees_with_the_recorded_verdict(claim, rows):
    recorded = next(r for r in rows if r.claim is claim).verdict
    assert claim.reduced.run().verdict == recorded


def test_check_and_selection_on_the_command_line(capsys):
    assert main(["--check"]) == 0
    assert "up to date" in capsys.readouterr().out
    assert main(["--id", "O8,F7"]) == 0  # a selection prints and writes nothing
    out = capsys.readouterr().out
    assert "O8 " in out and "F7 " in out and "O1 " not in out and "written" not in out


@pytest.mark.parametrize("argv, needle", [
    (["--paper", "nature"], "unknown paper 'nature'"),
    (["--id", "O99"], "unknown claim id O99"),
    (["--id", ","], "unknown claim id"),
    (["--check", "--paper", "outliers"], "--check compares the whole ledger"),
    (["--root", "/nonexistent"], "no saved results under"),
])
def test_bad_input_is_one_line_exit_2(argv, needle, cli_error):
    assert needle in cli_error(main, argv)


def test_a_stale_table_is_found_and_rewritten(tmp_path, capsys):
    """A copy of the repository's pages whose README table was edited by hand: --check fails naming it, a plain
    run rewrites it, and --check passes again."""
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "figures").symlink_to(ROOT / "docs" / "figures")
    for page in ("README.md", "docs/outliers.md", "docs/features.md", "docs/single_index.md", "docs/claims.md",
                 "docs/claims.json", "docs/claims.html"):
        shutil.copy(ROOT / page, tmp_path / page)
    readme = tmp_path / "README.md"
    readme.write_text(readme.read_text().replace("**reproduced**", "**reproduced, typed by hand**", 1))
    assert main(["--check", "--root", str(tmp_path)]) == 1
    assert "out of date: README.md" in capsys.readouterr().err
    assert main(["--root", str(tmp_path)]) == 0
    assert "written: README.md" in capsys.readouterr().out
    assert main(["--check", "--root", str(tmp_path)]) == 0
    assert readme.read_text() == (ROOT / "README.md").read_text()
