"""The package dependency rule from docs/ARCHITECTURE.md, checked on the source.

features <- models <- training, features <- models <- service; service never imports
training; only churnltv/ (the composition root) may import everything. And no two modules import
each other, directly or through others: an import inside a function or under ``TYPE_CHECKING`` hides
a cycle from Python at import time, not from the reader, so every import at any depth counts.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
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


# Cycles left in service/ that issue 17's service half removes (service/batch/ engines). The lead deletes this entry
# when that branch is merged; the test fails if an entry is no longer a cycle, so the list cannot go stale.
KNOWN_SERVICE_CYCLES_TO_BE_FIXED: set[frozenset[str]] = {
    frozenset({"service.batch_scoring", "service.spark_scoring"}),
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _project_modules() -> dict[str, Path]:
    return {_module_name(p): p for pkg in sorted(PROJECT) for p in sorted((ROOT / pkg).rglob("*.py"))}


def _imported_names(path: Path, module: str) -> Iterator[str]:
    """Every module name an import statement anywhere in ``path`` may refer to (relative imports resolved)."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            yield base
            yield from (f"{base}.{alias.name}" for alias in node.names)  # `from pkg import module`


def import_graph() -> dict[str, set[str]]:
    """Module -> the project modules it imports, at any depth (module level, functions, TYPE_CHECKING)."""
    modules = _project_modules()

    def resolve(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {}
    for module, path in modules.items():
        targets = {resolve(name) for name in _imported_names(path, module)}
        graph[module] = {t for t in targets if t is not None and t != module}
    return graph


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), each sorted; sorted by first module."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(found)


def test_the_cycle_finder_sees_function_level_and_type_checking_imports(tmp_path: Path) -> None:
    graph = {"a.x": {"a.y"}, "a.y": {"a.z"}, "a.z": {"a.x"}, "a.w": {"a.x"}, "b.p": set()}
    assert import_cycles(graph) == [["a.x", "a.y", "a.z"]]
    source = tmp_path / "m.py"
    source.write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from training.churn_job import X\n"
        "def f():\n    from service import batch_scoring\n    import features.sources\n"
    )
    names = set(_imported_names(source, "training.m"))
    assert {"training.churn_job", "service.batch_scoring", "features.sources"} <= names


def test_no_import_cycle_between_modules() -> None:
    cycles = [frozenset(c) for c in import_cycles(import_graph())]
    unexpected = [sorted(c) for c in cycles if c not in KNOWN_SERVICE_CYCLES_TO_BE_FIXED]
    assert not unexpected, "import cycles (every import counts, also inside functions):\n" + "\n".join(
        " <-> ".join(c) for c in unexpected
    )
    stale = [sorted(c) for c in KNOWN_SERVICE_CYCLES_TO_BE_FIXED if c not in cycles]
    assert not stale, f"no longer a cycle, remove it from KNOWN_SERVICE_CYCLES_TO_BE_FIXED: {stale}"


def test_no_test_module_imports_another_test_module() -> None:
    # shared fixtures and helpers live in tests/support/; a test module that imports another one runs that module's
    # fixtures and module-level work too, and ties two unrelated test files together
    offenders = []
    for path in sorted((ROOT / "tests").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            bad = [n for n in names if n.split(".")[-1].startswith("test_") or n.split(".")[0] == "conftest"]
            offenders += [f"{path.relative_to(ROOT)} imports {n}" for n in bad]
    assert not offenders, "import shared test code from tests/support/:\n" + "\n".join(offenders)


def test_registry_names_and_tracking_uri_are_defined_once() -> None:
    # training registers and service loads under the same names and store; two copies drifted apart once already
    shared = {"CHURN_MODEL", "LTV_MODEL", "UPLIFT_MODEL", "DEFAULT_TRACKING_URI"}
    defined: dict[str, list[str]] = {}
    for module, path in _project_modules().items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in tree.body:
            targets = node.targets if isinstance(node, ast.Assign) else []
            targets += [node.target] if isinstance(node, ast.AnnAssign) else []
            defined_here = {t.id for t in targets if isinstance(t, ast.Name)} & shared
            for name in defined_here:
                defined.setdefault(name, []).append(module)
        settings_classes = [
            n
            for n in ast.walk(tree)
            if isinstance(n, ast.ClassDef) and any(ast.unparse(b).endswith("Settings") for b in n.bases)
        ]
        for cls in settings_classes:  # a settings field reads the environment; a dataclass field does not
            for stmt in cls.body:
                if isinstance(stmt, ast.AnnAssign) and ast.unparse(stmt.target) == "tracking_uri":
                    defined.setdefault("tracking_uri field", []).append(f"{module}.{cls.name}")
    twice = {name: where for name, where in defined.items() if len(where) > 1}
    assert not twice, f"defined more than once (keep them in models/registry_address.py): {twice}"
    assert defined.get("tracking_uri field") == ["models.registry_address.TrackingSettings"]
