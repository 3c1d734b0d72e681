"""The log's rows on disk: their columns, how a row is read back, and the hash chain that
links them.

From schema version 3 on every row also says where the commit that wrote it ends
(`commit_end`: the seq of that commit's last row), so time travel can land on a state some
reader could have seen; the hash of such a row covers it. Rows of older versions hold NULL
there and hash as they always did.

A row's `prev_hash` is stored as '' when it is the hash of the row before it (seq - 1) in
the same table, which is every row an append writes after a log's first: 64 bytes a row less
(a month of a device, 164k rows, is 11.6 MB smaller: docs/performance.md). INSERT_ROW decides
that as it inserts, and every read goes through READ_PREV_HASH, which gives the hash back, so
what a row says (verify, export, `log --json`, segments, the fleet) is unchanged. Rows
written before hold it in full, which reads the same. A row whose predecessor is about to
leave the table (a compaction's cut) gets its prev_hash back in full first (keep_prev_hash)."""

from __future__ import annotations

import hashlib
import sqlite3
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
    "COMMIT_BOUNDARY_VERSION",
    "EVENT_COLUMNS",
    "EVENT_COLUMNS_SQL",
    "GENESIS_HASH",
    "INSERT_ROW",
    "READ_PREV_HASH",
    "SELECT_FOLDED",
    "SELECT_ROWS",
    "body_of",
    "chain_hash",
    "has_commit_column",
    "keep_prev_hash",
    "make_stored",
    "select_rows",
    "spell_out_prev_hashes",
    "stored_from_row",
    "stored_hash",
]

GENESIS_HASH: Final = "0" * 64
EVENT_COLUMNS: Final = ("seq", "event_id", "stream", "version", "type", "schema_version", "at",
                        "data", "prev_hash", "hash", "commit_end")
# The first schema version whose rows record commit_end (and hash it).
COMMIT_BOUNDARY_VERSION: Final = 3
EVENT_COLUMNS_SQL: Final = ", ".join(EVENT_COLUMNS)
# A row's prev_hash as it reads (see the module's docstring): stored, or the hash of the row
# before it when stored as ''. '' again if that row is gone, which no chain check passes.
READ_PREV_HASH: Final = ("CASE prev_hash WHEN '' THEN coalesce((SELECT p.hash FROM events AS p "
                         "WHERE p.seq = events.seq - 1), '') ELSE prev_hash END")
# The statements every store module shares. Built only from the fixed column names above.
SELECT_ROWS: Final = (f"SELECT {', '.join(EVENT_COLUMNS[:8])}, {READ_PREV_HASH} AS prev_hash, "  # noqa: S608 (fixed column names)
                      "hash, commit_end FROM events")
# The columns the projection's fold takes, in the order of its StoredRow tuple.
# Retention's anchors fold nothing (projections/view.py passes over them undecoded): their data,
# a StateCarried's whole view (megabytes in a big log), is not even read.
SELECT_FOLDED: Final = ("SELECT seq, stream, type, schema_version, at, CASE WHEN type IN "
                        "('SegmentSealed', 'StateCarried') THEN '{}' ELSE data END FROM events")
# prev_hash (?9) is stored as '' when the row before (seq ?1 - 1) is there with that hash.
INSERT_ROW: Final = (f"INSERT INTO events ({EVENT_COLUMNS_SQL}) "  # noqa: S608 (fixed column names)
                     "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, CASE WHEN ?9 = (SELECT hash FROM "
                     "events WHERE seq = ?1 - 1) THEN '' ELSE ?9 END, ?10, ?11)")


def has_commit_column(conn: sqlite3.Connection) -> bool:
    """Does this log's events table have the commit_end column (a log no walsync of schema
    version 3 or later has opened for writing does not)?"""
    return any(row[1] == "commit_end" for row in conn.execute("PRAGMA table_info(events)"))


def select_rows(conn: sqlite3.Connection) -> str:
    """SELECT_ROWS for any log file, also one written before schema version 3 and read where
    nothing may write to it: its missing commit_end column reads as NULL."""
    if has_commit_column(conn):
        return SELECT_ROWS
    return (f"SELECT {', '.join(EVENT_COLUMNS[:8])}, {READ_PREV_HASH} AS prev_hash, hash, "  # noqa: S608 (fixed column names)
            "NULL AS commit_end FROM events")


def spell_out_prev_hashes(conn: sqlite3.Connection) -> None:
    """Every row stores its prev_hash in full, as logs did before it was left out: for a copy
    that leaves walsync (an export's .db), so that it reads the same without READ_PREV_HASH."""
    conn.execute("UPDATE events SET prev_hash = (SELECT p.hash FROM events AS p "
                 "WHERE p.seq = events.seq - 1) WHERE prev_hash = ''")


def keep_prev_hash(conn: sqlite3.Connection, seq: int) -> None:
    """The row at `seq` stores its prev_hash in full: the rows before it are about to leave
    the table (a compaction's cut), and it could no longer read it from them."""
    conn.execute("UPDATE events SET prev_hash = (SELECT p.hash FROM events AS p "
                 "WHERE p.seq = events.seq - 1) WHERE seq = ? AND prev_hash = ''", (seq,))


def stored_from_row(values: Sequence[Any]) -> StoredEvent:
    """A StoredEvent from a row selected as EVENT_COLUMNS_SQL (or without its last column)."""
    seq, event_id, stream, version, type_, schema_v, at, data, prev_hash, digest, *rest = values
    commit_end = rest[0] if rest else None
    return StoredEvent(seq=int(seq), event_id=str(event_id), stream=str(stream),
                       version=int(version), type=str(type_), schema_version=int(schema_v),
                       at=str(at), data=str(data), prev_hash=str(prev_hash), hash=str(digest),
                       commit_end=None if commit_end is None else int(commit_end))


def body_of(new: NewEvent) -> tuple[str, str, str, str]:
    """(stream, type, at, canonical JSON data): what an idempotent re-append must match."""
    event = new.event
    return (event.stream, type(event).__name__, format_time(event.at),
            canonical_bytes(event_to_data(event)).decode())


def chain_hash(prev_hash: str, *, seq: int, event_id: str, stream: str, version: int,
               type_name: str, schema_version: int, at: str, data: Any,
               commit_end: int | None = None) -> str:
    """SHA-256 over the previous hash and the canonical bytes of the row (data re-canonicalised).
    `commit_end` is covered from COMMIT_BOUNDARY_VERSION on; older rows hash without it."""
    return _chained(prev_hash, seq, event_id, stream, version, type_name, schema_version, at,
                    orjson.Fragment(canonical_bytes(data)), commit_end)


def _chained(prev_hash: str, seq: int, event_id: str, stream: str, version: int,
             type_name: str, schema_version: int, at: str, data: orjson.Fragment,
             commit_end: int | None) -> str:
    """chain_hash with positional arguments and the data already canonical, for the append's
    per-event loop. The row's keys are written in sorted order, so the bytes are canonical
    without orjson sorting them on every call."""
    digest = hashlib.sha256(bytes.fromhex(prev_hash))
    if schema_version >= COMMIT_BOUNDARY_VERSION:
        digest.update(orjson.dumps({
            "at": at, "commit_end": commit_end, "data": data, "event_id": event_id,
            "schema_version": schema_version, "seq": seq, "stream": stream, "type": type_name,
            "version": version,
        }))
    else:
        digest.update(orjson.dumps({
            "at": at, "data": data, "event_id": event_id, "schema_version": schema_version,
            "seq": seq, "stream": stream, "type": type_name, "version": version,
        }))
    return digest.hexdigest()


def stored_hash(prev_hash: str, seq: int, event_id: str, stream: str, version: int,
                type_name: str, schema_version: int, at: str, data: orjson.Fragment,
                commit_end: int | None) -> str:
    """chain_hash of a stored row whose data text is hashed as it is stored (a Fragment):
    positional, for a check that runs per row."""
    return _chained(prev_hash, seq, event_id, stream, version, type_name, schema_version, at,
                    data, commit_end)


def make_stored(event_id: str, seq: int, version: int, prev_hash: str,
                body: tuple[str, str, str, str], commit_end: int) -> StoredEvent:
    """The row a new event (its id and body_of) becomes at `seq`, chained to `prev_hash`, in a
    commit whose last row is `commit_end`. Positional: the append calls it once per event."""
    stream, type_name, at, data = body
    # `data` is already canonical JSON, so it goes into the hashed row verbatim (a Fragment)
    # instead of being decoded and re-encoded: the same bytes chain_hash would produce.
    digest = _chained(prev_hash, seq, event_id, stream, version, type_name, SCHEMA_VERSION, at,
                      orjson.Fragment(data), commit_end)
    return StoredEvent(seq, event_id, stream, version, type_name, SCHEMA_VERSION, at, data,
                       prev_hash, digest, commit_end)
