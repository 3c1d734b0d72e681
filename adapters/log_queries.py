"""Read-only access to a log file for the audit commands: never writes, clear errors."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

from walsync.adapters.log_records import EVENT_COLUMNS_SQL, StoredEvent, stored_from_row
from walsync.core.errors import LogCorrupt, StoreError
from walsync.core.serde import format_time, parse_time
from walsync.projections.view import Projection

__all__ = ["connect_readonly", "open_log_readonly", "read_log", "rows_of"]

_COLUMNS = EVENT_COLUMNS_SQL


def connect_readonly(path: str | Path) -> sqlite3.Connection:
    """Open an existing log read-only; StoreError when it is missing or not a walsync log."""
    file = Path(path)
    if not file.is_file():
        raise StoreError(f"no log file at {file}")
    try:
        conn = sqlite3.connect(f"{file.resolve().as_uri()}?mode=ro", uri=True)
        # A shared log is untrusted input (contract C8): no schema code, checked cells, no mmap.
        for pragma in ("trusted_schema=OFF", "cell_size_check=ON", "mmap_size=0"):
            conn.execute(f"PRAGMA {pragma}")
        kind = conn.execute(
            "SELECT type FROM sqlite_master WHERE name = 'events'").fetchone()
    except (sqlite3.DatabaseError, UnicodeDecodeError) as error:
        raise LogCorrupt(f"{file} is not a readable SQLite database: {error}") from error
    if kind is None or kind[0] != "table":
        conn.close()
        raise LogCorrupt(f"{file} is not a walsync log (no events table)")
    return conn


def rows_of(conn: sqlite3.Connection, sql: str, params: list[object]) -> Iterator[StoredEvent]:
    """Log rows from a query over the events columns; LogCorrupt when SQLite cannot read them."""
    try:
        for values in conn.execute(sql, params):
            yield stored_from_row(values)
    except (sqlite3.DatabaseError, UnicodeDecodeError) as error:  # damaged text decodes badly
        raise LogCorrupt(f"reading the log failed: {error}") from error


def read_log(path: str | Path, *, wal_id: str | None = None, stream: str | None = None,
             type_name: str | None = None, since: str | None = None, until: str | None = None,
             from_seq: int | None = None, to_seq: int | None = None) -> Iterator[StoredEvent]:
    """The log's rows in seq order, filtered (every filter is a bound parameter, never SQL)."""
    sql = f"SELECT {_COLUMNS} FROM events WHERE 1 = 1"  # noqa: S608 (fixed columns)
    params: list[object] = []
    for clause, value in (("stream = ?", f"wal:{wal_id}" if wal_id is not None else None),
                          ("stream = ?", stream), ("type = ?", type_name),
                          ("at >= ?", _time_bound(since)), ("at <= ?", _time_bound(until)),
                          ("seq >= ?", from_seq), ("seq <= ?", to_seq)):
        if value is not None:
            sql += f" AND {clause}"
            params.append(value)
    with closing(connect_readonly(path)) as conn:
        yield from rows_of(conn, sql + " ORDER BY seq", params)


def _time_bound(text: str | None) -> str | None:
    if text is None:
        return None
    try:
        return format_time(parse_time(text))
    except ValueError:
        raise StoreError(f"{text!r} is not an ISO-8601 time") from None


@contextmanager
def open_log_readonly(path: str | Path) -> Iterator[Projection]:
    """Every projection folded from the log file, without writing to it."""
    projection = Projection()
    projection.apply((row.seq, row.event) for row in read_log(path))
    yield projection
