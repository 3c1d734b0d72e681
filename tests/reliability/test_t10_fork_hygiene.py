"""T10: fork and lock hygiene. Static: no module that handles the live log opens its file
with anything but SQLite (closing any other descriptor on it drops the process's POSIX locks),
and no module connects at import time. Runtime: a forked child cannot use its parent's store
(StoreUsedAfterFork), while a store it opens itself works, and the parent's keeps working."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest
from storage_fixtures import check_sound, registered, stored_ids

from walsync.adapters.store.sqlite import SqliteStore
from walsync.core.errors import StoreUsedAfterFork

ADAPTERS = Path(__file__).resolve().parents[2] / "adapters"
# Modules that hold, open or check the live log file.
LOG_MODULES = ("store/sqlite", "store/startup_gate", "store/fork_guard", "bootstrap",
               "engine/base", "engine/uploads", "engine/reconcile", "engine/sync_core",
               "engine/lock", "service/folder_sync", "store/schema", "store/tables", "store/append_plan",
               "store/records", "store/readonly/verify", "store/readonly/queries")
_FILE_CALLS = {"open", "read_bytes", "write_bytes", "read_text", "write_text", "copy",
               "copyfile", "copy2", "fdopen", "truncate"}


def _file_calls(tree: ast.AST) -> list[str]:
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = func.id if isinstance(func, ast.Name) else (
            func.attr if isinstance(func, ast.Attribute) else "")
        if name in _FILE_CALLS:
            found.append(f"line {node.lineno}: {ast.unparse(func)}(...)")
    return found


def test_t10_static_no_file_open_on_the_log_and_no_connection_at_import() -> None:
    offenders = {}
    for name in LOG_MODULES:
        calls = _file_calls(ast.parse((ADAPTERS / f"{name}.py").read_text()))
        if calls:
            offenders[name] = calls
    assert not offenders, f"file calls in log modules: {offenders}"
    probe = (
        "import importlib, pkgutil, sqlite3, sys\n"
        "calls = []\n"
        "real = sqlite3.connect\n"
        "sqlite3.connect = lambda *a, **k: calls.append(a) or real(*a, **k)\n"
        "import walsync.adapters as pkg\n"
        "for info in pkgutil.walk_packages(pkg.__path__, 'walsync.adapters.'):\n"
        "    importlib.import_module(info.name)\n"
        "print(len(calls))\n")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "0", f"connections made at import time: {done.stdout}"


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_t10_forked_child_cannot_use_the_parents_store(tmp_path: Path) -> None:
    path = tmp_path / "log.db"
    store = SqliteStore(path)
    store.append([registered("parent", 0)])
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report what happened through the pipe, never return into pytest
        verdicts = []
        for attempt in (lambda: store.append([registered("child-bad", 0)]),
                        lambda: list(store.read()), store.head):
            try:
                attempt()
                verdicts.append("used")
            except StoreUsedAfterFork:
                verdicts.append("refused")
            except BaseException as error:
                verdicts.append(type(error).__name__)
        try:
            own = SqliteStore(path)
            own.append([registered("child-own", 0)])
            own.close()
            verdicts.append("own-ok")
        except BaseException as error:
            verdicts.append(f"own-{type(error).__name__}")
        os.write(write_end, " ".join(verdicts).encode())
        os._exit(0)
    os.close(write_end)
    _, status = os.waitpid(pid, 0)
    verdicts = os.read(read_end, 1000).decode().split()
    os.close(read_end)
    assert status == 0
    assert verdicts == ["refused", "refused", "refused", "own-ok"], verdicts
    store.append([registered("parent", 1)])  # the parent's store is untouched
    store.close()
    assert stored_ids(path) == ["parent-0", "child-own-0", "parent-1"]
    check_sound(path)
