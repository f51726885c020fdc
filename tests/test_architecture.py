"""The architecture holds: core imports no paper package, no paper package imports another, every family has the
same module roles and registers every model name it offers, no module keeps scratch arrays at module level, the
core's map lists every core module, the tests use the package alone (not benchmarks/), and the one model vocabulary
(mamba_dynamics.families) matches what it documents."""

import ast
from pathlib import Path

import pytest

from mamba_dynamics import families

PKG = Path(__file__).resolve().parent.parent / "mamba_dynamics"
ROLES = ("config", "data", "model", "models", "gradients", "train", "metrics", "theory", "experiments", "plotting",
         "cli", "symbolic")


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


@pytest.mark.parametrize("family", families.FAMILIES)
def test_every_model_name_is_registered_once(family):
    """A family's model objects cover its ``--model`` names (``models.REGISTRY``)."""
    assert set(families.module(family, "models").REGISTRY.names()) == set(families.module(family, "config").MODELS)


def test_no_module_keeps_scratch_arrays_at_module_level():
    """Scratch memory belongs to a model object or the caller: no module-level ``Workspace(...)``."""
    for path in sorted(PKG.rglob("*.py")):
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, (ast.Assign, ast.AnnAssign)):
                calls = [c for c in ast.walk(node) if isinstance(c, ast.Call)]
                names = {getattr(c.func, "id", getattr(c.func, "attr", "")) for c in calls}
                assert "Workspace" not in names, f"{path.relative_to(PKG)}:{node.lineno}"


def test_the_core_map_lists_every_core_module():
    from mamba_dynamics import core

    modules = {p.stem for p in (PKG / "core").glob("*.py")} - {"__init__"}
    listed = {line.split()[0].strip("`") for line in core.__doc__.splitlines() if line.startswith("``")}
    assert listed == modules, modules ^ listed


def test_tests_use_the_package_not_the_benchmarks():
    for path in sorted(Path(__file__).resolve().parent.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                assert not node.module.startswith("benchmarks"), path.name
            if isinstance(node, ast.Import):
                assert not any(a.name.startswith("benchmarks") for a in node.names), path.name
