"""`PgStore`: one device's log in the fleet database, behind the same store port and contract
as the SQLite store. An append locks the device's row and goes through the one way in for every
writer (tail.py), which folds it into the fleet projections in its transaction, so the fleet
answers never lag the log."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence

import psycopg

from walsync.adapters.fleet.store import connect, lock_device, read_rows
from walsync.adapters.fleet.tail import add_tail
from walsync.adapters.ports import NewEvent, StoredEvent
from walsync.adapters.store.append_plan import plan_append
from walsync.adapters.store.records import GENESIS_HASH
from walsync.core.errors import StoreError
from walsync.core.serde import format_time
from walsync.projections.view import Projection

__all__ = ["PgStore"]


class PgStore:
    """One device's log. Opening it folds the device's events into the projection."""

    def __init__(self, dsn: str, device_id: str) -> None:
        self.device_id = device_id
        self._conn = connect(dsn, write=True)
        self.projection = Projection()
        self._catch_up()

    def read(self, *, after: int = 0, upto: int | None = None,
             stream: str | None = None) -> Iterator[StoredEvent]:
        """Rows in seq order within (after, upto], optionally of one stream."""
        try:
            found = read_rows(self._conn, self.device_id, after=after, upto=upto, stream=stream)
        except psycopg.Error as error:
            raise StoreError(f"PostgreSQL: {error}") from error
        yield from found

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
                add_tail(self._conn, self.device_id, rows, hostile=False)
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
        return (str(found[0]), str(found[1]), format_time(found[2]), str(found[3])) if found else None
