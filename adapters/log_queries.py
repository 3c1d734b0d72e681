"""Read-only access to a log file for the audit commands: never writes, clear errors."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

from walsync.adapters.log_records import StoredEvent
from walsync.core.errors import LogCorrupt, StoreError
from walsync.projections.view import Projection

__all__ = ["connect_readonly", "open_log_readonly", "read_log"]

_COLUMNS = "seq, event_id, stream, version, type, schema_version, at, data, prev_hash, hash"


def connect_readonly(path: str | Path) -> sqlite3.Connection:
    """Open an existing log read-only; StoreError when it is missing or not a walsync log."""
    file = Path(path)
    if not file.is_file():
        raise StoreError(f"no log file at {file}")
    try:
        conn = sqlite3.connect(f"{file.resolve().as_uri()}?mode=ro", uri=True)
        kind = conn.execute(
            "SELECT type FROM sqlite_master WHERE name = 'events'").fetchone()
    except sqlite3.DatabaseError as error:
        raise LogCorrupt(f"{file} is not a readable SQLite database: {error}") from error
    if kind is None or kind[0] != "table":
        conn.close()
        raise LogCorrupt(f"{file} is not a walsync log (no events table)")
    return conn


def _rows(conn: sqlite3.Connection, sql: str, params: list[object]) -> Iterator[StoredEvent]:
    try:
        for v in conn.execute(sql, params):
            yield StoredEvent(seq=v[0], event_id=v[1], stream=v[2], version=v[3], type=v[4],
                              schema_version=v[5], at=v[6], data=v[7], prev_hash=v[8],
                              hash=v[9])
    except sqlite3.DatabaseError as error:
        raise LogCorrupt(f"reading the log failed: {error}") from error


def read_log(path: str | Path, *, wal_id: str | None = None,
             type_name: str | None = None) -> Iterator[StoredEvent]:
    """The log's rows in seq order, filtered by recording and/or event type."""
    sql = f"SELECT {_COLUMNS} FROM events WHERE 1 = 1"  # noqa: S608 (fixed columns)
    params: list[object] = []
    if wal_id is not None:
        sql += " AND stream = ?"
        params.append(f"wal:{wal_id}")
    if type_name is not None:
        sql += " AND type = ?"
        params.append(type_name)
    with closing(connect_readonly(path)) as conn:
        yield from _rows(conn, sql + " ORDER BY seq", params)


@contextmanager
def open_log_readonly(path: str | Path) -> Iterator[Projection]:
    """Every projection folded from the log file, without writing to it."""
    projection = Projection()
    projection.apply((row.seq, row.event) for row in read_log(path))
    yield projection
