"""What the PostgreSQL store adds to the shared contract: many devices in one table, writers
of one device serialised by its row lock, appends folded into the fleet projections."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from walsync.adapters.fleet.device_log import PgStore
from walsync.adapters.fleet.queries import fleet_status
from walsync.adapters.fleet.store import connect
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


def test_an_append_by_the_store_moves_the_fleet_projections_in_its_transaction(pg_dsn: str) -> None:
    store = PgStore(pg_dsn, "dev-live")
    conn = connect(pg_dsn, write=True)
    try:
        store.append([registered("w1"), registered("w2")])
        assert fleet_status(conn)["by_display"] == {"waiting": {"recordings": 2, "devices": 1}}
        store.append([registered("w3")])
        assert fleet_status(conn)["by_display"]["waiting"]["recordings"] == 3
        assert conn.execute("SELECT seq FROM fleet_device").fetchall() == [(3,)]
    finally:
        store.close()
        conn.close()
