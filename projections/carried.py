"""The live view carried across a retention cut (`StateCarried`), and the view it starts a fold
of the live log from. Pure: the store decides what is cut and where the rest is kept."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from walsync.core.events import StateCarried
from walsync.core.wal import Wal
from walsync.projections.snapshot import summary_data, view_from_snapshot, wal_data, wal_of
from walsync.projections.view import Projection
from walsync.projections.wal_rows import WalRow

__all__ = ["carry_state", "view_from_carried"]


def carry_state(view: Projection, wals: Mapping[str, Wal], rows: Mapping[str, WalRow], *,
                versions: Mapping[str, int], archived: int, at: datetime) -> StateCarried:
    """The event that carries `view` (as of its checkpoint: the cut) into the live log: its
    summary, and the state and status row (none: deleted) at the cut of each recording it
    carries on; `versions` are the other streams' versions at the cut (gate, engine)."""
    kept = sorted(wals)
    return StateCarried(
        at=at, cut_seq=view.checkpoint, summary=summary_data(view),
        wals=tuple(wal_data(wals[wal_id]) for wal_id in kept),
        rows=tuple(rows[wal_id]._asdict() for wal_id in kept if wal_id in rows),
        versions=dict(versions), archived=archived)


def view_from_carried(carried: StateCarried) -> Projection:
    """The view as of the cut, holding every recording it carried (none of the archived ones):
    the start of a fold of the live log, whose first row is the one after `cut_seq`.
    KeyError, TypeError or ValueError when the event's data is not what `carry_state` wrote."""
    rows = [WalRow(**row) for row in carried.rows]
    return view_from_snapshot(carried.summary, carried.cut_seq,
                              [wal_of(dict(data)) for data in carried.wals], rows, None)
