"""The live view as the tables hold it: opening reads the live recordings and the summary the
store committed with the events (not the whole log), and a finished recording is read by id
when asked for (its stream folded, by the stream index)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any, Final

import orjson

from walsync.adapters.store.errors import is_undecodable
from walsync.adapters.store.readonly.job_rows import FOLDED_JOB, FOLDED_RECORDING
from walsync.adapters.store.readonly.queries import one_snapshot
from walsync.adapters.store.readonly.status_tables import rows_in_order
from walsync.adapters.store.schema import of_types
from walsync.adapters.store.segments.anchors import carried_state, carried_wal, is_archived
from walsync.core.wal import Wal
from walsync.projections.snapshot import view_from_snapshot, wal_of
from walsync.projections.view import Finished, Projection
from walsync.projections.wal_rows import WalRow

__all__ = ["SNAPSHOT_ERRORS", "StoredRecordings", "read_live_view"]

# What decoding a damaged snapshot row raises (bad JSON, a missing or mistyped field).
SNAPSHOT_ERRORS: Final = (ValueError, KeyError, TypeError, AttributeError)
_LAST_CARRIED: Final = f"SELECT max(seq) FROM events WHERE {of_types('StateCarried')}"  # noqa: S608 (fixed terms)


class StoredRecordings:
    """Finished recordings read from a log (the store's `Finished`), each through `using`: the
    store's connection under its lock, SQLite's errors typed (a closed store raises
    StoreError, a forked child's stand-in raises)."""

    def __init__(self, using: Callable[[], AbstractContextManager[sqlite3.Connection]]) -> None:
        self._using = using
        # The last cut's carried recordings by id, read once per cut (its StateCarried seq):
        # a recording with no row of its own in the live log is looked up there, and a new
        # registration is such a one (a cut may carry thousands: parsed once, not each time).
        self._carried: tuple[int, dict[str, dict[str, Any]]] = (0, {})

    def _carried_wal(self, conn: sqlite3.Connection, wal_id: str) -> Wal | None:
        """carried_wal, from the cut's recordings read once."""
        cut = conn.execute(_LAST_CARRIED).fetchone()[0]
        if cut is None:
            return None
        if self._carried[0] != cut:
            try:
                state = carried_state(conn)
            except ValueError:  # its parts not whole: read as the cut's rows hold it
                return carried_wal(conn, wal_id)
            self._carried = (int(cut), {str(w["wal_id"]): w for w in state.wals} if state else {})
        data = self._carried[1].get(wal_id)
        return wal_of(data) if data is not None else None

    def wal(self, wal_id: str, upto: int) -> Wal | None:
        """The recording as its events up to `upto` leave it: its stream folded alone (a
        recording's state depends only on its own events)."""
        with self._using() as conn:
            rows = conn.execute(FOLDED_RECORDING, (f"wal:{wal_id}", upto)).fetchall()
            # A compacted log: the stream continues from the state its last cut carried.
            # Or only its job's end came after the cut (stored on the job's stream): no row
            # of its own.
            base = self._carried_wal(conn, wal_id) if not rows or rows[0][2] != "WalRegistered" \
                else None
            if base is not None and base.job_id:  # carried waiting on a job: its end is later
                rows = sorted({*rows, *conn.execute(FOLDED_JOB, (f"job:{base.attempt_id}", upto))})
        if not rows:
            return None
        return Projection(wals={wal_id: base} if base else {}).plan_rows(
            rows, only=wal_id).wals.get(wal_id)

    def exists(self, wal_id: str, upto: int) -> bool:
        """Any event of its stream up to `upto` (the stream index: no row read)."""
        with self._using() as conn:
            return conn.execute("SELECT 1 FROM events WHERE stream = ? AND seq <= ? LIMIT 1",
                                (f"wal:{wal_id}", upto)).fetchone() is not None or (
                is_archived(conn, wal_id))  # archived by retention

    def row(self, wal_id: str) -> WalRow | None:
        """The committed status row."""
        with self._using() as conn:
            found = conn.execute("SELECT * FROM wal_rows WHERE wal_id = ?", (wal_id,)).fetchone()
        return WalRow(*found) if found else None

    def rows(self) -> list[WalRow]:
        """Every committed status row, in the fold's order."""
        with self._using() as conn:
            return rows_in_order(conn)


def read_live_view(conn: sqlite3.Connection, finished: Finished) -> Projection | None:
    """The live view as committed, or None when the log has none yet (written by an earlier
    walsync, or empty): then every event is folded after seq 0. SNAPSHOT_ERRORS when a
    snapshot row does not decode (damaged: bad JSON, or a text cell that is not UTF-8).

    Its three reads are one snapshot: another writer committing between them would pair a
    summary with recordings of a later seq, and folding the events after the summary's seq
    over them would miscount (seen in T06 under load: display counts short by as many)."""
    with one_snapshot(conn):
        return _read_live_view(conn, finished)


def _read_live_view(conn: sqlite3.Connection, finished: Finished) -> Projection | None:
    """The reads of `read_live_view`, inside the caller's transaction."""
    try:
        found = conn.execute("SELECT seq, summary FROM projection_head WHERE id = 1").fetchone()
        if found is None:
            return None
        wals = [wal_of(orjson.loads(state)) for (state,) in conn.execute(
            "SELECT state FROM live_wals")]
        rows = [WalRow(*r) for r in conn.execute(
            "SELECT w.* FROM live_wals AS l JOIN wal_rows AS w ON w.wal_id = l.wal_id")]
    except sqlite3.OperationalError as error:
        if not is_undecodable(error):
            raise
        raise ValueError(f"a projection row is damaged: {error}") from error
    return view_from_snapshot(orjson.loads(found[1]), int(found[0]), wals, rows, finished)
