"""Bulk work runs under a 64 MB page cache with the garbage collector paused, and gives both
back; a smaller append changes neither.

The cache is what `PRAGMA cache_size` reports on the store's own connection, and the trace
callback shows which statements ran under it and whether the collector was on as they ran
(a real SQLite file throughout).
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from walsync.adapters.ports import NewEvent
from walsync.adapters.store.sqlite import SqliteStore
from walsync.core.errors import IdempotencyConflict
from walsync.core.events import WalRegistered

T0 = datetime(2026, 5, 20, 8, 0, tzinfo=UTC)
BIG = "PRAGMA cache_size=-65536"


def registrations(first: int, count: int, tag: str = "") -> list[NewEvent]:
    return [NewEvent(event_id=f"e{i}", event=WalRegistered(
        at=T0 + timedelta(seconds=i), wal_id=f"w{i}", timer_start=i, file_path=f"{tag}{i}.bin"))
        for i in range(first, first + count)]


def traced(store: SqliteStore, collector: list[bool] | None = None) -> list[str]:
    """The statements the store runs from now on (and, given `collector`, gc.isenabled() as
    each ran)."""
    seen: list[str] = []

    def note(statement: str) -> None:
        seen.append(statement)
        if collector is not None:
            collector.append(gc.isenabled())

    store.connection.set_trace_callback(note)
    return seen


@pytest.fixture(autouse=True)
def collector_on() -> Iterator[None]:
    """Each test starts with the collector on and leaves it on, whatever it did."""
    gc.enable()
    yield
    gc.enable()


def cache_size(store: SqliteStore) -> int:
    return int(store.connection.execute("PRAGMA cache_size").fetchone()[0])


def test_a_bulk_append_writes_under_the_big_cache_and_restores_it(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "log.db")
    before = cache_size(store)
    seen = traced(store)
    store.append(registrations(0, 1_000))
    big, begin, commit = seen.index(BIG), seen.index("BEGIN IMMEDIATE"), seen.index("COMMIT")
    assert big < begin < commit < seen.index(f"PRAGMA cache_size={before}")
    assert cache_size(store) == before != -65536
    store.close()


@pytest.mark.parametrize(("count", "bulk"), [(1_000, True), (999, False)])
def test_only_a_bulk_append_pauses_the_collector_and_sets_the_cache(
        tmp_path: Path, count: int, bulk: bool) -> None:
    """1,000 events are bulk work: the collector is off as they commit and on again after;
    999 leave the collector on and issue no cache pragma at all."""
    store = SqliteStore(tmp_path / "log.db")
    collector: list[bool] = []
    seen = traced(store, collector)
    store.append(registrations(0, count))
    assert collector[seen.index("COMMIT")] is not bulk
    assert gc.isenabled()
    assert any(s.startswith("PRAGMA cache_size") for s in seen) is bulk
    store.close()


def test_a_bulk_append_leaves_a_collector_the_caller_turned_off_off(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "log.db")
    gc.disable()
    store.append(registrations(0, 1_000))
    assert not gc.isenabled()
    store.close()


def test_a_failed_bulk_append_still_gives_the_cache_and_the_collector_back(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "log.db")
    before = cache_size(store)
    store.append(registrations(0, 1))
    with pytest.raises(IdempotencyConflict):  # e0 again, with another body
        store.append(registrations(0, 1_000, tag="other-"))
    assert cache_size(store) == before
    assert gc.isenabled()
    assert store.head()[0] == 1  # nothing of the failed append was kept
    store.close()


def test_a_rebuild_rewrites_under_the_big_cache_and_restores_it(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "log.db")
    store.append(registrations(0, 10))
    before = cache_size(store)
    seen = traced(store)
    store.rebuild_projections()
    assert seen.index(BIG) < seen.index("COMMIT") < seen.index(f"PRAGMA cache_size={before}")
    assert cache_size(store) == before
    store.close()
