"""The package's shape: stages import each other without cycles, only through
each other's public modules, and no module grows past 500 lines.

Imports are read from the source (``ast``), whether at the top of a module or
inside a function; those under ``if TYPE_CHECKING:`` are for type checkers
only and do not count. ``tillflow._core`` (facts every stage uses) and
``tillflow._native`` (the compiled core) are open to every stage.
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

import tillflow

PACKAGE = Path(tillflow.__file__).parent
SHARED = ("_core", "_native")
MAX_LINES = 500


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


MODULES = _modules()


def _type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(name: str, path: Path) -> list[tuple[str, int]]:
    """(module imported, line) for every tillflow import of a module."""
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    found: list[tuple[str, int]] = []

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _type_checking(child):
                for other in child.orelse:
                    visit_one(other)
            else:
                visit_one(child)

    def visit_one(node: ast.AST) -> None:
        if isinstance(node, ast.Import):
            found.extend((alias.name, node.lineno) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            for alias in node.names:
                full = f"{module}.{alias.name}"
                found.append((full if full in MODULES else module, node.lineno))
        else:
            visit(node)

    visit(ast.parse(path.read_text(encoding="utf-8")))
    return [(m, line) for m, line in found if m == "tillflow" or m.startswith("tillflow.")]


GRAPH = {name: _imports(name, path) for name, path in MODULES.items()}


def _cycles() -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    edges = {n: {m for m, _ in GRAPH[n] if m in MODULES and m != n} for n in MODULES}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def connect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges[v]):
            if w not in index:
                connect(w)
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
                out.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            connect(v)
    return out


def _private_owner(module: str) -> list[str] | None:
    """The package a private module belongs to (``tillflow.warehouse`` for
    ``tillflow.warehouse._base``), or None for a public or shared module."""
    parts = module.split(".")
    for i, part in enumerate(parts[1:], 1):
        if part.startswith("_") and not part.startswith("__"):
            return None if part in SHARED and i == 1 else parts[:i]
    return None


def _stage(module: str) -> list[str]:
    return module.split(".")[:2]


def test_the_package_has_no_import_cycles() -> None:
    assert _cycles() == []


def test_no_stage_imports_another_packages_private_module() -> None:
    crossings = []
    for name, edges in GRAPH.items():
        for module, line in edges:
            owner = _private_owner(module)
            if owner is None:
                continue
            inside = name.split(".")[: len(owner)] == owner
            # A stage's modules share its private modules; a top-level private module
            # (tillflow._pipeline) is open only to the top-level package itself.
            same_stage = len(owner) > 1 and _stage(name) == owner[:2]
            if not (inside or same_stage or name == "tillflow"):
                crossings.append(f"{MODULES[name].relative_to(PACKAGE.parent)}:{line} imports {module}")
    assert crossings == []


def test_no_module_is_over_500_lines() -> None:
    long = {
        str(path.relative_to(PACKAGE.parent)): n
        for path in MODULES.values()
        if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert long == {}


@pytest.mark.parametrize("name", sorted(n for n, p in MODULES.items() if p.name == "__init__.py"))
def test_every_name_a_package_exports_exists(name: str) -> None:
    module = importlib.import_module(name)
    missing = [n for n in getattr(module, "__all__", ()) if n != "prefect" and not hasattr(module, n)]
    assert missing == []
