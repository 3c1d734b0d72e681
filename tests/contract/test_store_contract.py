"""The store contract every event store passes: memory, SQLite and PostgreSQL alike."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from walsync.adapters.fleet.device_log import PgStore
from walsync.adapters.ports import EventStore, NewEvent
from walsync.adapters.store.memory import MemoryStore
from walsync.adapters.store.records import GENESIS_HASH, chain_hash
from walsync.adapters.store.sqlite import SqliteStore
from walsync.core.errors import ConcurrencyConflict, IdempotencyConflict, IllegalTransition
from walsync.core.events import UploadStarted, WalRegistered

from pgfixture import pg_dsn, pg_server  # noqa: F401 (fixtures used by the "pg" store)

T0 = datetime(2026, 5, 20, 8, 0, tzinfo=UTC)


@pytest.fixture(params=["memory", "sqlite", "pg"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[EventStore]:
    made: EventStore
    if request.param == "pg":  # a real server (tests/pgfixture.py); one device of the fleet
        made = PgStore(request.getfixturevalue("pg_dsn"), "device-1")
    else:
        made = MemoryStore() if request.param == "memory" else SqliteStore(tmp_path / "log.db")
    yield made
    made.close()


def registered(wal_id: str, minutes: int = 0) -> WalRegistered:
    return WalRegistered(at=T0 + timedelta(minutes=minutes), wal_id=wal_id, timer_start=minutes,
                         file_path=f"{wal_id}.bin")


def test_seq_is_gapless_and_versions_count_per_stream(store: EventStore) -> None:
    store.append([NewEvent(event_id="a", event=registered("w1"))])
    store.append([NewEvent(event_id="b", event=registered("w2")),
                  NewEvent(event_id="c", event=UploadStarted(at=T0, wal_id="w1", attempt_id="k",
                                                             path="single"))])
    rows = list(store.read())
    assert [r.seq for r in rows] == [1, 2, 3]
    assert [(r.stream, r.version) for r in rows] == [("wal:w1", 1), ("wal:w2", 1), ("wal:w1", 2)]
    assert store.head() == (3, rows[-1].hash)


def test_hash_chain_links_every_row(store: EventStore) -> None:
    for i in range(4):
        store.append([NewEvent(event_id=f"e{i}", event=registered(f"w{i}", i))])
    previous = GENESIS_HASH
    for row in store.read():
        assert row.prev_hash == previous
        assert row.hash == chain_hash(previous, seq=row.seq, event_id=row.event_id,
                                      stream=row.stream, version=row.version,
                                      type_name=row.type, schema_version=row.schema_version,
                                      at=row.at, data=row.payload, commit_end=row.commit_end)
        previous = row.hash


def test_same_event_id_same_body_is_appended_once(store: EventStore) -> None:
    first = store.append([NewEvent(event_id="a", event=registered("w1"))])
    again = store.append([NewEvent(event_id="a", event=registered("w1"))])
    assert len(first) == 1 and again == []
    assert [r.seq for r in store.read()] == [1]


def test_same_event_id_different_body_conflicts_and_writes_nothing(store: EventStore) -> None:
    store.append([NewEvent(event_id="a", event=registered("w1"))])
    with pytest.raises(IdempotencyConflict):
        store.append([NewEvent(event_id="b", event=registered("w2")),
                      NewEvent(event_id="a", event=registered("w9"))])
    assert [r.event_id for r in store.read()] == ["a"]
    assert set(store.projection.rows) == {"w1"}


def test_expected_version_mismatch_is_a_typed_conflict(store: EventStore) -> None:
    store.append([NewEvent(event_id="a", event=registered("w1"))])
    start = UploadStarted(at=T0, wal_id="w1", attempt_id="k", path="single")
    with pytest.raises(ConcurrencyConflict) as caught:
        store.append([NewEvent(event_id="b", event=start)], expected={"wal:w1": 0})
    assert (caught.value.expected, caught.value.actual) == (0, 1)
    assert store.append([NewEvent(event_id="b", event=start)], expected={"wal:w1": 1})
    assert store.head()[0] == 2


def test_illegal_transition_rolls_back_the_whole_batch(store: EventStore) -> None:
    bad = UploadStarted(at=T0, wal_id="ghost", attempt_id="k", path="single")
    with pytest.raises(IllegalTransition):
        store.append([NewEvent(event_id="a", event=registered("w1")),
                      NewEvent(event_id="b", event=bad)])
    assert list(store.read()) == []
    assert store.projection.rows == {}
    assert store.head() == (0, GENESIS_HASH)


def test_read_filters_by_stream_and_window(store: EventStore) -> None:
    for i in range(5):
        store.append([NewEvent(event_id=f"e{i}", event=registered(f"w{i % 2}x{i}", i))])
    assert [r.seq for r in store.read(after=1, upto=3)] == [2, 3]
    assert [r.seq for r in store.read(stream="wal:w0x2")] == [3]


def test_projection_moves_in_step_with_appends(store: EventStore) -> None:
    store.append([NewEvent(event_id="a", event=registered("w1"))])
    assert store.projection.rows["w1"].display == "waiting"
    assert store.projection.checkpoint == 1
    assert store.projection.cards["sync"].text == "1 recording ready to sync"
