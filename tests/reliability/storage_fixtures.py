"""Shared pieces of the storage reliability tests: events to append and the after-restart checks."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import tempfile
from collections.abc import Callable, Sequence
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path

from walsync.adapters.ports import NewEvent
from walsync.adapters.store.readonly.verify import verify_log
from walsync.adapters.store.sqlite import SqliteStore
from walsync.adapters.store.tables import dump_projection_tables
from walsync.core.events import WalRegistered

T0 = datetime(2026, 5, 20, tzinfo=UTC)


def registered(tag: str, i: int) -> NewEvent:
    """One legal event on its own stream (a WAL registered); ids are unique per (tag, i)."""
    return NewEvent(event_id=f"{tag}-{i}", event=WalRegistered(at=T0, wal_id=f"{tag}_{i}",
                                                              timer_start=i))


def stored_ids(path: Path) -> list[str]:
    """Event ids in seq order, read with a fresh stdlib connection (closed at once: a second
    SQLite library in the same process must never hold the file while apsw's does)."""
    with closing(sqlite3.connect(path)) as conn:
        return [i for (i,) in conn.execute("SELECT event_id FROM events ORDER BY seq")]


def check_intact(path: Path) -> int:
    """integrity_check ok and a gapless seq (the cheap check after every restart); the head."""
    with closing(sqlite3.connect(path)) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        count, top = conn.execute("SELECT count(*), coalesce(max(seq), 0) FROM events").fetchone()
    assert count == top, f"gap in seq: {count} rows, max {top}"
    return int(top)


def check_sound(path: Path) -> int:
    """check_intact, the hash chain, and projection tables == replay; returns the head."""
    top = check_intact(path)
    with closing(sqlite3.connect(path)) as conn:
        tables = dump_projection_tables(conn)
    report = verify_log(path)
    assert report.ok, report.problem
    copy = Path(tempfile.mkdtemp(prefix="replayed-")) / "log.db"  # not beside it: it may be full
    with closing(sqlite3.connect(path)) as src, closing(sqlite3.connect(copy)) as dst:
        src.backup(dst)
    store = SqliteStore(copy)
    store.rebuild_projections()
    store.close()
    with closing(sqlite3.connect(copy)) as conn:
        again = dump_projection_tables(conn)
    diff = [(x, y) for x, y in zip(tables.splitlines(), again.splitlines(), strict=False) if x != y]
    assert again == tables, f"projection tables differ from replay: {diff[:2]}"
    shutil.rmtree(copy.parent)
    return int(top)


def log_then(folder: Path, *statements: str, events: int = 5) -> Path:
    """A closed log of `events` registrations at `folder`/log.db, then `statements` run on it
    by hand (another program's doing)."""
    path = folder / "log.db"
    store = SqliteStore(path)
    store.append([registered("s", i) for i in range(events)])
    store.close()
    with closing(sqlite3.connect(path)) as conn:
        for statement in statements:
            conn.execute(statement)
        conn.commit()
    return path


def read_with_each(commands: Sequence[Sequence[str]],
                   run: Callable[[list[str]], subprocess.CompletedProcess[str]], *, out: Path,
                   events: int) -> None:
    """Run each reading command (`{out}` in it is `out`) through `run`, which adds the log and
    the user: none may fail or print a traceback (every failure listed at once), `verify` must
    find the log sound and `status` show every row, and the export hold every event."""
    failed = []
    for command in commands:
        args = [a.format(out=out) for a in command]
        done = run(args)
        if done.returncode != 0 or "Traceback" in done.stderr:
            failed.append(f"{' '.join(command)}: {(done.stderr or done.stdout).strip()[-200:]}")
            continue
        if command[0] == "verify":
            report = json.loads(done.stdout)
            assert report["ok"] and report["events"] == events, report
        if command[0] == "status":
            assert len(json.loads(done.stdout)["rows"]) == events
    assert not failed, "\n".join(failed)
    header, *rows = (out / "shared.jsonl").read_text().splitlines()
    assert json.loads(header)["events"] == events and len(rows) == events
