"""T84: `walsync compact` given what is not a walsync log: a text file, an empty file, a
SQLite database of someone else's, a path with nothing there. Each is refused with one `Error:`
line naming it and exit code 1 (the code every command gives a missing log), and the file is
left as it was: compaction opens a log for writing, and opening made an empty file a new log
and moved a text file aside as a damaged log, then said "nothing to compact" and exited 0."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from field_server import walsync

from walsync.adapters.store.segments.compact import compact_log
from walsync.core.errors import StoreError


def _files(tmp_path: Path) -> dict[str, bytes | None]:
    (tmp_path / "notes.db").write_text("my shopping list\n", encoding="utf-8")
    (tmp_path / "empty.db").write_bytes(b"")
    with closing(sqlite3.connect(tmp_path / "other.db")) as conn:
        conn.execute("CREATE TABLE songs (title TEXT)")
        conn.execute("INSERT INTO songs VALUES ('a')")
        conn.commit()
    return {name: (tmp_path / name).read_bytes() if (tmp_path / name).exists() else None
            for name in ("notes.db", "empty.db", "other.db", "missing.db")}


def _left_as_it_was(tmp_path: Path, before: dict[str, bytes | None]) -> None:
    for name, content in before.items():
        path = tmp_path / name
        assert (path.read_bytes() if path.exists() else None) == content, f"{name} changed"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        n for n, c in before.items() if c is not None), "nothing is written beside them"


def test_t84_compact_refuses_what_is_not_a_walsync_log(tmp_path: Path) -> None:
    """Regression: notes.db was moved to notes.db.corrupt-... and replaced by a new log,
    empty.db and other.db became logs, each with "nothing to compact" and exit code 0;
    missing.db was a usage error (exit 2) where every other command says "no log file"
    (exit 1)."""
    before = _files(tmp_path)
    wrong = []
    for name in before:
        done = walsync("compact", "--db", name, "--older-than", "0s", cwd=tmp_path)
        lines = done.stderr.splitlines()
        if (done.returncode != 1 or len(lines) != 1 or not lines[0].startswith("Error: ")
                or name not in lines[0] or done.stdout):
            wrong.append(f"{name}: exit {done.returncode}, {done.stdout!r} {done.stderr!r}")
    assert not wrong, "\n".join(wrong)
    _left_as_it_was(tmp_path, before)


@pytest.mark.parametrize("name", ["notes.db", "empty.db", "other.db", "missing.db"])
def test_t84_compact_log_raises_a_store_error(tmp_path: Path, name: str) -> None:
    before = _files(tmp_path)
    with pytest.raises(StoreError, match=name):
        compact_log(tmp_path / name, older_than=timedelta(0), now=datetime.now(UTC))
    _left_as_it_was(tmp_path, before)
