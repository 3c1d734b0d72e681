"""Write log rows verbatim (any type, any schema version), hash-chained like a real writer's.

T14 and T15 need logs this walsync would not write itself: rows of an older schema version, of
a newer one, or of an event type it does not know.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from walsync.adapters.store.records import COMMIT_BOUNDARY_VERSION, EVENT_COLUMNS, GENESIS_HASH, chain_hash
from walsync.adapters.store.schema import create_schema
from walsync.core.events import Event
from walsync.core.serde import canonical_bytes, event_to_data, format_time

Row = dict[str, Any]


def row_of(event: Event, *, event_id: str, version: int) -> Row:
    """The unchained row of an event as today's writer shapes it (schema version filled later)."""
    return {"event_id": event_id, "stream": event.stream, "version": version,
            "type": type(event).__name__, "at": format_time(event.at), "data": event_to_data(event)}


def chain(rows: list[Row], *, first_seq: int = 1, prev_hash: str = GENESIS_HASH) -> list[Row]:
    """Number and hash-chain rows whose `data` is a dict and that carry `schema_version`."""
    out = []
    for offset, row in enumerate(rows):
        seq = first_seq + offset
        # A row of schema version 3 on is its own commit unless it names another end.
        commit_end = row.get("commit_end", seq if row["schema_version"] >= COMMIT_BOUNDARY_VERSION
                             else None)
        digest = chain_hash(prev_hash, seq=seq, event_id=row["event_id"], stream=row["stream"],
                            version=row["version"], type_name=row["type"],
                            schema_version=row["schema_version"], at=row["at"], data=row["data"],
                            commit_end=commit_end)
        out.append({**row, "seq": seq, "data": canonical_bytes(row["data"]).decode(),
                    "prev_hash": prev_hash, "hash": digest, "commit_end": commit_end})
        prev_hash = digest
    return out


def write_rows(db: Path, rows: list[Row]) -> None:
    """Insert chained rows verbatim into a (new or existing) log file."""
    with sqlite3.connect(db) as conn:
        create_schema(conn)
        conn.executemany(f"INSERT INTO events ({', '.join(EVENT_COLUMNS)}) VALUES "
                         f"({', '.join('?' * len(EVENT_COLUMNS))})",
                         [tuple(r[c] for c in EVENT_COLUMNS) for r in rows])
    conn.close()


def stored_rows(db: Path) -> list[tuple[Any, ...]]:
    """Every events row exactly as stored."""
    conn = sqlite3.connect(db)
    try:
        return conn.execute(f"SELECT {', '.join(EVENT_COLUMNS)} FROM events "
                            "ORDER BY seq").fetchall()
    finally:
        conn.close()
