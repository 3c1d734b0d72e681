"""`verify --full`'s second half in bounded memory: the log folded chunk by chunk into a scratch
copy of the projection tables, then the log's tables and the scratch ones compared row by row
in key order.

The whole fold held every recording ever made, and both tables' dumps, at once: 156 MB for a
2M-event log of 31k recordings. Here the fold keeps only the recordings that can still move;
a finished one (synced, corrupted, deleted) leaves memory for a table of the scratch database
(a temporary file SQLite removes on close), where the fold finds it if it moves again, the way
the store's own live view finds it in the log. The store's bounded rebuild (a redacted
`.db` export's) folds the same way into the log's own tables.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from itertools import islice, zip_longest
from typing import Final

import orjson

from walsync.adapters.store.records import SELECT_FOLDED
from walsync.adapters.store.schema import create_schema
from walsync.adapters.store.segments.anchors import carried_state
from walsync.adapters.store.tables import WRITER, full_delta, projection_lines, write_delta
from walsync.core.states import FINISHED_STATES
from walsync.core.wal import Wal
from walsync.projections.carried import view_from_carried
from walsync.projections.snapshot import wal_data, wal_of
from walsync.projections.view import Delta, Projection
from walsync.projections.wal_rows import WalRow

__all__ = ["CHUNK", "fold_differs", "fold_tables"]

CHUNK: Final = 20_000  # events folded and written to the scratch tables at a time
_FOLDED: Final = f"{SELECT_FOLDED} WHERE seq > ? ORDER BY seq"
_FINISHED_DDL: Final = ("CREATE TEMP TABLE finished_wals (wal_id TEXT PRIMARY KEY, "
                        "state TEXT NOT NULL) WITHOUT ROWID")


class _Scratch:
    """The fold's finished recordings, in the scratch database (the view's `Finished`)."""

    def __init__(self, scratch: sqlite3.Connection) -> None:
        self._db = scratch

    def wal(self, wal_id: str, upto: int) -> Wal | None:
        """Its state as last folded (`upto` is the fold's own head: nothing later is there)."""
        found = self._db.execute("SELECT state FROM finished_wals WHERE wal_id = ?",
                                 (wal_id,)).fetchone()
        return None if found is None else wal_of(orjson.loads(found[0]))

    def row(self, wal_id: str) -> WalRow | None:
        cursor = self._db.execute("SELECT * FROM wal_rows WHERE wal_id = ?", (wal_id,))
        found = cursor.fetchone()
        return None if found is None else WalRow(*found)

    def exists(self, wal_id: str, upto: int) -> bool:
        return self.wal(wal_id, upto) is not None

    def rows(self) -> list[WalRow]:
        return [WalRow(*row) for row in self._db.execute("SELECT * FROM wal_rows")]

    def keep(self, delta: Delta) -> None:
        """The finished states of the recordings a chunk moved (a live one's is in the view)."""
        for wal_id, wal in delta.wals.items():
            if wal.status in FINISHED_STATES:
                self._db.execute("INSERT OR REPLACE INTO finished_wals (wal_id, state) "
                                 "VALUES (?, ?)", (wal_id, orjson.dumps(wal_data(wal)).decode()))
            else:
                self._db.execute("DELETE FROM finished_wals WHERE wal_id = ?", (wal_id,))


def fold_tables(conn: sqlite3.Connection, target: sqlite3.Connection, *,
                commits: bool = True) -> None:
    """The projection tables the log's rows fold to, written into `target`'s empty tables a
    chunk at a time (from the view carried at the last cut when the log was compacted), the
    finished recordings kept in a TEMP table of `target` meanwhile. `target` is `conn` itself
    for a rebuild inside the caller's write transaction (`commits=False`); else each chunk is
    committed. Raises what the fold raises for rows it cannot fold."""
    carried = carried_state(conn)
    view = view_from_carried(carried) if carried is not None else Projection()
    finished = _Scratch(target)
    view.finished = finished
    create_schema(target)
    target.execute("DROP TABLE IF EXISTS temp.finished_wals")
    target.execute(_FINISHED_DDL)
    write_delta(target, full_delta(view))
    rows = conn.execute(_FOLDED, (view.checkpoint,))
    while chunk := list(islice(rows, CHUNK)):
        delta = view.plan_rows(chunk)
        if commits:
            target.execute("BEGIN")
        write_delta(target, delta, view)
        finished.keep(delta)
        if commits:
            target.execute("COMMIT")
        view.commit(delta)
    target.execute("DROP TABLE temp.finished_wals")


def fold_differs(conn: sqlite3.Connection) -> bool:
    """The log's projection tables differ from the fold of its rows: behind it (events written
    without them, by hand) or damaged inside a row, which neither SQLite's integrity check nor
    the hash chain covers (a bit flip in T05). Read in the caller's transaction (one snapshot);
    raises what the fold raises for rows it cannot fold."""
    with closing(sqlite3.connect("", isolation_level=None)) as scratch:  # a temporary file
        scratch.execute("PRAGMA journal_mode=OFF")
        scratch.execute("PRAGMA synchronous=OFF")
        fold_tables(conn, scratch)
        return tables_differ_from(conn, scratch)


def tables_differ_from(conn: sqlite3.Connection, expected: sqlite3.Connection) -> bool:
    """The log's tables differ from `expected`'s, compared row by row in key order; which
    walsync wrote them (the summary's writer) is no fold of the log and is left out."""
    try:
        writer = conn.execute("SELECT json_extract(summary, '$.writer') FROM projection_head "
                              "WHERE id = 1").fetchone()
        if writer is not None and isinstance(writer[0], str) and writer[0] != WRITER:
            expected.execute("UPDATE projection_head SET summary = json_set(summary, '$.writer', ?)",
                             (writer[0],))
        return any(found != wanted for found, wanted in
                   zip_longest(projection_lines(conn), projection_lines(expected)))
    except sqlite3.OperationalError:  # a damaged row that no longer decodes (T05)
        return True
