"""What the PostgreSQL store adds to the shared contract: many devices in one table, writers
of one device serialised by its row lock, and a layout distributable by device id (Citus)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest

from walsync.adapters.fleet.queries import fleet_status
from walsync.adapters.fleet.schema import PARTITIONS
from walsync.adapters.fleet.store import PgStore, connect
from walsync.adapters.ports import NewEvent
from walsync.adapters.store.records import GENESIS_HASH
from walsync.core.errors import ConcurrencyConflict
from walsync.core.events import UploadStarted, WalRegistered

T0 = datetime(2026, 5, 20, 8, 0, tzinfo=UTC)


def registered(wal_id: str) -> NewEvent:
    return NewEvent(event_id=f"reg-{wal_id}", event=WalRegistered(
        at=T0, wal_id=wal_id, timer_start=0, file_path=f"{wal_id}.bin"))


def test_devices_are_separate_logs_in_one_table(pg_dsn: str) -> None:
    a, b = PgStore(pg_dsn, "dev-a"), PgStore(pg_dsn, "dev-b")
    try:
        a.append([registered("w1"), registered("w2")])
        b.append([registered("w1")])  # same event id and stream on another device: its own
        assert [r.seq for r in a.read()] == [1, 2] and [r.seq for r in b.read()] == [1]
        assert next(b.read()).prev_hash == GENESIS_HASH
        assert set(b.projection.rows) == {"w1"} and b.head()[0] == 1
    finally:
        a.close()
        b.close()


def test_t07_a_second_writer_of_one_device_gets_a_typed_conflict_then_catches_up(
        pg_dsn: str) -> None:
    first, second = PgStore(pg_dsn, "dev"), PgStore(pg_dsn, "dev")
    try:
        first.append([registered("w1")])
        start = NewEvent(event_id="s1", event=UploadStarted(at=T0, wal_id="w1", attempt_id="k",
                                                             path="single"))
        with pytest.raises(ConcurrencyConflict) as caught:
            second.append([start], expected={"wal:w1": 0})
        assert (caught.value.expected, caught.value.actual) == (0, 1)
        added = second.append([start], expected={"wal:w1": 1})
        assert [r.seq for r in added] == [2]
        assert second.projection.rows["w1"].state == "uploading"  # folded first's event too
    finally:
        first.close()
        second.close()


def _one(conn: psycopg.Connection[Any], sql: str) -> list[tuple[Any, ...]]:
    return conn.execute(sql.encode()).fetchall()


def test_the_layout_is_distributable_by_device_id(pg_dsn: str) -> None:
    PgStore(pg_dsn, "dev").close()  # creates the schema
    with psycopg.connect(pg_dsn) as conn:
        strategy = _one(conn, "SELECT p.partstrat, a.attname FROM pg_partitioned_table p "
                              "JOIN pg_attribute a ON a.attrelid = p.partrelid AND "
                              "a.attnum = p.partattrs[0] WHERE p.partrelid = 'events'::regclass")
        assert strategy == [("h", "device_id")]
        parts = _one(conn, "SELECT count(*) FROM pg_inherits WHERE inhparent = 'events'::regclass")
        assert parts == [(PARTITIONS,)]
        keys = _one(conn, "SELECT c.relname, i.indexrelid::regclass::text, a.attname "
                          "FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid "
                          "JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0] "
                          "WHERE i.indisunique AND c.relnamespace = current_schema()::regnamespace")
        assert len({table for table, _, _ in keys}) >= 6
        assert [k for k in keys if k[2] != "device_id"] == []  # every unique key leads with it


def test_fleet_queries_catch_up_a_device_appended_to_by_the_store(pg_dsn: str) -> None:
    store = PgStore(pg_dsn, "dev-live")
    conn = connect(pg_dsn)
    try:
        store.append([registered("w1"), registered("w2")])
        assert fleet_status(conn)["by_display"] == {"waiting": {"recordings": 2, "devices": 1}}
        store.append([registered("w3")])
        assert fleet_status(conn)["by_display"]["waiting"]["recordings"] == 3
        assert conn.execute("SELECT seq FROM fleet_checkpoint").fetchall() == [(3,)]
    finally:
        store.close()
        conn.close()
