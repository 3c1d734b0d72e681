"""The log's rows on disk: their columns, how a row is read back, and the hash chain that
links them."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any, Final

import orjson

from walsync.adapters.ports import NewEvent, StoredEvent
from walsync.core.serde import (
    SCHEMA_VERSION,
    canonical_bytes,
    event_to_data,
    format_time,
)

__all__ = [
    "EVENT_COLUMNS",
    "EVENT_COLUMNS_SQL",
    "GENESIS_HASH",
    "INSERT_ROW",
    "SELECT_ROWS",
    "body_of",
    "chain_hash",
    "make_stored",
    "stored_from_row",
]

GENESIS_HASH: Final = "0" * 64
EVENT_COLUMNS: Final = ("seq", "event_id", "stream", "version", "type", "schema_version", "at",
                        "data", "prev_hash", "hash")
EVENT_COLUMNS_SQL: Final = ", ".join(EVENT_COLUMNS)
# The statements every store module shares. Built only from the fixed column names above.
SELECT_ROWS: Final = f"SELECT {EVENT_COLUMNS_SQL} FROM events"  # noqa: S608 (fixed column names)
INSERT_ROW: Final = (f"INSERT INTO events ({EVENT_COLUMNS_SQL}) "  # noqa: S608 (fixed column names)
                     f"VALUES ({', '.join('?' * len(EVENT_COLUMNS))})")


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
