"""T98: a row leaves out of its data the fields at their declared default and a recording's
`wal_id`, which its stream names (schema version 4: 68 bytes a row, 12.2 MB of a month's live
log), and every reader gets them back. The same
events written as schema version 3 did (every field stored) read the same: the events
decoded, the fold (`status --json`), `why --all --json`, `log --json`, every audit view and
the fleet's compiled shape check. Every `json_extract` path of walsync's SQL names a field
that is stored even at its default. A log an earlier walsync wrote grows on, and an event it
wrote appended again with the same id is still a no-op (its body compared in today's shape)."""

from __future__ import annotations

import json
import re
import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

import orjson
from click.testing import CliRunner
from raw_log import chain, write_rows

from walsync.adapters.cli.main import cli
from walsync.adapters.fleet.bulk.shapes import read_data
from walsync.adapters.ports import NewEvent
from walsync.adapters.store.readonly.verify import verify_log
from walsync.adapters.store.records import SELECT_ROWS, stored_from_row
from walsync.adapters.store.schema import _VIEWS
from walsync.adapters.store.sqlite import SqliteStore
from walsync.core.events import SyncRunFinished, WalRegistered
from walsync.core.serde import (
    SCHEMA_VERSION,
    VIEW_FIELDS,
    check_data,
    parse_time,
    stored_defaults,
    with_defaults,
)

from fakes import synced_log

_ROOT = Path(__file__).resolve().parents[2]


def _rows(path: Path) -> list[tuple[Any, ...]]:
    with closing(sqlite3.connect(path)) as conn:
        return conn.execute(SELECT_ROWS + " ORDER BY seq").fetchall()


def _as_version_3(src: Path, dst: Path) -> None:
    """The log's rows as schema version 3 wrote them: every field stored, chained anew."""
    rows = [{"event_id": r[1], "stream": r[2], "version": r[3], "type": r[4],
             "schema_version": 3, "at": r[6],
             "data": with_defaults(r[4], orjson.loads(r[7])), "commit_end": r[10]}
            for r in _rows(src)]
    write_rows(dst, chain(rows))


def _cli(*args: str) -> Any:
    result = CliRunner().invoke(cli, [*args])
    assert result.exit_code == 0, result.output
    try:
        return json.loads(result.output)
    except json.JSONDecodeError:  # JSON Lines
        return [json.loads(line) for line in result.output.splitlines()]


def _views(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every audit view's rows, but the raw `data` column of `wal_events`."""
    with closing(sqlite3.connect(path)) as conn:
        found = {}
        for name in _VIEWS:
            cursor = conn.execute(f"SELECT * FROM [{name}] ORDER BY seq")
            names = [d[0] for d in cursor.description]
            found[name] = [tuple(v for n, v in zip(names, row, strict=True) if n != "data")
                           for row in cursor]
        return found


def _without_ids(report: Any) -> Any:
    """A JSON report without what differs between two chains of the same events."""
    if isinstance(report, dict):
        return {k: _without_ids(v) for k, v in report.items()
                if k not in ("hash", "prev_hash", "schema_version")}
    if isinstance(report, list):
        return [_without_ids(v) for v in report]
    return report


def test_defaults_are_left_out_and_every_reader_gets_them_back(tmp_path: Path) -> None:
    path = synced_log(tmp_path / "log.db")
    store = SqliteStore(path)  # a registration and a run with fields at their defaults
    try:
        store.append([NewEvent(event_id="reg", event=WalRegistered(
            at=parse_time("2026-05-20T09:00:00.000000Z"), wal_id="omi_9", timer_start=1779267600,
            device="omi", file_path="omi_9.bin")),
            NewEvent(event_id="fin", event=SyncRunFinished(
                at=parse_time("2026-05-20T09:00:01.000000Z"), run_id="r", path="auto",
                batches_uploaded=1))], None)
    finally:
        store.close()
    stored = {r[1]: orjson.loads(r[7]) for r in _rows(path)}
    assert stored["reg"] == {"device": "omi", "file_path": "omi_9.bin", "timer_start": 1779267600}
    assert not any("wal_id" in orjson.loads(r[7]) for r in _rows(path) if r[2].startswith("wal:"))
    assert stored["fin"] == {"batches_uploaded": 1, "path": "auto", "run_id": "r"}
    assert all(k not in data or data[k] != v for r in _rows(path)
               for data in [orjson.loads(r[7])] for k, v in stored_defaults(r[4]).items())
    assert verify_log(path).ok
    old = tmp_path / "v3.db"
    _as_version_3(path, old)
    assert verify_log(old).ok
    assert sum(len(r[7]) for r in _rows(path)) < sum(len(r[7]) for r in _rows(old))
    ours, theirs = _rows(path), _rows(old)
    assert [stored_from_row(r).event for r in ours] == [stored_from_row(r).event for r in theirs]
    assert [stored_from_row(r).fields for r in ours] == [
        stored_from_row(r).fields for r in theirs]
    assert _views(path) == _views(old)
    for args in (("status", "--json", "--all"), ("why", "--all", "--json"), ("log", "--json")):
        assert _without_ids(_cli(*args, "--db", str(path))) == _without_ids(
            _cli(*args, "--db", str(old)))
    for r in ours:  # the fleet's compiled check takes today's rows as check_data does
        fields, stream = read_data(r[4], r[5], r[7], r[2])
        assert stream == r[2] and check_data(r[4], fields, r[2]) == r[2]
        assert with_defaults(r[4], fields, r[2]) == stored_from_row(r).fields


def test_every_json_extract_of_event_data_reads_a_field_stored_at_its_default() -> None:
    paths = set()
    for folder in ("core", "adapters", "projections"):
        for source in (_ROOT / folder).rglob("*.py"):
            paths |= set(re.findall(r"json_extract\(data, '\$\.(\w+)'\)", source.read_text()))
    assert "http_status" in paths and "archived" in paths  # the views and the anchors read
    assert paths <= VIEW_FIELDS, paths - VIEW_FIELDS
    assert not any(VIEW_FIELDS & stored_defaults(t).keys() for t in
                   ("UploadAccepted", "JobFailed", "UploadsHeld", "StateCarried"))


def test_a_log_of_version_3_grows_and_its_events_append_again_as_no_ops(
        tmp_path: Path) -> None:
    event = WalRegistered(at=parse_time("2026-05-20T09:00:00.000000Z"), wal_id="omi_1",
                          timer_start=1779267600, file_path="omi_1.bin")
    full = {"channel": 1, "codec": "opus", "conversation_id": None, "delivered": False,
            "device": "phone", "file_path": "omi_1.bin", "frame_size": 160,
            "sample_rate": 16000, "seconds": 60, "storage": "disk",
            "timer_start": 1779267600, "wal_id": "omi_1"}
    path = tmp_path / "old.db"
    write_rows(path, chain([{"event_id": "old-1", "stream": "wal:omi_1", "version": 1,
                             "type": "WalRegistered", "schema_version": 3,
                             "at": "2026-05-20T09:00:00.000000Z", "data": full}]))
    store = SqliteStore(path)
    try:
        assert store.append([NewEvent(event_id="old-1", event=event)], None) == []
        store.append([NewEvent(event_id="new-2", event=WalRegistered(
            at=parse_time("2026-05-20T09:01:00.000000Z"), wal_id="omi_2",
            timer_start=1779267660, file_path="omi_2.bin"))], None)
        assert [store.projection.wal(w).storage for w in ("omi_1", "omi_2")  # type: ignore[union-attr]
                ] == ["disk", "disk"]
    finally:
        store.close()
    rows = _rows(path)
    assert [(r[5], len(orjson.loads(r[7]))) for r in rows] == [(3, 12), (SCHEMA_VERSION, 2)]
    assert next(stored_from_row(r).event for r in rows) == event
    assert verify_log(path).ok
