"""The library's source files and what they import, for the tests that read code (import
rules, the wheel, SQL, TLS settings, docs)."""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# The face (`face/`, only its __init__.py: the package `walsync` itself) and the three folders
# installed under it.
FACE = "face"
PACKAGES = (FACE, "core", "projections", "adapters")


def library_sources(*, with_init: bool = True) -> list[Path]:
    """Every .py file of the installed folders, subpackages included, in path order."""
    return sorted(p for package in PACKAGES for p in (ROOT / package).rglob("*.py")
                  if with_init or p.name != "__init__.py")


def installed_path(path: Path) -> str:
    """Where a source file lands in the wheel: `walsync/adapters/engine.py`, and
    `walsync/__init__.py` for the face's face/__init__.py."""
    relative = path.resolve().relative_to(ROOT)
    if relative.parts[0] == FACE:
        relative = relative.relative_to(FACE)
    return str(Path("walsync", relative))


def module_name(path: Path) -> str:
    """`walsync.adapters.store.sqlite` for adapters/store/sqlite.py (a package for __init__.py;
    `walsync` for the face)."""
    parts = Path(installed_path(path)).with_suffix("").parts
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def imported_names(source: str) -> set[str]:
    """Every absolute module an import statement names, at any depth of the code (imports inside
    functions count), and for `from M import N` also `M.N` (N may be a module)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


@cache
def import_graph() -> dict[str, frozenset[str]]:
    """Each library module to the library modules it imports (a package's own __init__ counts:
    importing a.b.c runs a and a.b first)."""
    modules = {module_name(p): p for p in library_sources()}
    graph: dict[str, frozenset[str]] = {}
    for name, path in modules.items():
        named = imported_names(path.read_text(encoding="utf-8"))
        parents = {".".join(name.split(".")[:i]) for i in range(2, name.count(".") + 1)}
        graph[name] = frozenset((named | parents) & modules.keys() - {name})
    return graph


def reachable(*roots: str) -> set[str]:
    """The library modules importing `roots` loads."""
    graph, seen, todo = import_graph(), set(), list(roots)
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo.extend(graph.get(name, ()))
    return seen
