"""T15: a log holding an unknown event type or a newer schema version.

The live store and engine refuse to open it (LogFromNewerVersion) and never write after rows
they cannot fold. Read-only diagnosis (`walsync why`, `status`, `replay`) keeps going, and
says how many rows it left out and at which seqs. Nothing is dropped silently.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from raw_log import Row, chain, row_of, stored_rows, write_rows
from tier import record

from walsync.adapters.cli.main import cli
from walsync.adapters.diagnosis.why import explain_all, projection_at
from walsync.adapters.engine import Engine
from walsync.adapters.ports import ManualClock, NewEvent
from walsync.adapters.recordings.files import MemoryFiles
from walsync.adapters.store.share.export import export_log
from walsync.adapters.store.share.importer import ImportRejected, import_log
from walsync.adapters.store.share.replay import replay_into
from walsync.adapters.store.sqlite import SqliteStore
from walsync.core.errors import LogFromNewerVersion
from walsync.core.events import UploadFailed, UploadStarted, WalRegistered
from walsync.core.serde import SCHEMA_VERSION

from fakes import ScriptedBackend

T0 = datetime(2026, 5, 20, 8, 0, tzinfo=UTC)


def _known(n: int, wal: str, version: int, event: object) -> Row:
    return {**row_of(event, event_id=f"e{n}", version=version),  # type: ignore[arg-type]
            "schema_version": SCHEMA_VERSION}


def _log(tmp_path: Path) -> tuple[Path, list[int]]:
    """Two recordings stalled after a failed upload; an unknown type and a newer version
    between them. Returns the file and the seqs of the two rows this code cannot read."""
    rows = [
        _known(1, "a", 1, WalRegistered(at=T0, wal_id="a", timer_start=1)),
        _known(2, "b", 1, WalRegistered(at=T0, wal_id="b", timer_start=2)),
        {"event_id": "e3", "stream": "wal:a", "version": 2, "type": "UploadTeleported",
         "schema_version": SCHEMA_VERSION, "at": "2026-05-20T08:00:01.000000Z",
         "data": {"wal_id": "a", "to": "mars"}},
        _known(4, "b", 2, UploadStarted(at=T0 + timedelta(seconds=2), wal_id="b",
                                        attempt_id="k", path="single")),
        {**_known(5, "b", 3, UploadFailed(at=T0 + timedelta(seconds=3), wal_id="b",
                                          attempt_id="k", kind="network", message="offline",
                                          retry_count=1, retry_count_bumped=True)),
         "schema_version": SCHEMA_VERSION + 1},
        _known(6, "b", 4, UploadStarted(at=T0 + timedelta(seconds=4), wal_id="b",
                                        attempt_id="k2", path="single")),
    ]
    path = tmp_path / "newer.db"
    write_rows(path, chain(rows))
    return path, [3, 5]


def _digest(path: Path) -> str:
    return hashlib.sha256(repr(stored_rows(path)).encode()).hexdigest()


def test_t15_the_live_store_and_engine_refuse_to_open_it(tmp_path: Path) -> None:
    path, _ = _log(tmp_path)
    before = _digest(path)
    with pytest.raises(LogFromNewerVersion, match="2 events of unknown type/version"):
        SqliteStore(path)
    with pytest.raises(LogFromNewerVersion):
        Engine(SqliteStore(path), ScriptedBackend(), clock=ManualClock(T0), files=MemoryFiles())
    assert _digest(path) == before  # not even the engine's PolicyApplied was written
    record("test_t15_the_live_store_and_engine_refuse_to_open_it", "unreadable rows refused", 2)


def test_t15_a_newer_writer_appearing_mid_session_stops_appends(tmp_path: Path) -> None:
    """Another process (a newer walsync) appends a row this one cannot fold: the next append
    raises and writes nothing, instead of skipping the row and writing after it."""
    path = tmp_path / "shared.db"
    store = SqliteStore(path)
    store.append([NewEvent(event_id="a1", event=WalRegistered(at=T0, wal_id="a", timer_start=1))])
    seq, digest = store.head()
    write_rows(path, chain([{"event_id": "x", "stream": "engine", "version": 1,
                             "type": "FutureThing", "schema_version": SCHEMA_VERSION + 1,
                             "at": "2026-05-20T08:00:01.000000Z", "data": {}}],
                           first_seq=seq + 1, prev_hash=digest))
    with pytest.raises(LogFromNewerVersion):
        store.append([NewEvent(event_id="b1", event=WalRegistered(at=T0, wal_id="b",
                                                                  timer_start=2))])
    store.close()
    assert [r[1] for r in stored_rows(path)] == ["a1", "x"]


def test_t15_library_reads_raise_without_a_diagnosis_collector(tmp_path: Path) -> None:
    path, _ = _log(tmp_path)
    with pytest.raises(LogFromNewerVersion):
        projection_at(path)
    with pytest.raises(LogFromNewerVersion):
        list(explain_all(path))


def test_t15_writing_copies_are_refused_before_anything_is_written(tmp_path: Path) -> None:
    path, _ = _log(tmp_path)
    with pytest.raises(LogFromNewerVersion, match="at seq 3, 5"):
        replay_into(path, tmp_path / "copy.db")
    assert not (tmp_path / "copy.db").exists()
    with pytest.raises(ImportRejected):
        import_log(path, tmp_path / "imported.db")
    assert not (tmp_path / "imported.db").exists()


@pytest.mark.parametrize("command", ["why_all", "why_one", "status", "replay_db", "replay_jsonl"])
def test_t15_read_only_diagnosis_reports_and_keeps_going(tmp_path: Path, command: str) -> None:
    path, seqs = _log(tmp_path)
    before = _digest(path)
    shared = tmp_path / "shared.jsonl"
    export_log(path, shared)
    args = {
        "why_all": ["why", "--all", "--db", str(path), "--json"],
        "why_one": ["why", "b", "--db", str(path), "--json"],
        "status": ["status", "--db", str(path), "--json"],
        "replay_db": ["replay", str(path), "--json"],
        "replay_jsonl": ["replay", str(shared), "--json"],
    }[command]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    if command == "why_one":  # `why b` reads b's stream (and the shared ones) only
        assert (f"1 events of unknown type/version at seq {seqs[1]} "
                f"(UploadFailed v{SCHEMA_VERSION + 1} x1); 1 later events of their streams "
                "(wal:b) held back at seq 6" in result.stderr)
    else:
        assert (f"2 events of unknown type/version at seq {seqs[0]}, {seqs[1]} "
                f"(UploadFailed v{SCHEMA_VERSION + 1} x1, UploadTeleported v{SCHEMA_VERSION} x1)"
                "; 1 later events of their streams (wal:a, wal:b) held back at seq 6"
                in result.stderr)
    out = json.loads(result.stdout)
    if command.startswith("why"):
        reports = out if isinstance(out, list) else [out]
        # each recording as of its last readable event; `--all` lists the stalled one (a)
        seen = {r["wal_id"]: (r["state"], r["as_of_seq"]) for r in reports}
        assert seen == ({"a": ("miss", 1)} if command == "why_all" else {"b": ("uploading", 4)})
    else:
        states = {r["wal_id"]: r["state"] for r in out["rows"]}
        assert states == {"a": "miss", "b": "uploading"}  # folded past the unread rows
    assert _digest(path) == before


def test_t15_the_log_listing_names_unreadable_rows_in_place(tmp_path: Path) -> None:
    path, seqs = _log(tmp_path)
    result = CliRunner().invoke(cli, ["log", "--db", str(path)])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert len(lines) == 6
    for seq in seqs:
        assert "unknown type/version" in lines[seq - 1]
    assert "unknown" not in lines[3]
