"""The PostgreSQL event store: one device's log in the fleet database, same port and contract
as the SQLite store. Appends lock the device's row (SELECT ... FOR UPDATE), so writers of one
device serialise while other devices append in parallel."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Final

import psycopg

from walsync.adapters.fleet.schema import create_schema
from walsync.adapters.ports import NewEvent, StoredEvent
from walsync.adapters.store.append_plan import plan_append
from walsync.adapters.store.records import EVENT_COLUMNS_SQL, GENESIS_HASH, stored_from_row
from walsync.core.errors import StoreError
from walsync.projections.view import Projection

__all__ = ["PgStore", "connect", "insert_rows", "lock_device"]

_COPY: Final = f"COPY events (device_id, {EVENT_COLUMNS_SQL}) FROM STDIN".encode()
_SELECT: Final = f"SELECT {EVENT_COLUMNS_SQL} FROM events WHERE device_id = %s AND seq > %s"  # noqa: S608 (fixed column names; values are bound)

PgConnection = psycopg.Connection[tuple[Any, ...]]


def connect(dsn: str) -> PgConnection:
    """An autocommit connection (writes use explicit transactions) with the schema in place."""
    try:
        conn = psycopg.connect(dsn, autocommit=True)
        create_schema(conn)
    except psycopg.Error as error:
        raise StoreError(f"PostgreSQL: {error}".strip()) from error
    return conn


def lock_device(conn: PgConnection, device_id: str) -> tuple[int, str]:
    """Inside a transaction: make sure the device exists, lock its row; its (head seq, hash)."""
    conn.execute("INSERT INTO devices (device_id, head_seq, head_hash) VALUES (%s, 0, %s) "
                 "ON CONFLICT (device_id) DO NOTHING", (device_id, GENESIS_HASH))
    found = conn.execute("SELECT head_seq, head_hash FROM devices WHERE device_id = %s FOR UPDATE",
                         (device_id,)).fetchone()
    assert found is not None  # inserted just above
    return int(found[0]), str(found[1])


def insert_rows(conn: PgConnection, device_id: str, rows: Sequence[StoredEvent]) -> None:
    """COPY rows in, then move the device's head: the caller holds the device lock."""
    if not rows:
        return
    with conn.cursor() as cur, cur.copy(_COPY) as copy:
        for r in rows:
            copy.write_row((device_id, r.seq, r.event_id, r.stream, r.version, r.type,
                            r.schema_version, r.at, r.data, r.prev_hash, r.hash, r.commit_end))
    conn.execute("UPDATE devices SET head_seq = %s, head_hash = %s, updated_at = now() "
                 "WHERE device_id = %s", (rows[-1].seq, rows[-1].hash, device_id))


class PgStore:
    """One device's log. Opening it folds the device's events into the projection."""

    def __init__(self, dsn: str, device_id: str) -> None:
        self.device_id = device_id
        self._conn = connect(dsn)
        self.projection = Projection()
        self._catch_up()

    def read(self, *, after: int = 0, upto: int | None = None,
             stream: str | None = None) -> Iterator[StoredEvent]:
        """Rows in seq order within (after, upto], optionally of one stream."""
        sql, params = _SELECT, [self.device_id, after]
        if upto is not None:
            sql, params = sql + " AND seq <= %s", [*params, upto]
        if stream is not None:
            sql, params = sql + " AND stream = %s", [*params, stream]
        try:
            found = self._conn.execute((sql + " ORDER BY seq").encode(), params).fetchall()
        except psycopg.Error as error:
            raise StoreError(f"PostgreSQL: {error}") from error
        for values in found:
            yield stored_from_row(values)

    def head(self) -> tuple[int, str]:
        """(last seq, its hash) of this device."""
        found = self._conn.execute("SELECT head_seq, head_hash FROM devices WHERE device_id = %s",
                                   (self.device_id,)).fetchone()
        return (int(found[0]), str(found[1])) if found else (0, GENESIS_HASH)

    def append(self, events: Sequence[NewEvent],
               expected: Mapping[str, int] | None = None) -> list[StoredEvent]:
        """Append atomically under the device lock; typed errors, nothing kept on failure."""
        try:
            with self._conn.transaction():
                head = lock_device(self._conn, self.device_id)
                self._catch_up(head[0])
                rows = plan_append(events, expected, head=head,
                                   stream_version=self._stream_version,
                                   stored_body=self._stored_body)
                given = {n.event_id: n.event for n in events}
                delta = self.projection.plan((r.seq, given[r.event_id]) for r in rows)
                insert_rows(self._conn, self.device_id, rows)
        except psycopg.Error as error:
            raise StoreError(f"PostgreSQL: {error}") from error
        self.projection.commit(delta)
        return rows

    def close(self) -> None:
        """Close the connection."""
        self._conn.close()

    def _catch_up(self, head_seq: int | None = None) -> None:
        """Fold events another writer appended since this view's checkpoint."""
        top = self.head()[0] if head_seq is None else head_seq
        if top != self.projection.checkpoint:
            self.projection.apply(
                (r.seq, r.event) for r in self.read(after=self.projection.checkpoint))

    def _stream_version(self, stream: str) -> int:
        found = self._conn.execute(
            "SELECT max(version) FROM events WHERE device_id = %s AND stream = %s",
            (self.device_id, stream)).fetchone()
        return int(found[0]) if found and found[0] is not None else 0

    def _stored_body(self, event_id: str) -> tuple[str, str, str, str] | None:
        found = self._conn.execute(
            "SELECT stream, type, at, data FROM events WHERE device_id = %s AND event_id = %s",
            (self.device_id, event_id)).fetchone()
        return (str(found[0]), str(found[1]), str(found[2]), str(found[3])) if found else None
