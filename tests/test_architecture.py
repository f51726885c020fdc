"""The architecture holds: core imports no paper package, no paper package imports another, every family has the
same module roles, and the one model vocabulary (mamba_dynamics.families) matches what it documents."""

import ast
from pathlib import Path

import pytest

from mamba_dynamics import families

PKG = Path(__file__).resolve().parent.parent / "mamba_dynamics"
ROLES = ("config", "data", "model", "gradients", "train", "metrics", "theory", "experiments", "plotting", "cli",
         "symbolic")


def imported_packages(path: Path, package: str) -> set:
    """Sub-packages of mamba_dynamics that ``path`` (a module of ``mamba_dynamics.<package>``) imports."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level == 0 and node.module and node.module.startswith("mamba_dynamics."):
                found.add(node.module.split(".")[1])
            elif node.level == 1:
                found.add(package)
            elif node.level == 2:
                if node.module:
                    found.add(node.module.split(".")[0])
                else:
                    found.update(a.name for a in node.names)
        elif isinstance(node, ast.Import):
            for a in node.names:
                if a.name.startswith("mamba_dynamics."):
                    found.add(a.name.split(".")[1])
    return found


@pytest.mark.parametrize("package", ["core", *families.FAMILIES])
def test_packages_import_only_core_and_themselves(package):
    allowed = {"core", package, "__version__"}
    for path in sorted((PKG / package).glob("*.py")):
        extra = imported_packages(path, package) - allowed
        assert not extra, f"{path.name} imports {extra}"


@pytest.mark.parametrize("family", families.FAMILIES)
def test_every_family_has_the_same_roles(family):
    present = {p.stem for p in (PKG / family).glob("*.py")}
    assert set(ROLES) <= present, set(ROLES) - present


def test_vocabulary_table_matches_the_families():
    doc = families.__doc__
    rows = [line.split() for line in doc.splitlines() if line and not line.startswith(("=", "model "))]
    table = {r[0]: r[1] for r in rows if len(r) > 2 and r[1] in families.FAMILIES}
    assert table == {name: fam for name, (fam, _) in families.models().items()}


def test_no_leftover_top_level_modules():
    assert {p.stem for p in PKG.glob("*.py")} == {"__init__", "families", "check_gradients"}
