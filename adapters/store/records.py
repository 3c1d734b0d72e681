"""The event log's records and the store port every store (memory, SQLite) implements."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Final, NamedTuple, Protocol

import orjson
from attrs import frozen

from walsync.core.events import Event
from walsync.core.serde import (
    SCHEMA_VERSION,
    canonical_bytes,
    event_from_data,
    event_to_data,
    format_time,
)
from walsync.core.upcast import upcast
from walsync.projections.view import Projection

__all__ = [
    "EVENT_COLUMNS",
    "EVENT_COLUMNS_SQL",
    "GENESIS_HASH",
    "EventStore",
    "NewEvent",
    "StoredEvent",
    "body_of",
    "chain_hash",
    "make_stored",
    "stored_from_row",
]

GENESIS_HASH: Final = "0" * 64
EVENT_COLUMNS: Final = ("seq", "event_id", "stream", "version", "type", "schema_version", "at",
                        "data", "prev_hash", "hash")
EVENT_COLUMNS_SQL: Final = ", ".join(EVENT_COLUMNS)


@frozen(kw_only=True)
class NewEvent:
    """An event about to be appended, with its caller-chosen id (the idempotency key)."""

    event_id: str
    event: Event


class StoredEvent(NamedTuple):
    """One row of the log, its fields in column order (EVENT_COLUMNS): a tuple, so the store
    inserts it as it is. `event` decodes `data` on demand (most folds need only `type`)."""

    seq: int
    event_id: str
    stream: str
    version: int
    type: str
    schema_version: int
    at: str
    data: str
    prev_hash: str
    hash: str

    @property
    def event(self) -> Event:
        """The event in today's shape: older schema versions are upcast on read (never rewritten);
        LogFromNewerVersion for a type or version this code does not know."""
        return event_from_data(self.type, self.at,
                               upcast(self.type, self.schema_version, self.payload))

    @property
    def payload(self) -> dict[str, Any]:
        """The data exactly as stored (the hash chain covers it)."""
        value: dict[str, Any] = orjson.loads(self.data)
        return value


def stored_from_row(values: Sequence[Any]) -> StoredEvent:
    """A StoredEvent from a row selected as EVENT_COLUMNS_SQL."""
    seq, event_id, stream, version, type_, schema_v, at, data, prev_hash, digest = values
    return StoredEvent(seq=int(seq), event_id=str(event_id), stream=str(stream),
                       version=int(version), type=str(type_), schema_version=int(schema_v),
                       at=str(at), data=str(data), prev_hash=str(prev_hash), hash=str(digest))


def body_of(new: NewEvent) -> tuple[str, str, str, str]:
    """(stream, type, at, canonical JSON data): what an idempotent re-append must match."""
    event = new.event
    return (event.stream, type(event).__name__, format_time(event.at),
            canonical_bytes(event_to_data(event)).decode())


def chain_hash(prev_hash: str, *, seq: int, event_id: str, stream: str, version: int,
               type_name: str, schema_version: int, at: str, data: Any) -> str:
    """SHA-256 over the previous hash and the canonical bytes of the row (data re-canonicalised)."""
    return _chained(prev_hash, seq, event_id, stream, version, type_name, schema_version, at,
                    orjson.Fragment(canonical_bytes(data)))


def _chained(prev_hash: str, seq: int, event_id: str, stream: str, version: int,
             type_name: str, schema_version: int, at: str, data: orjson.Fragment) -> str:
    """chain_hash with positional arguments and the data already canonical, for the append's
    per-event loop. The row's keys are written in sorted order, so the bytes are canonical
    without orjson sorting them on every call."""
    digest = hashlib.sha256(bytes.fromhex(prev_hash))
    digest.update(orjson.dumps({
        "at": at, "data": data, "event_id": event_id, "schema_version": schema_version,
        "seq": seq, "stream": stream, "type": type_name, "version": version,
    }))
    return digest.hexdigest()


def make_stored(event_id: str, seq: int, version: int, prev_hash: str,
                body: tuple[str, str, str, str]) -> StoredEvent:
    """The row a new event (its id and body_of) becomes at `seq`, chained to `prev_hash`.
    Positional: the append calls it once per event."""
    stream, type_name, at, data = body
    # `data` is already canonical JSON, so it goes into the hashed row verbatim (a Fragment)
    # instead of being decoded and re-encoded: the same bytes chain_hash would produce.
    digest = _chained(prev_hash, seq, event_id, stream, version, type_name, SCHEMA_VERSION, at,
                      orjson.Fragment(data))
    return StoredEvent(seq, event_id, stream, version, type_name, SCHEMA_VERSION, at, data,
                       prev_hash, digest)


class EventStore(Protocol):
    """The store port: atomic, optimistic, idempotent appends with projections in the same step."""

    projection: Projection

    def append(
        self, events: Sequence[NewEvent], expected: Mapping[str, int] | None = None
    ) -> list[StoredEvent]:
        """Append atomically with the projection change; returns the rows actually added."""
        ...

    def read(
        self, *, after: int = 0, upto: int | None = None, stream: str | None = None
    ) -> Iterator[StoredEvent]:
        """Rows in seq order, optionally one stream and a seq window (after, upto]."""
        ...

    def head(self) -> tuple[int, str]:
        """(last seq, its hash); (0, GENESIS_HASH) for an empty log."""
        ...

    def close(self) -> None:
        """Release the store's resources."""
        ...
