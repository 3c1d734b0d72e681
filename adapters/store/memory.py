"""An in-memory event store for fast unit tests; same contract as the SQLite store."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence

from walsync.adapters.ports import NewEvent, StoredEvent
from walsync.adapters.store.append_plan import plan_append
from walsync.adapters.store.records import GENESIS_HASH, body_of
from walsync.projections.view import Projection

__all__ = ["MemoryStore"]


class MemoryStore:
    """Rows in a list, indexes in dicts; the projection is folded in step with each append."""

    def __init__(self) -> None:
        self.projection = Projection()
        self._rows: list[StoredEvent] = []
        self._versions: dict[str, int] = {}
        self._bodies: dict[str, tuple[str, str, str, str]] = {}

    def append(
        self, events: Sequence[NewEvent], expected: Mapping[str, int] | None = None
    ) -> list[StoredEvent]:
        """Append atomically: on any error nothing is kept."""
        rows = plan_append(
            events, expected, head=self.head(),
            stream_version=lambda s: self._versions.get(s, 0),
            stored_body=self._bodies.get,
        )
        given = {n.event_id: n.event for n in events}
        delta = self.projection.plan((r.seq, given[r.event_id]) for r in rows)
        bodies = {n.event_id: body_of(n) for n in events}
        for row in rows:
            self._rows.append(row)
            self._versions[row.stream] = row.version
            self._bodies[row.event_id] = bodies[row.event_id]
        self.projection.commit(delta)
        return rows

    def read(
        self, *, after: int = 0, upto: int | None = None, stream: str | None = None
    ) -> Iterator[StoredEvent]:
        """Rows in seq order within (after, upto], optionally of one stream."""
        for row in self._rows[after:upto]:
            if stream is None or row.stream == stream:
                yield row

    def head(self) -> tuple[int, str]:
        """(last seq, its hash)."""
        if not self._rows:
            return 0, GENESIS_HASH
        last = self._rows[-1]
        return last.seq, last.hash

    def refresh(self) -> int:
        """Nothing to fold (only this store writes to its rows); the last seq."""
        return self.head()[0]

    def close(self) -> None:
        """Nothing to release."""
