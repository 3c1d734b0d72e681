"""The view as of a retention cut, folded the way the store folds: only the recordings that
can still move in memory, a finished one read from its stream when an event moves it, in
chunks of rows; so a compaction's memory follows the live recordings, not the history it
moves. And, for a recording the cut carries, its state and status row at the cut."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from contextlib import nullcontext
from typing import Final

import orjson

from walsync.adapters.store.readonly.job_rows import FOLDED_JOB, FOLDED_RECORDING
from walsync.adapters.store.readonly.live_view import StoredRecordings
from walsync.adapters.store.records import SELECT_FOLDED
from walsync.adapters.store.schema import of_types
from walsync.adapters.store.segments.anchors import carried_state, carried_wal
from walsync.core.wal import Wal
from walsync.projections.carried import view_from_carried
from walsync.projections.view import DEFAULT_RETRY_BUDGET, Projection
from walsync.projections.wal_rows import WalRow

__all__ = ["carried_at_cut", "view_at_cut"]

_CHUNK: Final = 10_000  # rows folded per delta: a delta holds every recording it touched
_FOLDED: Final = f"{SELECT_FOLDED} WHERE seq > ? AND seq <= ? ORDER BY seq"
_POLICY_BY: Final = (f"SELECT data FROM events WHERE {of_types('PolicyApplied')} AND seq <= ? "  # noqa: S608 (fixed terms)
                     "ORDER BY seq DESC LIMIT 1")


def view_at_cut(conn: sqlite3.Connection, last: int) -> Projection:
    """The live log's view as of seq `last`: from the view its last cut carried (or seq 0),
    the rows after it folded chunk by chunk; finished recordings are left to the log."""
    carried = carried_state(conn)
    view = view_from_carried(carried) if carried is not None else Projection()
    view.finished = StoredRecordings(lambda: nullcontext(conn))
    cursor = conn.execute(_FOLDED, (view.checkpoint, last))
    while chunk := cursor.fetchmany(_CHUNK):
        view.commit(view.plan_rows(chunk))
    return view


def carried_at_cut(conn: sqlite3.Connection, view: Projection,
                   wal_ids: Iterable[str]) -> tuple[dict[str, Wal], dict[str, WalRow]]:
    """The state and status row (none when deleted) at the view's cut of each recording
    named that existed then: from the view when it holds it, else from its stream."""
    wals: dict[str, Wal] = {}
    rows: dict[str, WalRow] = {}
    for wal_id in wal_ids:
        wal = view.wals.get(wal_id)
        row = view.rows.get(wal_id)
        if wal is None:
            wal, row = _from_stream(conn, wal_id, view)
        if wal is None:
            continue  # registered after the cut
        wals[wal_id] = wal
        if row is not None:
            rows[wal_id] = row
    return wals, rows


def _from_stream(conn: sqlite3.Connection, wal_id: str,
                 view: Projection) -> tuple[Wal | None, WalRow | None]:
    """A finished recording's state and row at the cut, its stream folded alone (from the
    state the last cut carried, when it did) under the retry budget in force at its last
    event, as the whole fold built its row."""
    found = conn.execute(FOLDED_RECORDING, (f"wal:{wal_id}", view.checkpoint)).fetchall()
    base = carried_wal(conn, wal_id) if not found or found[0][2] != "WalRegistered" else None
    if base is not None and base.job_id:  # carried waiting on a job: its end is later
        found = sorted({*found, *conn.execute(FOLDED_JOB, (f"job:{base.attempt_id}",
                                                           view.checkpoint))})
    if not found:
        return None, None
    alone = Projection(wals={wal_id: base} if base is not None else {},
                       retry_budget=_budget_at(conn, int(found[-1][0])))
    delta = alone.plan_rows(found, only=wal_id)
    return delta.wals.get(wal_id), delta.rows.get(wal_id)


def _budget_at(conn: sqlite3.Connection, seq: int) -> int:
    """The retry budget in force at `seq`: the last policy applied before it in the live log,
    else as the last cut carried it, else the default."""
    found = conn.execute(_POLICY_BY, (seq,)).fetchone()
    if found is not None:
        budget = orjson.loads(found[0]).get("rules", {}).get("retry_budget", DEFAULT_RETRY_BUDGET)
    else:
        carried = carried_state(conn)
        budget = carried.summary.get("retry_budget", DEFAULT_RETRY_BUDGET) if carried else (
            DEFAULT_RETRY_BUDGET)
    return budget if isinstance(budget, int) else DEFAULT_RETRY_BUDGET
