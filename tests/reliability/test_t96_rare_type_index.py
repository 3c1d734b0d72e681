"""T96: the index on the events' type holds only the rare types. Six types are six rows in
seven of a device's log and nothing looks them up by type; indexing every row's type took
4.1 MB of a month's 104.7 MB live log. `events_rare_type` leaves them out, and every query by
type that opening, `status` and `why` run still finds its rows through it (a query that
forgot the index's term would read the whole table: 121 ms on a month's log, where the index
takes well under a millisecond). A log an earlier walsync wrote, with the index on every row,
is still its own (verify, import) and gets the smaller index at its first open."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

import pytest
import sqlite_utils
from click.testing import CliRunner
from compacted import aged_log, days

from walsync.adapters.cli.main import cli
from walsync.adapters.diagnosis.why import explain_wal
from walsync.adapters.store.readonly.verify import verify_log
from walsync.adapters.store.schema import COMMON_TYPES, of_types
from walsync.adapters.store.segments.compact import compact_log
from walsync.adapters.store.sqlite import SqliteStore

from fakes import synced_log


def _indexes(path: Path) -> set[str]:
    with closing(sqlite3.connect(path)) as conn:
        return {name for (name,) in conn.execute(
            "SELECT name FROM sqlite_schema WHERE type = 'index' AND tbl_name = 'events'")}


@contextmanager
def _statements(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Every statement run on a connection opened meanwhile, its parameters filled in."""
    seen: list[str] = []
    real: Callable[..., sqlite3.Connection] = sqlite3.connect

    def connect(*args: Any, **kwargs: Any) -> sqlite3.Connection:
        conn = real(*args, **kwargs)
        conn.set_trace_callback(seen.append)
        return conn

    with monkeypatch.context() as patch:
        patch.setattr(sqlite3, "connect", connect)
        yield seen


def test_open_status_why_and_import_find_rare_rows_through_the_index(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "log.db"
    h = aged_log(path)
    compact_log(path, older_than=days(30), now=h.clock.now())
    h.store.close()
    with closing(sqlite3.connect(path)) as conn:
        ids = [w for (w,) in conn.execute("SELECT wal_id FROM wal_rows ORDER BY wal_id")]
    with _statements(monkeypatch) as seen:
        SqliteStore(path).close()
        for args in (["status", "--db", str(path)], ["why", ids[-1], "--db", str(path)],
                     ["import", str(path), "--into", str(tmp_path / "whole.db")]):
            assert CliRunner().invoke(cli, args).exit_code == 0, args
        explain_wal(path, ids[0])
    by_type = [s for s in dict.fromkeys(seen) if "FROM events" in s and not s.startswith("CREATE") and any(
        term in s.partition(" WHERE ")[2] for term in ("type =", "type IN"))]
    assert len(by_type) >= 5
    with closing(sqlite3.connect(path)) as conn:
        for statement in by_type:
            plan = [row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + statement)]
            # By the type index, or each read of the events by one stream (a recording's
            # `UploadAccepted` rows, whose jobs' streams its readers read: issue 17, T99).
            by_stream = all("events_stream_version (stream=?)" in step for step in plan
                            if step.startswith(("SEARCH events", "SCAN events")))
            assert "events_rare_type" in " | ".join(plan) or by_stream, (statement, plan)


def test_the_index_holds_the_rare_rows_only(tmp_path: Path) -> None:
    path = synced_log(tmp_path / "log.db")
    assert "events_rare_type" in _indexes(path) and "events_type" not in _indexes(path)
    with closing(sqlite3.connect(path)) as conn:
        rare = conn.execute(f"SELECT count(*) FROM events INDEXED BY events_rare_type "
                            f"WHERE {of_types('CooldownStarted', 'UploadsHeld', 'PolicyApplied')}"
                            ).fetchone()[0]
        types = {t for (t,) in conn.execute("SELECT DISTINCT type FROM events")}
    assert rare >= 2 and types & set(COMMON_TYPES)
    with pytest.raises(ValueError, match="not a rare event type"):
        of_types("WalRegistered")


def test_a_log_with_the_earlier_index_is_ours_and_gets_the_smaller_one(tmp_path: Path) -> None:
    path = synced_log(tmp_path / "log.db")
    with closing(sqlite3.connect(path)) as conn:  # as an earlier walsync made it
        conn.execute("DROP INDEX events_rare_type")
        sqlite_utils.Database(conn).table("events").create_index(["type"], "events_type")
        conn.commit()
    assert verify_log(path).ok and "events_rare_type" not in _indexes(path)
    SqliteStore(path).close()
    assert "events_rare_type" in _indexes(path) and "events_type" not in _indexes(path)
    assert verify_log(path).ok
