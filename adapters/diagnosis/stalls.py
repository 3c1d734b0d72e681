"""Which recordings stalled at any time in a log, for how long, and why they were held then.

A stall runs from a recording's first setback (what `why` calls one: a 429, a failed upload, an
unknown outcome, an upload the gate skipped, a failed or lost job, a missing file) or the first
pass a pause held it for (`UploadsHeld`), whichever came first, until it was
synced or deleted, or until the end of the log. A recording still held at the end of the log
without a setback (say, waiting on its server job) stalls from where `why` says it began. Its
explanation is `why`'s as of the last event before the stall ended: the reason it was held,
not the `not_stalled` it ended with.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from attrs import frozen

from walsync.core.events import (
    GateEvent,
    JobCompleted,
    PolicyApplied,
    UploadsHeld,
    UploadSynced,
    WalDeleted,
    WalEvent,
)
from walsync.core.serde import parse_time
from walsync.projections.why import SETBACKS, WhyReport, explain, held_passes

__all__ = ["Held", "Stall", "find_stalls", "why_held"]

_RESOLVED = (UploadSynced, JobCompleted, WalDeleted)


@frozen(kw_only=True)
class Stall:
    """One recording's stall: from `start` to `end` (epoch seconds) and the events that began and
    ended it (`end_seq` None while it still holds at the end of the log)."""

    wal_id: str
    start: float
    end: float
    start_seq: int
    end_seq: int | None
    ended_by: str | None

    @property
    def seconds(self) -> float:
        """How long it lasted."""
        return self.end - self.start


@frozen(kw_only=True)
class Held:
    """Why a stall lasted: seconds spent under each `why` reason (the longest first), and the
    explanation from the longest stretch under the reason that held it longest."""

    reasons: tuple[tuple[str, float], ...]
    why: WhyReport


def _resolved(events: Sequence[tuple[int, WalEvent]], after_seq: int) -> tuple[int, WalEvent] | None:
    return next(((s, e) for s, e in events if s > after_seq and isinstance(e, _RESOLVED)), None)


def _stall_of(wal_id: str, events: Sequence[tuple[int, WalEvent]],
              gate: Sequence[tuple[int, GateEvent]], policies: Sequence[tuple[int, PolicyApplied]],
              log_end: datetime, held: Sequence[tuple[int, UploadsHeld]]) -> Stall | None:
    holds = held_passes(wal_id, events, held)
    starts = [found for found in (next(((s, e) for s, e in events if isinstance(e, SETBACKS)),
                                       None), holds[0] if holds else None) if found is not None]
    first = min(starts, key=lambda found: found[0]) if starts else None
    if first is None:
        if isinstance(events[-1][1], _RESOLVED):
            return None
        report = explain(wal_id, events, gate, policies, as_of=log_end, held_events=holds)
        if not report.stalled or report.since is None:
            return None
        since = parse_time(report.since)
        start_seq = next((s for s, e in events if e.at >= since), events[0][0])
        return Stall(wal_id=wal_id, start=since.timestamp(), end=log_end.timestamp(),
                     start_seq=start_seq, end_seq=None, ended_by=None)
    start_seq, start_event = first
    resolved = _resolved(events, start_seq)
    if resolved is None:
        return Stall(wal_id=wal_id, start=start_event.at.timestamp(), end=log_end.timestamp(),
                     start_seq=start_seq, end_seq=None, ended_by=None)
    end_seq, end_event = resolved
    return Stall(wal_id=wal_id, start=start_event.at.timestamp(), end=end_event.at.timestamp(),
                 start_seq=start_seq, end_seq=end_seq, ended_by=type(end_event).__name__)


def find_stalls(wal_events: Mapping[str, Sequence[tuple[int, WalEvent]]],
                gate: Sequence[tuple[int, GateEvent]],
                policies: Sequence[tuple[int, PolicyApplied]],
                log_end: datetime, held: Sequence[tuple[int, UploadsHeld]] = ()) -> list[Stall]:
    """Every recording that stalled at any time, the longest stall first (then the earliest)."""
    stalls = [stall for wal_id, events in wal_events.items() if events
              for stall in [_stall_of(wal_id, events, gate, policies, log_end, held)] if stall]
    return sorted(stalls, key=lambda s: (-s.seconds, s.start, s.wal_id))


def why_held(stall: Stall, events: Sequence[tuple[int, WalEvent]],
             gate: Sequence[tuple[int, GateEvent]],
             policies: Sequence[tuple[int, PolicyApplied]],
             held: Sequence[tuple[int, UploadsHeld]] = ()) -> Held:
    """`why` at every change during the stall (each of the recording's events and each gate
    change), each holding until the next: the time spent under each reason, and the explanation
    that held longest."""
    last = stall.end_seq if stall.end_seq is not None else float("inf")
    holds = held_passes(stall.wal_id, events, held)
    # The stall's start is a cut of its own: it may be a held pass (no event of the recording's
    # nor a gate change may follow it before the log ends).
    cuts = sorted({stall.start_seq}
                  | {s for s, _ in [*events, *gate, *holds] if stall.start_seq <= s < last})
    moments = {s: e.at for s, e in [*events, *gate, *holds] if s in cuts}
    totals: dict[str, float] = {}
    longest: dict[str, tuple[float, WhyReport]] = {}
    for index, cut in enumerate(cuts):
        until = moments[cuts[index + 1]].timestamp() if index + 1 < len(cuts) else stall.end
        report = explain(stall.wal_id, [(s, e) for s, e in events if s <= cut],
                         [(s, e) for s, e in gate if s <= cut],
                         [(s, p) for s, p in policies if s <= cut], as_of=moments[cut],
                         held_events=[(s, h) for s, h in held if s <= cut])
        seconds = max(until - moments[cut].timestamp(), 0.0)
        totals[report.reason] = totals.get(report.reason, 0.0) + seconds
        if seconds >= longest.get(report.reason, (-1.0, report))[0]:
            longest[report.reason] = (seconds, report)
    reasons = tuple(sorted(totals.items(), key=lambda item: -item[1]))
    return Held(reasons=reasons, why=longest[reasons[0][0]][1])
