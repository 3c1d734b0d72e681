"""T83: a log in a folder this user may not write (another user's log, a folder shared
read-only): SQLite can neither find nor make the -shm file a WAL-mode log is read through, and
answers SQLITE_READONLY_DIRECTORY where a read-only mount answers SQLITE_CANTOPEN (T39). Every
read-only command reads it, as a closed log and as a crash copy whose last commits live only in
its -wal, writing nothing beside it. As root the commands run through `setpriv` without the
capabilities that let root past a folder's mode (tests/unprivileged.py)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from storage_fixtures import read_with_each, registered
from unprivileged import as_bound_user, read_only

from walsync.adapters.store.sqlite import SqliteStore

COMMANDS = (
    ("status", "--json"),
    ("log", "--json"),
    ("why", "--all", "--json"),
    ("timeline", "r_3"),
    ("report", "--html", "{out}/report.html"),
    ("export", "--out", "{out}/shared.jsonl"),
    ("verify", "--json"),
    ("verify", "--full", "--json"),
)


@pytest.fixture
def shared(tmp_path: Path) -> Iterator[Path]:
    """A read-only folder holding a closed log and a crash copy (its -wal, no -shm)."""
    folder = tmp_path / "shared"
    folder.mkdir()
    store = SqliteStore(folder / "closed.db")
    store.append([registered("r", i) for i in range(10)])
    store.close()
    hot = tmp_path / "hot.db"
    store = SqliteStore(hot)
    store.append([registered("r", i) for i in range(10)])
    for i in range(10, 14):  # these commits live only in the -wal
        store.append([registered("r", i)])
    for suffix in ("", "-wal"):
        shutil.copy(f"{hot}{suffix}", folder / f"crash.db{suffix}")
    store.close()
    read_only(folder)
    yield folder
    folder.chmod(0o755)


@pytest.mark.parametrize(("name", "events"), [("closed.db", 10), ("crash.db", 14)])
def test_t83_every_read_only_command_reads_a_log_in_a_folder_it_may_not_write(
        shared: Path, tmp_path: Path, name: str, events: int) -> None:
    """Regression: each command said "Error: closed.db is not a readable SQLite database:
    attempt to write a readonly database" and exited 1 (verify: BAD) on an intact log."""
    before = sorted(p.name for p in shared.iterdir())
    out = tmp_path / f"out-{name}"
    out.mkdir()
    read_with_each(COMMANDS, lambda args: as_bound_user(args[0], "--db", name, *args[1:],
                                                        cwd=shared), out=out, events=events)
    assert sorted(p.name for p in shared.iterdir()) == before
