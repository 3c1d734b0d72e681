"""`walsync status` from the projection tables: the rows, cards and gate the store committed in
the transaction of the events they fold, read in one snapshot instead of folding the whole log.

The tables are the log's fold as of its head (the store writes them with every commit), so
reading them costs what the rows are, not what the history is: on a log of 2M events, folding
took 28 s and 1.47 GiB for `status` (issue 17). A log whose tables cannot be the fold of its
head (no card while events exist, or a gate row behind the gate's stream: written by hand or
by a walsync that did not keep them) is folded instead, as before (None here), and so is an
empty log (nothing to fold).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Collection
from datetime import datetime
from typing import Any, Final

import orjson
from attrs import field, frozen

from walsync.adapters.store.segments.anchors import archived_count, live_start
from walsync.core.gate import Gate
from walsync.core.serde import parse_time
from walsync.projections.card import Card
from walsync.projections.view import GateRow
from walsync.projections.wal_rows import WalRow

__all__ = ["StatusTables", "rows_in_order", "stallable_wal_ids", "status_tables"]

# In the fold's order: a recording's row stands where its first event put it.
_ROWS: Final = ("SELECT w.* FROM wal_rows AS w LEFT JOIN events AS e "
                "ON e.stream = 'wal:' || w.wal_id AND e.version = 1 ORDER BY e.seq, w.wal_id")
# The live recordings' rows (not finished: the live view lists them), by its key.
_LIVE_ROWS: Final = ("SELECT w.* FROM live_wals AS l JOIN wal_rows AS w ON w.wal_id = l.wal_id "
                     "LEFT JOIN events AS e ON e.stream = 'wal:' || w.wal_id AND e.version = 1 "
                     "ORDER BY e.seq, w.wal_id")
# The rows in some display states: the placeholders go between the two halves.
_IN_DISPLAYS: Final = ("SELECT w.* FROM (SELECT * FROM wal_rows WHERE display IN (",
                       ")) AS w LEFT JOIN events AS e ON e.stream = 'wal:' || w.wal_id "
                       "AND e.version = 1 ORDER BY e.seq, w.wal_id")
_DISPLAYS: Final = "SELECT json_extract(summary, '$.displays') FROM projection_head WHERE id = 1"
_CARDS = "SELECT page, kind, message_key, text, detail, color, pill, spinner FROM sync_card"
_GATE = ("SELECT limited, reason, until, set_at, resume_at, set_by_seq, version "
         "FROM gate_state WHERE id = 1")


@frozen(kw_only=True)
class StatusTables:
    """What `status` prints, as committed: rows by recording, cards by page, the gate, and the
    last seq they fold (the log's head in the same snapshot)."""

    rows: dict[str, WalRow]
    cards: dict[str, Card]
    gate: GateRow
    seq: int
    # Every recording by display state, the finished and archived ones too.
    displays: dict[str, int] = field(factory=dict)
    # Recordings retention archived (store/segments/): their rows left the tables.
    archived: int = 0


def status_tables(conn: sqlite3.Connection,
                  states: Collection[str] = ()) -> StatusTables | None:
    """The status as the tables hold it, read in one read transaction (a writer committing
    meanwhile is not seen half-way); None when the tables are not the fold of the log's head.

    Its rows: those in the display `states` when given, else the live recordings' (not
    finished), so that it costs what is still moving, not the month of finished rows the live
    log holds (issue 17: 28,903 rows printed at a year); every recording is counted in
    `displays`, read from the summary the store commits with the tables."""
    conn.execute("BEGIN")
    try:
        head = _trusted_head(conn)
        if head is None:
            return None
        found = conn.execute(_GATE).fetchone()
        cards = {str(c[0]): _card(c) for c in conn.execute(_CARDS)}
        rows = {row.wal_id: row for row in _rows(conn, states)}
        displays = _displays(conn)
        archived = archived_count(conn)
    except sqlite3.OperationalError:  # a table missing: a log made before it existed
        return None
    finally:
        conn.execute("COMMIT")
    if displays is None:
        return None
    return StatusTables(rows=rows, cards=cards, gate=_gate(found), seq=head, displays=displays,
                        archived=archived)


def _rows(conn: sqlite3.Connection, states: Collection[str]) -> list[WalRow]:
    """The rows in these display states (every row of the tables read), or the live ones."""
    if not states:
        return [WalRow(*r) for r in conn.execute(_LIVE_ROWS)]
    marks = ", ".join("?" * len(states))  # placeholders only: the states are bound
    return [WalRow(*r) for r in conn.execute(_IN_DISPLAYS[0] + marks + _IN_DISPLAYS[1],
                                             list(states))]


def _displays(conn: sqlite3.Connection) -> dict[str, int] | None:
    """The display counts the summary holds (None: no summary, or not one this reads)."""
    found = conn.execute(_DISPLAYS).fetchone()
    try:
        counts = orjson.loads(found[0]) if found and isinstance(found[0], str) else None
    except orjson.JSONDecodeError:
        return None
    if not isinstance(counts, dict) or not all(
            isinstance(n, int) and not isinstance(n, bool) for n in counts.values()):
        return None
    return {str(name): n for name, n in counts.items()}


def rows_in_order(conn: sqlite3.Connection) -> list[WalRow]:
    """Every committed status row, in the fold's order (where each recording's first event
    put it)."""
    return [WalRow(*r) for r in conn.execute(_ROWS)]


def stallable_wal_ids(conn: sqlite3.Connection) -> list[str] | None:
    """The recordings whose committed status row `why` can call stalled: every state but
    synced and uploading (a deleted one has no row). The caller holds the read transaction;
    None when the tables are not the fold of the log's head."""
    try:
        if _trusted_head(conn) is None:
            return None
        return [str(w) for (w,) in conn.execute(
            "SELECT wal_id FROM wal_rows WHERE state NOT IN ('synced', 'uploading', 'deleted')")]
    except sqlite3.OperationalError:  # a table missing: a log made before it existed
        return None


def _trusted_head(conn: sqlite3.Connection) -> int | None:
    """The log's head when the tables can be its fold: events there, a card row, the gate row
    as far as the gate's stream (else None: fold the log instead)."""
    head = int(conn.execute("SELECT coalesce(max(seq), 0) FROM events").fetchone()[0])
    gate_events = int(conn.execute(
        "SELECT coalesce(max(version), 0) FROM events WHERE stream = 'gate'").fetchone()[0])
    if not gate_events:  # a compacted log: the gate's events may all lie before its cut
        start = live_start(conn)
        gate_events = start.versions.get("gate", 0) if start is not None else 0
    found = conn.execute("SELECT version FROM gate_state WHERE id = 1").fetchone()
    cards = conn.execute("SELECT count(*) FROM sync_card").fetchone()[0]
    if not head or not cards or (found[0] if found else 0) != gate_events:
        return None
    return head


def _card(values: tuple[Any, ...]) -> Card:
    page, kind, key, text, detail, color, pill, spinner = values
    return Card(page, kind, key, text, detail, color, pill, bool(spinner))


def _gate(found: tuple[Any, ...] | None) -> GateRow:
    if found is None:
        return GateRow()
    limited, reason, until, set_at, resume_at, set_by_seq, version = found
    gate = Gate(limited=bool(limited), reason=reason, until=_moment(until),
                set_at=_moment(set_at), resume_at=_moment(resume_at))
    return GateRow(gate=gate, set_by_seq=set_by_seq, version=int(version or 0))


def _moment(text: str | None) -> datetime | None:
    return parse_time(text) if text is not None else None
