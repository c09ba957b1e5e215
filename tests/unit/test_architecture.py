"""The package dependency rule from docs/ARCHITECTURE.md, checked on the source.

features <- models <- training, features <- models <- service; service never imports
training; only churnltv/ (the composition root) may import everything.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ALLOWED = {
    "features": {"features"},
    "models": {"features", "models"},
    "training": {"features", "models", "training"},
    "service": {"features", "models", "service"},
}
PROJECT = {"features", "models", "training", "service", "churnltv"}


def _imported_packages(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found & PROJECT


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_imports_point_one_way(package: str) -> None:
    violations = []
    for path in sorted((ROOT / package).rglob("*.py")):
        bad = _imported_packages(path) - ALLOWED[package]
        if bad:
            violations.append(f"{path.relative_to(ROOT)} imports {sorted(bad)}")
    assert not violations, "dependency rule broken:\n" + "\n".join(violations)


def test_no_catch_all_modules() -> None:
    banned = {"utils.py", "helpers.py", "misc.py", "common.py"}
    found = [str(p.relative_to(ROOT)) for pkg in PROJECT for p in (ROOT / pkg).rglob("*.py") if p.name in banned]
    assert not found, f"catch-all modules are not allowed: {found}"


def _summary(path: Path) -> str:
    """A module's docstring summary: its first paragraph on one line."""
    doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
    return " ".join(doc.strip().split("\n\n")[0].split())


def _package_dirs() -> list[Path]:
    """Every package directory of the project (``features/``, ``churnltv/generator/``, ...)."""
    return sorted(p.parent for pkg in sorted(PROJECT) for p in (ROOT / pkg).rglob("__init__.py"))


def test_the_module_map_lists_every_module_with_its_docstring_summary() -> None:
    # docs/ARCHITECTURE.md's module map is how a newcomer finds a concept: a module missing from it, or a map line
    # that no longer says what the module's own docstring says, makes the map lie
    doc = (ROOT / "docs" / "ARCHITECTURE.md").read_text(encoding="utf-8")
    section = doc.split("## Module map", 1)[1]
    for directory in _package_dirs():
        package = directory.relative_to(ROOT).as_posix()
        assert f"### {package}/\n" in section, f"the module map has no section ### {package}/"
        block = section.split(f"### {package}/\n", 1)[1].split("\n### ", 1)[0].split("\n## ", 1)[0]
        listed = dict(re.findall(r"^- `([\w.]+\.py)`: (.*)$", block, re.M))
        modules = {p.name: _summary(p) for p in sorted(directory.glob("*.py")) if p.name != "__init__.py"}
        assert set(listed) == set(modules), (
            f"{package}/: missing from the map {sorted(set(modules) - set(listed))}, "
            f"no such module {sorted(set(listed) - set(modules))}"
        )
        for name, summary in modules.items():
            assert listed[name] == summary, f"{package}/{name}: map says {listed[name]!r}, docstring {summary!r}"
