"""Event batches with a realistic mix for the append benches: the simulated incident's events
(bench/_biglog.py's source), repeated with renamed recordings, as objects ready to append."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import _biglog

from walsync.adapters.log_records import EVENT_COLUMNS_SQL, NewEvent
from walsync.adapters.sqlite_store import SqliteStore
from walsync.core.events import Event
from walsync.core.serde import event_from_json


def wal_events(count: int) -> Iterator[NewEvent]:
    """`count` recording events in a legal order (copies of the source's recordings)."""
    with sqlite3.connect(_biglog.source_log()) as src:
        rows = src.execute("SELECT event_id, stream, type, at, data FROM events "
                           "WHERE stream LIKE 'wal:%' ORDER BY seq").fetchall()
    wal_ids = {stream[4:] for _, stream, *_ in rows}
    made, copy = 0, 0
    while True:
        for event_id, _stream, type_name, at, data in rows:
            if made >= count:
                return
            renamed = _biglog.WAL_TOKEN.sub(lambda m, c=copy: _biglog.renamed(m, c, wal_ids), data)
            event: Event = event_from_json(type_name, at, renamed)
            yield NewEvent(event_id=f"{event_id}-{copy}", event=event)
            made += 1
        copy += 1


def stored_rows(events: list[NewEvent], path: Path) -> list[tuple[object, ...]]:
    """The rows the store writes for `events` (encoded and hashed), for a raw side to insert."""
    store = SqliteStore(path, synchronous="OFF")
    store.append(events)
    store.close()
    with sqlite3.connect(path) as conn:
        return conn.execute(f"SELECT {EVENT_COLUMNS_SQL} FROM events ORDER BY seq").fetchall()  # noqa: S608
