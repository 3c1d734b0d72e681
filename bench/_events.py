"""Event batches with a realistic mix for the append benches: the simulated incident's events
(bench/_biglog.py's source), repeated with renamed recordings, as objects ready to append."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from pathlib import Path

import _biglog
import orjson

from walsync.adapters.ports import NewEvent
from walsync.adapters.store.records import EVENT_COLUMNS_SQL, hex_of
from walsync.adapters.store.sqlite import SqliteStore
from walsync.core.events import Event
from walsync.core.serde import event_from_json, with_defaults

Source = tuple[str, str, str, str]  # event id, type, at, data: what an event is built from


def wal_sources(count: int) -> list[Source]:
    """`count` recording events in a legal order (copies of the source's recordings), as the
    plain strings they are built from: a bench can hold many without the garbage collector
    walking them, and build each batch of objects just before it is appended."""
    with sqlite3.connect(_biglog.source_log()) as src:
        rows = src.execute(f"SELECT {hex_of('event_id')}, stream, type, at, data FROM events "  # noqa: S608 (fixed terms)
                           "WHERE stream LIKE 'wal:%' ORDER BY seq").fetchall()
    wal_ids = {stream[4:] for _, stream, *_ in rows}
    made: list[Source] = []
    copy = 0
    while True:
        for event_id, stream, type_name, at, stored in rows:
            if len(made) >= count:
                return made
            # the recording's wal_id back in its data (rows leave it to the stream), renamed below
            data = orjson.dumps(with_defaults(type_name, orjson.loads(stored), stream)).decode()
            renamed = _biglog.WAL_TOKEN.sub(lambda m, c=copy: _biglog.renamed(m, c, wal_ids), data)
            made.append((f"{event_id}-{copy}", type_name, at, renamed))
        copy += 1


def new_events(sources: Iterable[Source]) -> list[NewEvent]:
    """The events to append, built from their sources."""
    built = []
    for event_id, type_name, at, data in sources:
        event: Event = event_from_json(type_name, at, data)
        built.append(NewEvent(event_id=event_id, event=event))
    return built


def wal_events(count: int) -> list[NewEvent]:
    """`count` recording events in a legal order, built (see wal_sources)."""
    return new_events(wal_sources(count))


def stored_rows(events: list[NewEvent], path: Path) -> list[tuple[object, ...]]:
    """The rows the store writes for `events` (encoded and hashed), for a raw side to insert."""
    store = SqliteStore(path, synchronous="OFF")
    store.append(events)
    store.close()
    with sqlite3.connect(path) as conn:
        return conn.execute(f"SELECT {EVENT_COLUMNS_SQL} FROM events ORDER BY seq").fetchall()  # noqa: S608
