"""`walsync ingest` is idempotent, adds only what is new, and refuses a tampered or hostile
log naming the device and the seq (contract C8; catalogue T16, T26, T29)."""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from log_edits import count, prefix, rewrite
from reliability.tier import record

from walsync.adapters.fleet.ingest import IngestRefused, ingest_log, read_log_tail
from walsync.adapters.fleet.store import PgConnection, connect, lock_device
from walsync.adapters.fleet.tail import add_tail, rebuild
from walsync.adapters.store.share.export import export_log


@pytest.fixture
def conn(pg_dsn: str) -> Any:
    made = connect(pg_dsn, write=True)
    yield made
    made.close()


def dump(conn: PgConnection) -> dict[str, list[tuple[Any, ...]]]:
    """Every stored row of the events and projection tables, in key order."""
    keys = {"events": "device_id, seq", "devices": "device_id", "fleet_wals": "device_id, wal_id",
            "fleet_device": "device_id", "fleet_hourly": "device_id, hour, kind",
            "fleet_counts": "device_id, kind, name", "fleet_cooldowns": "device_id, seq"}
    columns = {"devices": "device_id, head_seq, head_hash"}
    return {t: conn.execute(f"SELECT {columns.get(t, '*')} FROM {t} ORDER BY {k}".encode()).fetchall()
            for t, k in keys.items()}


def test_t16_ingesting_the_same_log_twice_adds_nothing(conn: PgConnection,
                                                        fleet_logs: list[Path]) -> None:
    log = fleet_logs[0]
    first = ingest_log(conn, log, "d1")
    before = dump(conn)
    again = ingest_log(conn, log, "d1")
    assert (first.added, first.already) == (count(log), 0)
    assert (again.added, again.already) == (0, count(log))
    assert dump(conn) == before
    record("test_t16_ingesting_the_same_log_twice_adds_nothing", "re-ingests", 1, lost=0)


def test_a_longer_log_adds_only_its_new_tail(conn: PgConnection, fleet_logs: list[Path],
                                            tmp_path: Path) -> None:
    log = fleet_logs[1]
    n = count(log)
    early = ingest_log(conn, prefix(log, tmp_path / "early.db", n // 3), "d1")
    cut = early.added  # n // 3, or the end of the commit holding it
    later = ingest_log(conn, log, "d1")
    shorter = ingest_log(conn, prefix(log, tmp_path / "mid.db", n // 2), "d1")
    assert n // 3 <= cut < n // 2
    assert (later.added, later.already, shorter.added) == (n - cut, cut, 0)
    ingest_log(conn, log, "whole")  # the same log in one go, as another device
    tables = dump(conn)
    for table, rows in tables.items():
        mine = [r[1:] for r in rows if r[0] == "d1"]
        assert mine == [r[1:] for r in rows if r[0] == "whole"], table
        assert mine, table


def test_rebuilding_the_projections_from_scratch_gives_the_same_tables(
        conn: PgConnection, fleet_logs: list[Path], tmp_path: Path) -> None:
    for i, log in enumerate(fleet_logs):  # each device ingested in three steps
        n = count(log)
        for part in (n // 4 + i, n // 2 + i):
            ingest_log(conn, prefix(log, tmp_path / f"{log.stem}-{part}.db", part), log.stem)
        ingest_log(conn, log, log.stem)
    incremental = dump(conn)
    assert rebuild(conn) == len(fleet_logs)
    assert dump(conn) == incremental
    assert incremental["fleet_hourly"]


def test_t26_a_log_rewritten_with_a_recomputed_chain_is_refused_naming_device_and_seq(
        conn: PgConnection, fleet_logs: list[Path], tmp_path: Path) -> None:
    log = fleet_logs[2]
    n = count(log)
    ingest_log(conn, prefix(log, tmp_path / "early.db", n // 2), "phone-7")
    before = dump(conn)
    forged = rewrite(log, tmp_path / "phone-7.db", n // 4, rechain=True)
    with pytest.raises(IngestRefused) as refused:
        ingest_log(conn, forged, "phone-7")
    assert refused.value.seq == n // 4
    assert "device phone-7" in str(refused.value) and f"at seq {n // 4}" in str(refused.value)
    assert dump(conn) == before
    record("test_t26_rewritten_log_refused", "forged logs refused", 1, lost=0)


def test_t26_a_tampered_row_fails_verification_and_is_refused_naming_device_and_seq(
        conn: PgConnection, fleet_logs: list[Path], tmp_path: Path) -> None:
    log = fleet_logs[3]
    seq = count(log) // 2
    tampered = rewrite(log, tmp_path / "t.db", seq, rechain=False)
    with pytest.raises(IngestRefused) as refused:
        ingest_log(conn, tampered, "phone-8")
    assert "device phone-8" in str(refused.value) and f"seq {seq}" in str(refused.value)
    assert dump(conn)["events"] == [] and dump(conn)["devices"] == []


def test_a_row_whose_data_is_not_its_event_is_refused_naming_device_and_seq(
        conn: PgConnection, fleet_logs: list[Path], tmp_path: Path) -> None:
    """Rows are checked, never decoded: a body the decoder would convert (a number for a
    job id, a text for a poll count), or one that lacks a field, is refused even with its
    chain recomputed."""
    log = fleet_logs[2]
    with closing(sqlite3.connect(log)) as db:
        seq, wal_data = db.execute("SELECT seq, data FROM events WHERE type IN ('JobCompleted', "
                                   "'BatchJobCompleted') "
                                   "ORDER BY seq LIMIT 1").fetchone()
    ended = json.loads(wal_data)
    span = {"server_status": "queued", "polls": "3", "first_poll_at": "2026-01-01T00:00:00Z",
            "last_poll_at": "2026-01-01T00:00:00Z"}  # a count given as text
    for n, body in enumerate(({**ended, "job_id": 5}, {k: v for k, v in ended.items()
                                                      if k != "job_id"},
                              {**ended, "polls_before": [span]})):
        forged = rewrite(log, tmp_path / f"forged-{n}.db", seq, rechain=True,
                         data=json.dumps(body, sort_keys=True, separators=(",", ":")))
        with pytest.raises(IngestRefused) as refused:
            ingest_log(conn, forged, "phone-6")
        assert refused.value.seq == seq
        assert f"device phone-6 ({forged}): the event at seq {seq} cannot be read" in str(
            refused.value)
    assert dump(conn)["events"] == [] and dump(conn)["devices"] == []


def test_t29_hostile_files_are_refused_before_anything_is_written(
        conn: PgConnection, fleet_logs: list[Path], tmp_path: Path) -> None:
    junk = tmp_path / "junk.db"
    junk.write_bytes(os.urandom(4096))
    link = tmp_path / "link.db"
    link.symlink_to(fleet_logs[0])
    trap = prefix(fleet_logs[0], tmp_path / "trap.db", 10)
    with closing(sqlite3.connect(trap, isolation_level=None)) as db:
        db.execute("CREATE TRIGGER t AFTER INSERT ON events BEGIN DELETE FROM events; END")
    missing = tmp_path / "missing.db"
    for path, words in ((junk, "neither a SQLite database"), (link, "symbolic link"),
                        (trap, "trigger"), (missing, "no file")):
        with pytest.raises(IngestRefused) as refused:
            ingest_log(conn, path, "hostile")
        assert "device hostile" in str(refused.value) and words in str(refused.value)
    assert dump(conn)["devices"] == []
    record("test_t29_hostile_files_are_refused", "hostile files refused", 4, lost=0)


def test_a_jsonl_export_is_the_same_log_as_the_db(conn: PgConnection, fleet_logs: list[Path],
                                                 tmp_path: Path) -> None:
    log = fleet_logs[4]
    export_log(log, tmp_path / "dev.jsonl")
    from_jsonl = ingest_log(conn, tmp_path / "dev.jsonl", "dev")
    from_db = ingest_log(conn, log, "dev")
    assert (from_jsonl.added, from_db.added, from_db.already) == (count(log), 0, count(log))


def test_t07_a_second_ingest_of_a_device_waits_for_the_first_and_adds_nothing(
        pg_dsn: str, conn: PgConnection, fleet_logs: list[Path], tmp_path: Path) -> None:
    """Deterministic: the first ingest holds the device's lock while the second starts."""
    log, results, errors = fleet_logs[4], [], []
    rows = read_log_tail(log, "twice", 0)[1]
    known = ingest_log(conn, prefix(log, tmp_path / "early.db", 10), "twice")  # the device exists

    def second() -> None:
        own = connect(pg_dsn, write=True)
        try:
            results.append(add_tail(own, "twice", rows))
        except Exception as error:  # reported below
            errors.append(error)
        finally:
            own.close()

    thread = threading.Thread(target=second)
    with conn.transaction():
        assert lock_device(conn, "twice") == (10, known.head_hash)
        thread.start()
        thread.join(timeout=1.0)
        assert thread.is_alive(), "the second ingest did not wait for the device lock"
        add_tail(conn, "twice", rows)
    thread.join()
    assert errors == [] and [r.added for r in results] == [0]
    assert conn.execute("SELECT count(*), count(DISTINCT seq) FROM events").fetchone() == (
        count(log), count(log))


def test_t80_ingested_rows_keep_their_commit_boundaries(conn: PgConnection,
                                                         fleet_logs: list[Path]) -> None:
    """Schema v3 rows carry where their commit ends; the fleet stores it as the device wrote it."""
    ingest_log(conn, fleet_logs[0], "phone-0")
    with closing(sqlite3.connect(fleet_logs[0])) as device:
        written = device.execute("SELECT seq, commit_end FROM events ORDER BY seq").fetchall()
    stored = conn.execute("SELECT seq, commit_end FROM events WHERE device_id = 'phone-0' "
                          "ORDER BY seq").fetchall()
    assert stored == written and any(end > seq for seq, end in stored)
