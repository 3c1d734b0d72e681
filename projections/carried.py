"""The live view carried across a retention cut (`StateCarried`), and the view it starts a fold
of the live log from. Pure: the store decides what is cut and where the rest is kept."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Final

from attrs import evolve

from walsync.core.events import StateCarried
from walsync.core.wal import Wal
from walsync.projections.snapshot import summary_data, view_from_snapshot, wal_data, wal_of
from walsync.projections.view import Projection
from walsync.projections.wal_rows import WalRow

__all__ = ["CARRIED_PER_PART", "carry_state", "joined", "view_from_carried"]

# Recordings one StateCarried holds at most: about 420 bytes each, so a part stays near 420 KB,
# well within an import's line and value limits and a push's body.
CARRIED_PER_PART: Final = 1_000


def carry_state(view: Projection, wals: Mapping[str, Wal], rows: Mapping[str, WalRow], *,
                versions: Mapping[str, int], archived: int, at: datetime) -> list[StateCarried]:
    """The events that carry `view` (as of its checkpoint: the cut) into the live log: its
    summary, and the state and status row (none: deleted) at the cut of each recording it
    carries on, at most CARRIED_PER_PART recordings an event; `versions` are the other
    streams' versions at the cut (gate, engine)."""
    kept = sorted(wals)
    chunks = [kept[start:start + CARRIED_PER_PART]
              for start in range(0, len(kept), CARRIED_PER_PART)] or [[]]
    summary = summary_data(view)
    return [StateCarried(
        at=at, cut_seq=view.checkpoint, summary=summary,
        wals=tuple(wal_data(wals[wal_id]) for wal_id in chunk),
        rows=tuple(rows[wal_id]._asdict() for wal_id in chunk if wal_id in rows),
        versions=dict(versions), archived=archived, part=part, parts=len(chunks))
        for part, chunk in enumerate(chunks)]


def joined(parts: Sequence[StateCarried]) -> StateCarried:
    """The parts of one cut's carried view as one event (their recordings in order).
    ValueError when they are not the whole of one cut's parts, in order."""
    last = parts[-1]
    if [(p.part, p.parts, p.cut_seq) for p in parts] != [
            (i, len(parts), last.cut_seq) for i in range(len(parts))]:
        raise ValueError(f"the carried view of the cut at seq {last.cut_seq} is not whole "
                         f"(parts {[p.part for p in parts]} of {last.parts})")
    if len(parts) == 1:
        return last
    return evolve(last, wals=[w for p in parts for w in p.wals],
                  rows=[r for p in parts for r in p.rows], part=0, parts=1)


def view_from_carried(carried: StateCarried) -> Projection:
    """The view as of the cut, holding every recording it carried (none of the archived ones):
    the start of a fold of the live log, whose first row is the one after `cut_seq`.
    KeyError, TypeError or ValueError when the event's data is not what `carry_state` wrote."""
    rows = [WalRow(**row) for row in carried.rows]
    return view_from_snapshot(carried.summary, carried.cut_seq,
                              [wal_of(dict(data)) for data in carried.wals], rows, None)
