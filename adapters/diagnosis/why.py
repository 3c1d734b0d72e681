"""`why`, `timeline` and time travel: a recording's explanation or its steps, or every
projection, as of a cut of the log (read-only)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import closing
from itertools import chain
from pathlib import Path
from typing import Final, NamedTuple

from walsync.adapters.ports import StoredEvent
from walsync.adapters.store.readonly.job_rows import as_member_rows, job_streams
from walsync.adapters.store.readonly.queries import (
    Cut,
    connect_readonly,
    explanation_rows,
    in_recorded_order,
    read_log,
    recording_rows,
    rows_upto,
)
from walsync.adapters.store.readonly.status_tables import stallable_wal_ids
from walsync.adapters.store.readonly.unreadable import Unreadable
from walsync.adapters.store.segments.anchors import carried_state, carried_wal
from walsync.adapters.store.segments.history import needs_segments, segment_history
from walsync.adapters.store.segments.travel import history_cut, log_of, sealed_rows
from walsync.core.errors import UnknownWal
from walsync.core.events import GateEvent, LogSalvaged, PolicyApplied, UploadsHeld, WalEvent
from walsync.core.serde import format_time, parse_time
from walsync.core.states import NEW, next_state
from walsync.projections.carried import view_from_carried
from walsync.projections.sentences import sentence
from walsync.projections.view import Projection
from walsync.projections.why import WhyReport, explain

__all__ = ["Step", "explain_all", "explain_wal", "projection_at", "projection_from", "timeline"]

# Recordings explained per read at the head: their events decoded at once (a stalled one
# may hold hundreds), then let go before the next batch.
_BATCH: Final = 64


class Step(NamedTuple):
    """One event of a recording's stream: when, where in the log, the state change, in words."""

    seq: int
    at: str
    before: str
    after: str
    sentence: str


def _readable(rows: Iterator[StoredEvent], unreadable: Unreadable | None) -> Iterator[StoredEvent]:
    """Without a collector a row this code cannot read raises LogFromNewerVersion when decoded;
    with one (read-only diagnosis) it is left out of the fold and reported."""
    return rows if unreadable is None else unreadable.known(rows)


def _explain(conn: sqlite3.Connection, wal_id: str, cut: Cut,
             unreadable: Unreadable | None, log: Path) -> WhyReport:
    earlier = needs_segments(conn, wal_id)  # archived, or carried across a cut: its start is there
    carried = carried_wal(conn, wal_id) if earlier else None
    rows = list(_readable(iter(recording_rows(
        conn, cut.seq, wal_id, whole=earlier,
        carried_job=carried.attempt_id if carried is not None and carried.job_id else None)),
        unreadable))
    if earlier:
        rows = segment_history(log, conn, [wal_id], cut.seq) + rows
    return _explain_rows(wal_id, rows, cut)


def _explain_rows(wal_id: str, rows: list[StoredEvent], cut: Cut) -> WhyReport:
    stream = f"wal:{wal_id}"
    wal_events = [(r.seq, e) for r in rows if r.stream == stream
                  for e in [r.event] if isinstance(e, WalEvent)]
    if not wal_events:
        raise UnknownWal(wal_id)
    gate = [(r.seq, e) for r in rows if r.stream == "gate" for e in [r.event]
            if isinstance(e, GateEvent)]
    policies = [(r.seq, e) for r in rows if r.type == "PolicyApplied" for e in [r.event]
                if isinstance(e, PolicyApplied)]
    held = [(r.seq, e) for r in rows if r.type == "UploadsHeld" for e in [r.event]
            if isinstance(e, UploadsHeld)]
    salvages = [(r.seq, e) for r in rows if r.type == "LogSalvaged" for e in [r.event]
                if isinstance(e, LogSalvaged)]
    return explain(wal_id, wal_events, gate, policies, as_of=cut.moment, cut_note=cut.note,
                   held_events=held, salvages=salvages)


def explain_wal(path: str | Path, wal_id: str, *, at: str | None = None,
                seq: int | None = None, unreadable: Unreadable | None = None) -> WhyReport:
    """`walsync why WAL_ID`: the recording's explanation as of the cut."""
    with closing(connect_readonly(path)) as conn:
        return _explain(conn, wal_id, history_cut(conn, at=at, seq=seq), unreadable, Path(path))


def explain_all(path: str | Path, *, at: str | None = None, seq: int | None = None,
                unreadable: Unreadable | None = None) -> Iterator[WhyReport]:
    """`walsync why --all`: every recording that is stalled as of the cut. At the log's head
    only the recordings whose committed status row can be stalled are read (one in a state
    `why` never calls stalled is not: synced, uploading; a deleted one has no row), so the cost
    follows the recordings still moving, not the history (issue 17), and a batch of them at a
    time, in the order the log met them: a year's stalled recordings held over a million
    events, read at once (3 GB)."""
    with closing(connect_readonly(path)) as conn:
        conn.execute("BEGIN")  # the cut, the rows' states and the events in one snapshot
        try:
            cut = history_cut(conn, at=at, seq=seq)
            live = stallable_wal_ids(conn) if at is None and seq is None else None
            if live is not None and carried_state(conn) is None:
                ordered = in_recorded_order(conn, cut.seq, live)
                for start in range(0, len(ordered), _BATCH):
                    yield from _stalled(list(_readable(explanation_rows(
                        conn, cut.seq, ordered[start:start + _BATCH]), unreadable)), cut)
                return
            rows = list(_readable(explanation_rows(conn, cut.seq, live), unreadable))
            if carried_state(conn) is not None:  # a compacted log: the segments' part first
                rows = segment_history(Path(path), conn, live, cut.seq) + rows
        finally:
            conn.execute("COMMIT")
    yield from _stalled(rows, cut)


def _stalled(rows: list[StoredEvent], cut: Cut) -> Iterator[WhyReport]:
    """The stalled ones among the recordings whose streams `rows` hold (with the shared rows),
    in the order the rows meet them."""
    shared = [r for r in rows if not r.stream.startswith("wal:")]
    by_wal: dict[str, list[StoredEvent]] = {}
    for r in rows:
        if r.stream.startswith("wal:"):
            by_wal.setdefault(r.stream[4:], []).append(r)
    for wal_id, own in by_wal.items():
        report = _explain_rows(wal_id, sorted([*own, *shared], key=lambda r: r.seq), cut)
        if report.stalled:
            yield report


def projection_at(path: str | Path, *, at: str | None = None, seq: int | None = None,
                  unreadable: Unreadable | None = None,
                  whole: bool = False) -> tuple[Projection, Cut]:
    """Every projection as it was at the cut, folded from the log."""
    with closing(connect_readonly(path)) as conn:
        return projection_from(conn, at=at, seq=seq, unreadable=unreadable, whole=whole)


def projection_from(conn: sqlite3.Connection, *, at: str | None = None, seq: int | None = None,
                    unreadable: Unreadable | None = None,
                    whole: bool = False) -> tuple[Projection, Cut]:
    """The same over an open (read-only) connection, e.g. a checked shared log's. A compacted
    log's fold starts from the view its last cut carried, unless the cut lies before it or
    `whole` asks for every recording, archived ones too: then from seq 1, through the sealed
    segments."""
    cut = history_cut(conn, at=at, seq=seq)
    carried = carried_state(conn)
    if carried is not None and (whole or cut.seq <= carried.cut_seq):
        projection = Projection()
        projection.apply((r.seq, r.event) for r in sealed_rows(log_of(conn), conn, cut.seq))
    else:
        projection = view_from_carried(carried) if carried is not None else Projection()
    projection.apply((r.seq, r.event) for r in _readable(rows_upto(conn, cut.seq), unreadable))
    return projection, cut


def _segment_part(path: Path, wal_id: str, at: str | None,
                  seq: int | None) -> list[StoredEvent]:
    """The recording's own rows that lie in sealed segments (archived, or carried across a
    cut), up to the cut; none for a log never compacted."""
    with closing(connect_readonly(path)) as conn:
        if not needs_segments(conn, wal_id):
            return []
        found = segment_history(path, conn, [wal_id], seq if seq is not None else 2**63 - 1)
    until = format_time(parse_time(at)) if at is not None else None
    return [row for row in found if row.stream == f"wal:{wal_id}"
            and (until is None or row.at <= until)]


def timeline(path: str | Path, wal_id: str, *, at: str | None = None,
             seq: int | None = None) -> list[Step]:
    """`walsync timeline WAL_ID`: every event of the recording up to the cut, with the state it
    moved the recording from and to; UnknownWal when it has none."""
    state, steps = NEW, []
    older = _segment_part(Path(path), wal_id, at, seq)
    live = list(read_log(path, wal_id=wal_id, until=at, to_seq=seq))
    # A job it was accepted into before a cut may end after it (its row in the live log).
    sealed_jobs = job_streams(older)
    if sealed_jobs:
        ends = as_member_rows(read_log(path, stream=sealed_jobs, until=at, to_seq=seq),
                              {wal_id})
        live = sorted({row.seq: row for row in [*live, *ends]}.values(), key=lambda r: r.seq)
    for row in chain(older, live):
        event = row.event
        after = next_state(state, getattr(event, "trigger", "")) or state
        steps.append(Step(seq=row.seq, at=row.at, before=state, after=after,
                          sentence=sentence(event)))
        state = after
    if not steps:
        raise UnknownWal(wal_id)
    return steps
