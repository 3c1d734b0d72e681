"""T39: read-only media. A sound log on a read-only mount, where SQLite can neither find nor
make the -shm file a WAL-mode log is read through: every read-only command reads it, as a
closed log (no -wal) and as a crash copy whose last commits live only in its -wal, and
`verify` calls neither BAD. Nothing is written beside the log."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from field_server import walsync
from storage_fixtures import read_with_each, registered
from tmpfs import tmpfs

from walsync.adapters.store.sqlite import SqliteStore

COMMANDS = (
    ("status", "--json"),
    ("log", "--json"),
    ("why", "--all", "--json"),
    ("timeline", "r_3"),
    ("report", "--html", "{out}/report.html"),
    ("export", "--out", "{out}/shared.jsonl"),
    ("export", "--out", "{out}/shared.db"),
    ("verify", "--json"),
)


@pytest.fixture
def media(tmp_path: Path) -> Iterator[Path]:
    """A tmpfs holding a closed log and a crash copy, remounted read-only."""
    with tmpfs(tmp_path / "media", "16m", "T39 mounts a real tmpfs read-only") as mount:
        closed = mount / "closed.db"
        store = SqliteStore(closed)
        store.append([registered("r", i) for i in range(10)])
        store.close()
        hot = tmp_path / "hot.db"
        store = SqliteStore(hot)
        store.append([registered("r", i) for i in range(10)])
        for i in range(10, 14):  # these commits live only in the -wal
            store.append([registered("r", i)])
        for suffix in ("", "-wal"):  # as a crash would leave them (no -shm on the media)
            shutil.copy(f"{hot}{suffix}", mount / f"crash.db{suffix}")
        store.close()
        subprocess.run(["mount", "-o", "remount,ro", str(mount)], check=True)
        yield mount


@pytest.mark.parametrize(("name", "events"), [("closed.db", 10), ("crash.db", 14)])
def test_t39_every_read_only_command_reads_a_log_on_read_only_media(
        media: Path, tmp_path: Path, name: str, events: int) -> None:
    """Regression: each command failed with "unable to open database file", and verify
    printed BAD and exited 1 on an intact log."""
    before = sorted(p.name for p in media.iterdir())
    out = tmp_path / f"out-{name}"
    out.mkdir()
    read_with_each(COMMANDS, lambda args: walsync(args[0], "--db", str(media / name), *args[1:],
                                                  cwd=tmp_path), out=out, events=events)
    assert sorted(p.name for p in media.iterdir()) == before
    plain = walsync("verify", "--db", str(media / name), cwd=tmp_path)
    assert plain.returncode == 0 and plain.stdout.startswith("ok:"), plain.stdout
