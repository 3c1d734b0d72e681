"""The core does no I/O and reads no clock; projections import only the core (docs/design.md, Layers)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
CORE = sorted((ROOT / "core").glob("*.py"))
PROJECTIONS = sorted((ROOT / "projections").glob("*.py"))

FORBIDDEN_IN_CORE = frozenset({"sqlite3", "sqlite_utils", "httpx", "time", "os", "random",
                               "socket", "subprocess", "uuid", "importlib"})
CLOCK_CALLS = frozenset({("datetime", "now"), ("datetime", "utcnow"), ("datetime", "today"),
                         ("date", "today")})
THIRD_PARTY_IN_CORE = frozenset({"attrs", "attr", "cattrs", "orjson", "transitions"})
THIRD_PARTY_IN_PROJECTIONS = frozenset({"attrs", "attr"})
OURS = "walsync"


def imported_modules(tree: ast.AST) -> list[str]:
    """Every absolute module name an import statement names (relative ones marked with dots)."""
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = "." * node.level + (node.module or "")
            names.append(base)
            if node.module == OURS or (node.level and not node.module):
                names.extend(f"{base}.{alias.name}".lstrip(".") for alias in node.names)
    return names


def clock_reads(tree: ast.AST) -> list[str]:
    """`datetime.now()`, `datetime.datetime.utcnow()`, `date.today()` and friends."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            owner = node.func.value
            owner_name = owner.id if isinstance(owner, ast.Name) else (
                owner.attr if isinstance(owner, ast.Attribute) else None)
            if (owner_name, node.func.attr) in CLOCK_CALLS:
                found.append(f"{owner_name}.{node.func.attr}() at line {node.lineno}")
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and (
                node.func.id == "__import__"):
            found.append(f"__import__() at line {node.lineno}")
    return found


def core_violations(source: str) -> list[str]:
    tree = ast.parse(source)
    bad = [f"imports {name}" for name in imported_modules(tree)
           if name.split(".")[0] in FORBIDDEN_IN_CORE]
    bad += [f"imports {name}" for name in imported_modules(tree)
            if name.startswith(("walsync.adapters", "walsync.projections", "."))]
    bad += [f"imports third-party {name}" for name in imported_modules(tree)
            if (top := name.split(".")[0]) not in sys.stdlib_module_names
            and top not in THIRD_PARTY_IN_CORE and top != OURS and top != "__future__"]
    return bad + [f"reads the clock: {call}" for call in clock_reads(tree)]


def projection_violations(source: str) -> list[str]:
    bad = []
    for name in imported_modules(ast.parse(source)):
        top = name.split(".")[0]
        if name.startswith(("walsync.core", "walsync.projections")) or name == "__future__":
            continue
        if top in sys.stdlib_module_names or top in THIRD_PARTY_IN_PROJECTIONS:
            continue
        bad.append(f"imports {name}")
    return bad


@pytest.mark.parametrize("source", [
    "import time", "import os.path", "from os import environ", "import sqlite3",
    "from sqlite_utils import Database", "import httpx", "import random as r",
    "from uuid import uuid4", "import socket", "import subprocess",
    "from datetime import datetime\nx = datetime.now()",
    "import datetime\nx = datetime.datetime.utcnow()",
    "from datetime import date\nx = date.today()",
    "from datetime import datetime, UTC\nx = datetime.now(UTC)",
    "from walsync.adapters.engine import Engine", "import walsync.projections.view",
    "from walsync import adapters", "import requests", "m = __import__('os')",
    "import importlib\nm = importlib.import_module('os')",
])
def test_the_checker_catches_each_kind_of_violation(source: str) -> None:
    assert core_violations(source), source


def test_the_checker_lets_pure_code_through() -> None:
    source = ("from __future__ import annotations\nimport re\nfrom datetime import UTC, datetime\n"
              "from attrs import frozen\nfrom walsync.core.events import Event\n"
              "x = datetime(2026, 1, 1, tzinfo=UTC)\ny = x.replace(year=2027)\n")
    assert core_violations(source) == []


@pytest.mark.parametrize("module", CORE, ids=lambda p: p.name)
def test_core_module_is_pure(module: Path) -> None:
    assert core_violations(module.read_text(encoding="utf-8")) == [], module.name


def test_every_core_module_was_checked() -> None:
    assert {p.name for p in CORE} >= {"states.py", "machine.py", "wal.py", "gate.py",
                                      "decide_upload.py", "decide_reconcile.py", "serde.py"}


@pytest.mark.parametrize("source", ["from walsync.adapters.engine import Engine", "import httpx",
                                    "import sqlite_utils", "from cattrs import Converter"])
def test_the_projection_checker_catches_foreign_imports(source: str) -> None:
    assert projection_violations(source), source


@pytest.mark.parametrize("module", PROJECTIONS, ids=lambda p: p.name)
def test_projection_module_imports_only_the_core(module: Path) -> None:
    assert projection_violations(module.read_text(encoding="utf-8")) == [], module.name


def test_importing_the_whole_core_loads_no_adapter_projection_or_io_library() -> None:
    modules = [f"walsync.core.{p.stem}" for p in CORE if p.stem != "__init__"]
    # socket is not probed: email.utils (stdlib, used for HTTP-dates) imports it
    probe = (
        "import importlib, sys\n"
        f"for m in {modules!r}: importlib.import_module(m)\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
        "{'sqlite3', 'sqlite_utils', 'httpx'} or "
        "m.startswith(('walsync.adapters', 'walsync.projections')))\n"
        "print(','.join(bad))\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                            check=True, timeout=60)
    assert result.stdout.strip() == ""
