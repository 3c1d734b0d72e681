"""T78: from schema version 5 a row stores its `hash` and an engine-made event id (32
lowercase hex digits) as the bytes they spell, 32 and 16 bytes where the hex text took 64 and
32, and a job's poll spans leave out their fields at their default (together about 11.7 MB of
a device's month, docs/performance.md). Only the storage changes: the chain hash covers the
hex text as before, every reader gets the text back, and a log of version 4 (text) grows on
in version 5, verifies, exports and imports, and an event it holds appended again under its
id is still found (both stored forms are looked up)."""

from __future__ import annotations

import json
import sqlite3
import uuid
from contextlib import closing
from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner
from raw_log import write_rows

from walsync.adapters.cli.main import cli
from walsync.adapters.ports import NewEvent
from walsync.adapters.store.readonly.queries import audit_rows, read_log
from walsync.adapters.store.readonly.verify import verify_log
from walsync.adapters.store.share.export import export_log
from walsync.adapters.store.share.importer import import_log
from walsync.adapters.store.sqlite import SqliteStore
from walsync.core.errors import IdempotencyConflict
from walsync.core.events import JobCompleted, PollSpan, WalRegistered
from walsync.core.serde import format_time, parse_time

from fakes import synced_log

_AT = parse_time("2026-05-20T08:00:00.000000Z")
_LATER = parse_time("2026-05-20T08:00:30.000000Z")
_GOLDEN_V4 = Path(__file__).resolve().parents[1] / "golden" / "v4" / "backend_saturation.jsonl"


def _stored(path: Path) -> list[tuple[Any, ...]]:
    """(schema version, the SQLite types and lengths of event_id and hash) of every row."""
    with closing(sqlite3.connect(path)) as conn:
        return conn.execute("SELECT schema_version, typeof(event_id), length(event_id), "
                            "typeof(hash), length(hash) FROM events ORDER BY seq").fetchall()


def _registration(wal_id: str, minute: int) -> WalRegistered:
    return WalRegistered(at=parse_time(f"2026-05-20T09:{minute:02d}:00.000000Z"), wal_id=wal_id,
                         timer_start=1779267600 + 60 * minute, file_path=f"{wal_id}.bin")


def test_t78_a_row_stores_its_hash_and_id_as_bytes(tmp_path: Path) -> None:
    path = synced_log(tmp_path / "log.db")  # engine-made ids (32 hex digits)
    store = SqliteStore(path)
    try:
        waiting = next(w for w in store.projection.wals.values() if w.job_id == "job-1")
        spans = (PollSpan(server_status="queued", first_poll_at=_AT),  # one poll: defaults
                 PollSpan(server_status="processing", polls=3, first_poll_at=_AT,
                          last_poll_at=_LATER, processed_segments=1, total_segments=2))
        done = JobCompleted(at=_LATER, wal_id=waiting.wal_id, job_id="job-1", polls_before=spans)
        store.append([NewEvent(event_id=uuid.uuid4().hex, event=done)])
        # an id that is not 32 hex digits stays text
        store.append([NewEvent(event_id="mine-1", event=_registration("omi_9", 1))])
    finally:
        store.close()
    stored = _stored(path)
    assert set(stored[:-1]) == {(5, "blob", 16, "blob", 32)}, stored
    assert stored[-1] == (5, "text", 6, "blob", 32)
    rows = list(read_log(path))
    assert all(len(r.hash) == 64 and int(r.hash, 16) >= 0 for r in rows)
    assert all(len(r.event_id) == 32 for r in rows[:-1]) and rows[-1].event_id == "mine-1"
    assert [r.prev_hash for r in rows[1:]] == [r.hash for r in rows[:-1]]
    assert verify_log(path).ok
    shown = [json.loads(line) for line in _cli("log", "--json", "--db", str(path)).splitlines()]
    assert [s["event_id"] for s in shown] == [r.event_id for r in rows]
    assert [r.seq for r in audit_rows(path, {"event_id": rows[2].event_id})] == [rows[2].seq]
    completed = next(r for r in rows if r.type == "JobCompleted")  # its poll spans' defaults
    assert orjson.loads(completed.data)["polls_before"] == [  # left out, read back
        {"first_poll_at": format_time(_AT), "server_status": "queued"},
        {"first_poll_at": format_time(_AT), "last_poll_at": format_time(_LATER), "polls": 3,
         "processed_segments": 1, "server_status": "processing", "total_segments": 2}]
    assert completed.event == done and completed.fields["polls_before"][0] == {
        "first_poll_at": format_time(_AT), "last_poll_at": format_time(_AT), "polls": 1,
        "processed_segments": 0, "server_status": "queued", "total_segments": 0}


def _cli(*args: str) -> str:
    result = CliRunner().invoke(cli, [*args])
    assert result.exit_code == 0, result.output
    return result.output


def _golden_v4(path: Path) -> list[dict[str, Any]]:
    """A log schema version 4 wrote (text ids and hashes, poll spans with every field)."""
    rows = [json.loads(line) for line in _GOLDEN_V4.read_text(encoding="utf-8").splitlines()]
    write_rows(path, rows)
    return rows


def test_t78_a_log_of_version_4_grows_in_version_5_verifies_and_finds_its_ids(
        tmp_path: Path) -> None:
    path = tmp_path / "log.db"
    old = _golden_v4(path)
    spanned = next(r for r in old if '"processed_segments":0' in r["data"])
    store = SqliteStore(path)
    try:
        stored = next(r for r in store.read() if r.seq == spanned["seq"])
        # appended again under its id, after the log's rows of version 5 began: found
        store.append([NewEvent(event_id=uuid.uuid4().hex, event=_registration("omi_1", 1))])
        assert store.append([NewEvent(event_id=stored.event_id, event=stored.event)]) == []
        with pytest.raises(IdempotencyConflict):
            store.append([NewEvent(event_id=stored.event_id, event=_registration("omi_2", 2))])
        store.append([NewEvent(event_id=uuid.uuid4().hex, event=_registration("omi_3", 3))])
    finally:
        store.close()
    stored_rows = _stored(path)
    assert len(stored_rows) == len(old) + 2
    assert set(stored_rows[:len(old)]) == {(4, "text", 32, "text", 64)}
    assert set(stored_rows[len(old):]) == {(5, "blob", 16, "blob", 32)}
    assert verify_log(path).ok
    assert json.loads(_cli("verify", "--full", "--json", "--db", str(path)))["ok"]
    rows = list(read_log(path))
    assert [(r.event_id, r.hash) for r in rows[:len(old)]] == [
        (r["event_id"], r["hash"]) for r in old]
    assert [r.prev_hash for r in rows[1:]] == [r.hash for r in rows[:-1]]
    for name in ("copy.jsonl", "copy.db"):  # hex in the file; imported, the same rows
        export_log(path, tmp_path / name)
        imported = tmp_path / f"imported-{name}.db"
        import_log(tmp_path / name, imported)
        assert [(r.event_id, r.hash) for r in read_log(imported)] == [
            (r.event_id, r.hash) for r in rows]
        assert set(_stored(imported)[len(old):]) == {(5, "blob", 16, "blob", 32)}
    with closing(sqlite3.connect(tmp_path / "copy.db")) as conn:  # spelled out as text
        assert {t for (t,) in conn.execute("SELECT DISTINCT typeof(hash) FROM events")} == {"text"}
