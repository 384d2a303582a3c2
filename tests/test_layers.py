"""Layers point one way: dubber/ (CLI, orchestration) uses pipelines/ (stages), which uses
tts_core/ (usable alone); bench/ uses them all and nothing uses bench/. Every import in
every module, at the top or inside a function, is read from the source."""

import ast
from pathlib import Path

import pytest

from .conftest import ROOT

# What each package may import of the others.
ALLOWED = {
    "tts_core": set(),
    "pipelines": {"tts_core"},
    "dubber": {"tts_core", "pipelines"},
    "bench": {"tts_core", "pipelines", "dubber"},
}


def imported_packages(path: Path) -> set[tuple[str, int]]:
    """(first name of each absolute import, line) in a module."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found |= {(alias.name.split(".")[0], node.lineno) for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add((node.module.split(".")[0], node.lineno))
    return found


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_no_import_points_up_a_layer(package):
    modules = sorted((ROOT / package).rglob("*.py"))
    assert modules
    wrong = [f"{path.relative_to(ROOT)}:{line} imports {name}"
             for path in modules for name, line in sorted(imported_packages(path))
             if name in ALLOWED and name != package and name not in ALLOWED[package]]
    assert not wrong, "\n".join(wrong)


def test_the_walk_sees_imports_inside_functions(tmp_path):
    module = tmp_path / "m.py"
    module.write_text("import os\n\ndef f():\n    from dubber.cli import main\n    import pipelines.asr\n")
    assert {name for name, _ in imported_packages(module)} == {"os", "dubber", "pipelines"}
