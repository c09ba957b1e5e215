"""What a logged model's code needs to run elsewhere: the first-party packages it imports and pinned requirements.

An MLflow pyfunc logged from code (``models/churn_pyfunc.py``, ``models/ltv_pyfunc.py``) imports ``models.*`` and
``features.*``. Outside this checkout those packages do not exist, so the model must carry them (``code_paths``)
and its ``requirements.txt`` must name every third-party distribution they import.

``import_closure(entry)`` follows the imports of ``entry`` through the first-party packages, statically (the
``ast`` of each file, no import is executed): module-level and function-level imports alike, since a lazy import
still runs at load or predict time; imports under ``if TYPE_CHECKING:`` are left out because they never run.
The third-party top-level names it finds become ``dist==version`` pins from the installed distributions.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from importlib.metadata import packages_distributions, version
from pathlib import Path

FIRST_PARTY = ("churnltv", "features", "models", "service", "training")
REPO_ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class ImportClosure:
    """First-party packages (top-level names) and third-party top-level modules reachable from one file."""

    packages: tuple[str, ...]
    third_party: tuple[str, ...]
    files: tuple[Path, ...]


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imported_names(tree: ast.Module, package: str) -> list[str]:
    """Absolute dotted names imported anywhere in ``tree`` except under ``if TYPE_CHECKING:``.

    ``from a.b import c`` yields both ``a.b`` and ``a.b.c`` (``c`` may be a submodule); relative imports are
    resolved against ``package``.
    """
    names: list[str] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for statement in node.orelse:
                visit(statement)
            return
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                parent = ".".join(parts[: len(parts) - node.level + 1])
                base = f"{parent}.{base}" if base else parent
            names.append(base)
            names.extend(f"{base}.{alias.name}" for alias in node.names if alias.name != "*")
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return names


def _module_file(name: str, root: Path) -> Path | None:
    path = root.joinpath(*name.split("."))
    if (path / "__init__.py").is_file():
        return path / "__init__.py"
    if path.with_suffix(".py").is_file():
        return path.with_suffix(".py")
    return None


def import_closure(entry: Path, root: Path = REPO_ROOT) -> ImportClosure:
    """Follow the imports of ``entry`` through the first-party packages under ``root`` (see the module doc)."""
    packages: set[str] = set()
    third: set[str] = set()
    seen: set[Path] = set()
    todo: list[tuple[Path, str]] = [(Path(entry).resolve(), "")]
    while todo:
        path, package = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        for name in _imported_names(ast.parse(path.read_text(encoding="utf-8"), str(path)), package):
            top = name.split(".")[0]
            if top in FIRST_PARTY:
                packages.add(top)
                found = _module_file(name, root)
                if found is not None:
                    parts = name.split(".")
                    todo.append((found.resolve(), name if found.name == "__init__.py" else ".".join(parts[:-1])))
                # every parent package's __init__ runs on import too
                for depth in range(1, name.count(".") + 1):
                    parent = _module_file(".".join(name.split(".")[:depth]), root)
                    if parent is not None:
                        todo.append((parent.resolve(), ".".join(name.split(".")[:depth])))
            elif top and top not in sys.stdlib_module_names and top != "__future__":
                third.add(top)
    return ImportClosure(tuple(sorted(packages)), tuple(sorted(third)), tuple(sorted(seen)))


def _distribution(module: str, mapping: Mapping[str, list[str]]) -> str | None:
    candidates = mapping.get(module, [])
    if not candidates:
        return None
    normalized = module.replace("_", "-").lower()
    exact = [d for d in candidates if d.replace("_", "-").lower() == normalized]
    return (exact or sorted(candidates))[0]


def pinned_requirements(modules: tuple[str, ...], always: tuple[str, ...] = ("mlflow",)) -> list[str]:
    """``dist==version`` for the installed distributions providing ``modules`` (plus ``always``), sorted."""
    mapping = packages_distributions()
    dists = {d for d in (_distribution(m, mapping) for m in modules) if d is not None} | set(always)
    return sorted(f"{d}=={version(d)}" for d in dists)
