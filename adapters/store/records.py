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
leave the table (a compaction's cut) gets its prev_hash back in full first (keep_prev_hash).

From schema version 5 on (BLOB_IDS_VERSION) a row stores its `hash` and an event id of 32
lowercase hex digits (the engine's ids) as the bytes they spell, BLOBs of 32 and 16 bytes where
the text took 64 and 32 (4.8 and 4.6 MB of a month's log: docs/performance.md). Only the
storage changes: the chain hash is computed over the hex text as before, every reader gets
the text back (`hex_of` in every SQL that reads them: SELECT_ROWS, SELECT_HEAD, the audit
filter), and rows are written through `insert_rows`, which stores them so (`storable`). An
older row keeps its text, which reads the same; `prev_hash` stays text ('' or in full)."""

from __future__ import annotations

import hashlib
import re
import sqlite3
from collections.abc import Iterable, Sequence
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
    "BLOB_IDS_VERSION",
    "COMMIT_BOUNDARY_VERSION",
    "EVENT_COLUMNS",
    "EVENT_COLUMNS_SQL",
    "GENESIS_HASH",
    "INSERT_ROW",
    "READ_PREV_HASH",
    "SELECT_FOLDED",
    "SELECT_HEAD",
    "SELECT_ROWS",
    "body_of",
    "chain_hash",
    "has_commit_column",
    "hex_of",
    "insert_rows",
    "keep_prev_hash",
    "make_stored",
    "select_rows",
    "spell_out",
    "storable",
    "stored_forms",
    "stored_from_row",
    "stored_hash",
]

GENESIS_HASH: Final = "0" * 64
EVENT_COLUMNS: Final = ("seq", "event_id", "stream", "version", "type", "schema_version", "at",
                        "data", "prev_hash", "hash", "commit_end")
# The first schema version whose rows record commit_end (and hash it).
COMMIT_BOUNDARY_VERSION: Final = 3
# The first schema version whose rows store `hash` and engine-made event ids as bytes.
BLOB_IDS_VERSION: Final = 5
EVENT_COLUMNS_SQL: Final = ", ".join(EVENT_COLUMNS)
_HEX: Final = re.compile(r"[0-9a-f]{32}|[0-9a-f]{64}")


def hex_of(column: str) -> str:
    """SQL reading a stored `hash` or `event_id` column as the hex text it stands for: a BLOB
    (schema version 5 on) as its lowercase hex, text (older rows, other ids) as it is."""
    return f"CASE typeof({column}) WHEN 'blob' THEN lower(hex({column})) ELSE {column} END"


_EVENT_ID: Final = hex_of("event_id") + " AS event_id"
_HASH: Final = hex_of("hash") + " AS hash"
# A row's prev_hash as it reads (see the module's docstring): stored, or the hash of the row
# before it when stored as ''. '' again if that row is gone, which no chain check passes.
READ_PREV_HASH: Final = (f"CASE prev_hash WHEN '' THEN coalesce((SELECT {hex_of('p.hash')} "  # noqa: S608 (fixed column names)
                         "FROM events AS p WHERE p.seq = events.seq - 1), '') ELSE prev_hash END")
# The statements every store module shares. Built only from the fixed column names above.
_SELECT_FIRST: Final = f"SELECT seq, {_EVENT_ID}, {', '.join(EVENT_COLUMNS[2:8])}"
SELECT_ROWS: Final = (f"{_SELECT_FIRST}, {READ_PREV_HASH} AS prev_hash, {_HASH}, "
                      "commit_end FROM events")
# The log's last row: (seq, hash).
SELECT_HEAD: Final = f"SELECT seq, {_HASH} FROM events ORDER BY seq DESC LIMIT 1"  # noqa: S608 (fixed column names)
# The columns the projection's fold takes, in the order of its StoredRow tuple.
# Retention's anchors fold nothing (projections/view.py passes over them undecoded): their data,
# a StateCarried's whole view (megabytes in a big log), is not even read.
SELECT_FOLDED: Final = ("SELECT seq, stream, type, schema_version, at, CASE WHEN type IN "
                        "('SegmentSealed', 'StateCarried') THEN '{}' ELSE data END FROM events")
# prev_hash (?9) is stored as '' when the row before (seq ?1 - 1) is there with that hash.
# Rows go in through insert_rows, which stores their ids as their schema version does.
INSERT_ROW: Final = (f"INSERT INTO events ({EVENT_COLUMNS_SQL}) "  # noqa: S608 (fixed column names)
                     f"VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, CASE WHEN ?9 = (SELECT {hex_of('hash')} "
                     "FROM events WHERE seq = ?1 - 1) THEN '' ELSE ?9 END, ?10, ?11)")


def has_commit_column(conn: sqlite3.Connection) -> bool:
    """Does this log's events table have the commit_end column (a log no walsync of schema
    version 3 or later has opened for writing does not)?"""
    return any(row[1] == "commit_end" for row in conn.execute("PRAGMA table_info(events)"))


def select_rows(conn: sqlite3.Connection) -> str:
    """SELECT_ROWS for any log file, also one written before schema version 3 and read where
    nothing may write to it: its missing commit_end column reads as NULL."""
    if has_commit_column(conn):
        return SELECT_ROWS
    return (f"{_SELECT_FIRST}, {READ_PREV_HASH} AS prev_hash, {_HASH}, "
            "NULL AS commit_end FROM events")


# Each row's hash and event id as text, and its prev_hash in full.
_SPELL_OUT: Final = (f"UPDATE events SET event_id = {hex_of('event_id')}, hash = {hex_of('hash')}, "  # noqa: S608 (fixed column names)
                     f"prev_hash = {READ_PREV_HASH}")


def spell_out(conn: sqlite3.Connection) -> None:
    """Every row stores its prev_hash in full and its hash and event id as text, as logs did
    before they were left out or stored as bytes: for a copy that leaves walsync (an export's
    .db), so that it reads the same without READ_PREV_HASH or hex_of. Rows in seq order, so
    that each reads its predecessor's hash before that one is rewritten (the same text)."""
    conn.execute(_SPELL_OUT)


_KEEP_PREV_HASH: Final = (f"UPDATE events SET prev_hash = (SELECT {hex_of('p.hash')} FROM events "  # noqa: S608 (fixed column names)
                          "AS p WHERE p.seq = events.seq - 1) WHERE seq = ? AND prev_hash = ''")


def keep_prev_hash(conn: sqlite3.Connection, seq: int) -> None:
    """The row at `seq` stores its prev_hash in full: the rows before it are about to leave
    the table (a compaction's cut), and it could no longer read it from them."""
    conn.execute(_KEEP_PREV_HASH, (seq,))


def stored_forms(text: str) -> tuple[str | bytes, ...]:
    """Every form a hash or event id may be stored in (hex of 32 or 64 digits: as text, in
    rows of older versions, and as bytes): what a look-up by event id must ask for."""
    return (text, bytes.fromhex(text)) if _HEX.fullmatch(text) else (text,)


def storable(row: Sequence[Any]) -> tuple[Any, ...]:
    """A row's values (EVENT_COLUMNS, as read or planned: hex text) as its schema version
    stores them: from BLOB_IDS_VERSION on, an event id or hash of lowercase hex as its bytes."""
    values = tuple(row)
    if values[5] < BLOB_IDS_VERSION:
        return values
    seq, event_id, *middle, digest, commit_end = values
    return (seq, stored_forms(event_id)[-1], *middle, stored_forms(digest)[-1], commit_end)


def insert_rows(conn: sqlite3.Connection, rows: Iterable[Sequence[Any]]) -> None:
    """Insert log rows (values in EVENT_COLUMNS order) with INSERT_ROW, each as its schema
    version stores it (storable): the new rows of an append, and rows copied from another log
    or a segment."""
    conn.executemany(INSERT_ROW, map(storable, rows))


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
