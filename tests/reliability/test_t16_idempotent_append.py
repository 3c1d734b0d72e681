"""T16: appending by event id is idempotent, permanently, on both stores and across processes.

Same id and same body: one row; every later call reports "already appended" (returns no row
and takes no new seq). Same id with another body: IdempotencyConflict, and nothing of that
append is written, not even the other events of its batch.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from attrs import evolve
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from raw_log import chain, row_of, write_rows
from tier import record, scale

from walsync.adapters.ports import EventStore, NewEvent
from walsync.adapters.store.memory import MemoryStore
from walsync.adapters.store.sqlite import SqliteStore
from walsync.core.errors import IdempotencyConflict
from walsync.core.events import UploadRateLimited, UploadStarted, WalRegistered

T0 = datetime(2026, 5, 20, 8, 0, tzinfo=UTC)
WRITER = Path(__file__).with_name("dedupe_writer.py")


def registered(wal_id: str, minutes: int = 0) -> WalRegistered:
    return WalRegistered(at=T0 + timedelta(minutes=minutes), wal_id=wal_id, timer_start=minutes)


@pytest.fixture(params=["memory", "sqlite"])
def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[], EventStore]]:
    """A factory: the memory store is one object; the SQLite one reopens the same file."""
    memory = MemoryStore()
    opened: list[EventStore] = []

    def make() -> EventStore:
        made: EventStore = memory if request.param == "memory" else SqliteStore(tmp_path / "l.db")
        opened.append(made)
        return made

    yield make
    for store in opened:
        store.close()


@settings(max_examples=scale(10, 200), deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(times=st.integers(2, 5), batch=st.booleans())
def test_t16_same_id_same_body_is_one_row(make_store: Callable[[], EventStore], times: int,
                                          batch: bool) -> None:
    store = make_store()
    before = list(store.read())
    wal = f"w{len(before)}"
    event = NewEvent(event_id=f"id-{wal}", event=registered(wal))
    first = store.append([event] * (times if batch else 1))
    assert len(first) == 1  # a batch holding the same id twice appends it once
    head = store.head()
    for _ in range(times - 1):
        assert store.append([event]) == []  # already appended: no row, no new seq
        assert store.head() == head
    assert [r.event_id for r in store.read()] == [r.event_id for r in before] + [event.event_id]
    record("test_t16_same_id_same_body_is_one_row", "duplicate appends", times - 1)


def test_t16_same_id_across_restart(make_store: Callable[[], EventStore]) -> None:
    store = make_store()
    event = NewEvent(event_id="a", event=registered("w1"))
    [row] = store.append([event])
    store.close()
    for _ in range(3):
        again = make_store()
        assert again.append([event]) == []
        assert again.head() == (row.seq, row.hash)
        again.close()


@pytest.mark.parametrize("change", ["data", "time", "type"])
def test_t16_same_id_other_body_conflicts_and_writes_nothing(
        make_store: Callable[[], EventStore], change: str) -> None:
    store = make_store()
    store.append([NewEvent(event_id="a", event=registered("w1"))])
    head, view = store.head(), store.projection.rows.copy()
    other = {
        "data": WalRegistered(at=T0, wal_id="w1", timer_start=0, codec="aac"),
        "time": registered("w1", minutes=1),
        "type": UploadStarted(at=T0, wal_id="w1", attempt_id="k", path="single"),
    }[change]
    fresh = NewEvent(event_id="b", event=registered("w2"))
    with pytest.raises(IdempotencyConflict):
        store.append([fresh, NewEvent(event_id="a", event=other)])
    assert store.head() == head
    assert [r.event_id for r in store.read()] == ["a"]
    assert store.projection.rows == view
    store.close()
    reopened = make_store()  # and the file agrees (for SQLite: nothing reached the disk)
    assert [r.event_id for r in reopened.read()] == ["a"]
    with pytest.raises(IdempotencyConflict):
        reopened.append([NewEvent(event_id="a", event=other)])


def test_t16_two_processes_appending_the_same_ids(tmp_path: Path) -> None:
    path = tmp_path / "shared.db"
    SqliteStore(path).close()  # create the schema once, so both start on an existing log
    count, repeats = scale(150, 2000), 3
    procs = [subprocess.Popen([sys.executable, str(WRITER), str(path), str(count), str(repeats)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        _, added, repeated = out.split()
        results.append((int(added), int(repeated)))
    assert sum(a for a, _ in results) == count  # each id was added by exactly one process
    assert sum(r for _, r in results) == 2 * count * repeats - count
    store = SqliteStore(path)
    rows = list(store.read())
    store.close()
    assert len(rows) == count and len({r.event_id for r in rows}) == count
    assert [r.seq for r in rows] == list(range(1, count + 1))
    record("test_t16_two_processes_appending_the_same_ids", "duplicate appends from 2 processes",
           2 * count * repeats - count)


def test_t16_same_event_stored_by_an_older_schema_version_is_already_appended(
        tmp_path: Path) -> None:
    """An append retried across an upgrade: the id's row was written by schema v1 (with v1's
    field name). The same event is the same body in today's shape: already appended, not a
    conflict; a different one still conflicts."""
    db = tmp_path / "v1.db"
    limited = UploadRateLimited(at=T0, wal_id="w1", attempt_id="k", server_error="fair use",
                                retry_count=1, retry_count_bumped=True)
    rows = [row_of(e, event_id=i, version=v) for e, i, v in (
        (registered("w1"), "r", 1),
        (UploadStarted(at=T0, wal_id="w1", attempt_id="k", path="batch"), "s", 2),
        (limited, "l", 3))]
    rows[2]["data"] = {**{k: v for k, v in rows[2]["data"].items() if k != "server_error"},
                       "server_detail": "fair use"}
    write_rows(db, chain([{**r, "schema_version": 1} for r in rows]))
    store = SqliteStore(db)
    head = store.head()
    assert store.append([NewEvent(event_id="l", event=limited)]) == []
    with pytest.raises(IdempotencyConflict):
        store.append([NewEvent(event_id="l", event=evolve(limited, server_error="other"))])
    assert store.head() == head
    store.close()
