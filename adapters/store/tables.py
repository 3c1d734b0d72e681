"""Write a projection delta into the SQLite tables, and read the tables back for comparison."""

from __future__ import annotations

import hashlib
import io
import sqlite3
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Final

import orjson

from walsync.adapters.store.schema import PROJECTION_TABLES, create_schema
from walsync.core.events import EVENT_TYPES
from walsync.core.serde import SCHEMA_VERSION, format_time
from walsync.core.states import FINISHED_STATES
from walsync.projections.card import Card
from walsync.projections.snapshot import summary_data, wal_data
from walsync.projections.view import Delta, Projection
from walsync.projections.wal_rows import WalRow

__all__ = ["WRITER", "dump_projection_tables", "full_delta", "projection_lines", "tables_differ",
           "write_card_rows", "write_delta", "write_live_view", "write_wal_rows"]


# Which walsync wrote the live view: its schema version and the event types it knows. Opening
# looks for rows it cannot fold (of a newer walsync) only after the tables' head when the
# tables name this very writer; any other writer's, it looks through the whole log, as before.
WRITER: Final = f"{SCHEMA_VERSION}:" + hashlib.sha256(
    ",".join(sorted(EVENT_TYPES)).encode()).hexdigest()[:16]


def _upsert(table: str, columns: tuple[str, ...]) -> str:
    return (f"INSERT OR REPLACE INTO {table} ({', '.join(columns)}) "  # noqa: S608 (fixed names)
            f"VALUES ({', '.join('?' * len(columns))})")


# A WalRow's and a Card's fields name their table's columns, in order.
_UPSERT_ROW: Final = _upsert("wal_rows", WalRow._fields)
_UPSERT_CARD: Final = _upsert("sync_card", Card._fields)


def _time(value: object) -> str | None:
    return format_time(value) if isinstance(value, datetime) else None


def write_delta(conn: sqlite3.Connection, delta: Delta,
                previous: Projection | None = None) -> None:
    """Upsert what the delta changed; called inside the append's transaction. Given the view
    it was planned over, the gate and card rows are written only when they changed."""
    everything = previous is None or previous.checkpoint == 0
    upserts = []
    for wal_id, row in delta.rows.items():
        if row is None:
            conn.execute("DELETE FROM wal_rows WHERE wal_id = ?", (wal_id,))
        else:
            upserts.append(row)
    write_wal_rows(conn, upserts)
    gate = delta.gate.gate
    if everything or previous is None or delta.gate != previous.gate:
        conn.execute(
            "INSERT OR REPLACE INTO gate_state (id, limited, reason, until, set_at, resume_at, "
            "set_by_seq, version) VALUES (1, ?, ?, ?, ?, ?, ?, ?)",
            (int(gate.limited), gate.reason, _time(gate.until), _time(gate.set_at),
             _time(gate.resume_at), delta.gate.set_by_seq, delta.gate.version),
        )
    write_card_rows(conn, [card for page, card in delta.cards.items()
                           if everything or previous is None or previous.cards.get(page) != card])
    write_live_view(conn, delta, deletes=not everything)


def write_live_view(conn: sqlite3.Connection, delta: Delta, *, deletes: bool = True) -> None:
    """The live view's tables: each moved recording's state while it is live (gone once it
    finished), and the seq the tables now fold up to with the summary. `deletes=False` when
    the tables were empty (a rebuild): there is no finished one's row to remove."""
    live = [(wal_id, orjson.dumps(wal_data(wal)).decode())
            for wal_id, wal in delta.wals.items() if wal.status not in FINISHED_STATES]
    if live:
        conn.executemany("INSERT OR REPLACE INTO live_wals (wal_id, state) VALUES (?, ?)", live)
    if deletes:
        gone = [(wal_id,) for wal_id, wal in delta.wals.items() if wal.status in FINISHED_STATES]
        if gone:
            conn.executemany("DELETE FROM live_wals WHERE wal_id = ?", gone)
    conn.execute("INSERT OR REPLACE INTO projection_head (id, seq, summary) VALUES (1, ?, ?)",
                 (delta.checkpoint, orjson.dumps({**summary_data(delta), "writer": WRITER},
                                                 option=orjson.OPT_SORT_KEYS).decode()))


# A WalRow and a Card are their rows in column order; the driver binds a plain tuple faster
# than a tuple subclass, so each is bound as one.

def write_wal_rows(conn: sqlite3.Connection, rows: Sequence[WalRow]) -> None:
    """Upsert status rows (one row, the common case, by the cheaper `execute`)."""
    if len(rows) == 1:
        conn.execute(_UPSERT_ROW, tuple(rows[0]))
    elif rows:
        conn.executemany(_UPSERT_ROW, map(tuple, rows))


def write_card_rows(conn: sqlite3.Connection, cards: Iterable[Card]) -> None:
    """Upsert status cards."""
    rows = [tuple(card) for card in cards]
    if rows:
        conn.executemany(_UPSERT_CARD, rows)


def full_delta(projection: Projection) -> Delta:
    """A delta that rewrites every row of a projection (for rebuilds)."""
    return Delta(
        wals=dict(projection.wals), rows=dict(projection.rows), displays=projection.displays,
        gate=projection.gate, run=projection.run, retry_budget=projection.retry_budget,
        policy=projection.policy, checkpoint=projection.checkpoint, cards=projection.cards,
        skipped_files=projection.skipped_files, history_lost=projection.history_lost,
    )


def _blob(value: object) -> dict[str, str]:
    """A BLOB in a projection table (walsync never writes one: a damaged row, T05) dumps as
    its hex, so that the comparison at open sees it differ instead of failing on it."""
    if isinstance(value, bytes):
        return {"blob": value.hex()}
    raise TypeError(f"a projection table holds a {type(value).__name__}")


def projection_lines(conn: sqlite3.Connection,
                     tables: Mapping[str, str] = PROJECTION_TABLES) -> Iterator[bytes]:
    """Every projection table's rows in key order, one JSON line each (no newline), read as
    they are asked for: what dump_projection_tables joins, for a comparison row by row."""
    for table, key in tables.items():
        cursor = conn.execute(f"SELECT * FROM {table} ORDER BY {key}")  # noqa: S608 (fixed names)
        names = [d[0] for d in cursor.description]
        for values in cursor:
            yield orjson.dumps({"table": table, **dict(zip(names, values, strict=True))},
                               default=_blob)


def dump_projection_tables(conn: sqlite3.Connection,
                           tables: Mapping[str, str] = PROJECTION_TABLES) -> bytes:
    """Every projection table's rows in key order as JSON lines: equal bytes, equal tables.

    Written line by line into one buffer: each `orjson.dumps` result keeps about 4 KB however
    short it is, so holding one per row took 130 MB for 15,000 rows (the peak RSS of opening
    a 1M-event log, which compares its tables with the fold)."""
    out = io.BytesIO()
    for line in projection_lines(conn, tables):
        if out.tell():
            out.write(b"\n")
        out.write(line)
    return out.getvalue()


def tables_differ(conn: sqlite3.Connection, projection: Projection) -> bool:
    """The log's projection tables differ from `projection` (the fold of its rows): behind it
    (events written without them, by hand) or damaged inside a row, which neither SQLite's
    integrity check nor the hash chain covers (a bit flip in T05)."""
    expected = sqlite3.connect(":memory:")
    try:
        create_schema(expected)
        write_delta(expected, full_delta(projection))
        try:
            found = dump_projection_tables(conn)
            writer = conn.execute("SELECT json_extract(summary, '$.writer') FROM projection_head "
                                  "WHERE id = 1").fetchone()
        except sqlite3.OperationalError:  # a damaged row that no longer decodes (T05)
            return True
        # Which walsync wrote the tables is no fold of the log: an earlier one's are sound.
        if writer is not None and isinstance(writer[0], str) and writer[0] != WRITER:
            expected.execute(
                "UPDATE projection_head SET summary = json_set(summary, '$.writer', ?)",
                (writer[0],))
        return dump_projection_tables(expected) != found
    finally:
        expected.close()
