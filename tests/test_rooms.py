"""The house's rules (docs/architecture.md): which room may import which, what stands at the root
of adapters/, which third-party libraries stay in their rooms, and that every lint suppression
says why. The rules are read from the code's imports, at any depth of a module."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import pytest

from sources import ROOT, import_graph, imported_names, library_sources, module_name, reachable

ARCHITECTURE = ROOT / "docs" / "architecture.md"


def drawn_arrows(page: str) -> set[tuple[str, str]]:
    """The `A --> B` arrows of the page's mermaid diagram (A may import B)."""
    [diagram] = re.findall(r"```mermaid\n(.*?)```", page, flags=re.S)
    return {(a, b) for a, b in re.findall(r"^\s*(\w+)\s*-->\s*(\w+)\s*$", diagram, flags=re.M)}


def may_import(arrows: set[tuple[str, str]]) -> dict[str, frozenset[str]]:
    """Each room to every room its arrows reach (the rooms it may import)."""
    rooms = {room for arrow in arrows for room in arrow}
    reach: dict[str, frozenset[str]] = {}
    for room in rooms:
        seen: set[str] = set()
        todo = [b for a, b in arrows if a == room]
        while todo:
            other = todo.pop()
            if other not in seen:
                seen.add(other)
                todo += [b for a, b in arrows if a == other]
        reach[room] = frozenset(seen)
    return reach


# Each room and the rooms it may import (besides itself), as docs/architecture.md draws them.
# `bootstrap` and `ports` are the modules at the root of adapters/; every folder under adapters/
# is a room (the engine is one).
MAY_IMPORT: Mapping[str, frozenset[str]] = may_import(drawn_arrows(
    ARCHITECTURE.read_text(encoding="utf-8")))
# Third-party libraries that belong to one room each (or to the CLI, which drives them all).
OWNED_LIBRARIES = {"click": {"cli"}, "psycopg": {"fleet", "cli"}, "starlette": {"fleet"},
                   "msgspec": {"fleet"},
                   "uvicorn": {"fleet"}}
ROOT_MODULES = {"__init__.py", "bootstrap.py", "ports.py"}
MAX_MODULES_PER_FOLDER = 12


def room_of(module: str) -> str | None:
    """`walsync.adapters.store.readonly.verify` -> store; `walsync` -> face; None for the three
    folders' own packages above the rooms."""
    parts = module.split(".")
    if len(parts) < 2:  # `walsync` itself: the face an app imports
        return "face"
    if parts[1] in ("core", "projections"):
        return parts[1]
    return parts[2] if len(parts) > 2 else None


def forbidden_arrows(graph: Mapping[str, frozenset[str]]) -> list[str]:
    """Every import from one room into another that MAY_IMPORT does not allow."""
    found = []
    for module, imported in sorted(graph.items()):
        room = room_of(module)
        for target in sorted(imported):
            other = room_of(target)
            if room is None or other is None or other == room:
                continue
            if other not in MAY_IMPORT.get(room, frozenset()):
                found.append(f"{module} ({room}) imports {target} ({other}): no arrow of "
                             f"docs/architecture.md leads from {room} to {other}")
    return found


def test_every_module_is_in_a_known_room() -> None:
    rooms = {room_of(module_name(p)) for p in library_sources()} - {None}
    assert rooms == set(MAY_IMPORT)


def test_no_room_imports_a_room_it_may_not() -> None:
    assert forbidden_arrows(import_graph()) == []


@pytest.mark.parametrize(("importer", "imported"), [
    ("walsync.core.gate", "walsync.adapters.store.sqlite"),
    ("walsync.projections.view", "walsync.adapters.ports"),
    ("walsync.adapters.store.sqlite", "walsync.adapters.http.client"),
    ("walsync.adapters.store.sqlite", "walsync.adapters.cli.main"),
    ("walsync.adapters.sim.run", "walsync.adapters.fleet.ingest"),
    ("walsync.adapters.fleet.ingest", "walsync.adapters.sim.run"),
    ("walsync.adapters.engine", "walsync.adapters.store.sqlite"),
])
def test_the_rule_check_catches_a_forbidden_arrow(importer: str, imported: str) -> None:
    assert forbidden_arrows({importer: frozenset({imported})}) != []


def test_the_rooms_that_need_no_one_else_stand_alone() -> None:
    """The issue's rules, spelled out: the core imports only itself; projections only the core;
    the store none of http, sim, fleet, cli; sim and fleet not each other."""
    assert MAY_IMPORT["core"] == frozenset()
    assert MAY_IMPORT["projections"] == {"core"}
    assert not MAY_IMPORT["store"] & {"http", "sim", "fleet", "cli"}
    assert "fleet" not in MAY_IMPORT["sim"] and "sim" not in MAY_IMPORT["fleet"]
    assert "fleet" not in MAY_IMPORT["push"] and "push" not in MAY_IMPORT["fleet"]


@pytest.mark.parametrize("library", sorted(OWNED_LIBRARIES))
def test_a_library_is_imported_only_in_its_rooms(library: str) -> None:
    users = {room_of(module_name(p)) for p in library_sources()
             if any(name.split(".")[0] == library
                    for name in imported_names(p.read_text(encoding="utf-8")))}
    assert users <= OWNED_LIBRARIES[library], users


def test_a_device_pushing_to_the_fleet_loads_no_postgresql_driver() -> None:
    """The push client runs on devices: importing it (and the sync that calls it) must not
    load psycopg, transitively either."""
    probe = ("import sys, walsync.adapters.push.client, walsync.adapters.cli.sync\n"
             "print(sorted(m for m in sys.modules if m.split('.')[0] in ('psycopg', 'starlette', "
             "'uvicorn')))")
    shown = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                           timeout=60, check=True)
    assert shown.stdout.strip() == "[]"


def test_the_root_of_adapters_holds_only_the_composition_root_and_the_ports() -> None:
    assert {p.name for p in (ROOT / "adapters").glob("*.py")} <= ROOT_MODULES
    rooms = [p for p in (ROOT / "adapters").iterdir() if (p / "__init__.py").is_file()]
    assert len(rooms) >= 5


@pytest.mark.parametrize("folder", sorted({p.parent for p in (ROOT / "adapters").rglob("*.py")}),
                         ids=lambda p: str(p.relative_to(ROOT)))
def test_no_room_holds_more_than_a_dozen_modules(folder: Path) -> None:
    """A room that outgrows this is split into sub-rooms (store/ has readonly/ and share/)."""
    modules = [p for p in folder.glob("*.py") if p.name != "__init__.py"]
    assert len(modules) <= MAX_MODULES_PER_FOLDER, [p.name for p in modules]


def test_every_module_is_reached_from_an_entry_point() -> None:
    """A module no entry point reaches serves only tests: it belongs under tests/, not in the
    wheel. Entry points: the face an app imports, the console script, the composition root,
    the in-memory store and the PostgreSQL one (`PgStore`, docs/fleet.md)."""
    entries = ("walsync", "walsync.adapters.cli.main", "walsync.adapters.bootstrap",
               "walsync.adapters.store.memory", "walsync.adapters.fleet.device_log")
    modules = {module_name(p) for p in library_sources() if p.name != "__init__.py"}
    assert modules - reachable(*entries) == set()


_SUPPRESSION = re.compile(r"#\s*(noqa|type:\s*ignore)\b(?P<rest>.*)$")


def suppressions_without_reason(source: str) -> list[str]:
    """`# noqa: X (why)` and `# type: ignore[x]  # why`: a suppression must say why."""
    bare = []
    for number, line in enumerate(source.splitlines(), 1):
        match = _SUPPRESSION.search(line)
        if match is None:
            continue
        rest = match["rest"]
        if match[1] == "noqa":
            ok = re.match(r":\s*[A-Z]+[0-9]+(?:,\s*[A-Z]+[0-9]+)*\s+\(.+\)", rest)
        else:
            ok = re.match(r"\[[\w, -]+\]\s+#\s*\S", rest)
        if not ok:
            bare.append(f"line {number}: {line.strip()}")
    return bare


@pytest.mark.parametrize("line", ["x = 1  # noqa: S608", "x = 1  # noqa",
                                  "x = 1  # type: ignore[arg-type]", "x = 1  # type: ignore"])
def test_the_suppression_check_catches_a_bare_one(line: str) -> None:
    assert suppressions_without_reason(line)


def test_every_lint_suppression_in_the_library_says_why() -> None:
    found = {str(p.relative_to(ROOT)): bare for p in library_sources()
             if (bare := suppressions_without_reason(p.read_text(encoding="utf-8")))}
    assert found == {}
