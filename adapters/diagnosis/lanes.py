"""A log folded into what the report draws: per recording, its display-state segments and its
request and job markers; for the gate, a band per cooldown with its reason and how it ended."""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from contextlib import closing
from datetime import datetime
from itertools import chain
from pathlib import Path
from typing import Final

from attrs import frozen

from walsync.adapters.diagnosis.svg import Band, Lane, Marker, Segment
from walsync.adapters.ports import StoredEvent
from walsync.adapters.store.readonly.queries import connect_readonly, read_log
from walsync.adapters.store.segments.anchors import carried_state
from walsync.adapters.store.segments.history import segment_history
from walsync.core.display import display_state
from walsync.core.errors import IllegalTransition
from walsync.core.events import (
    BatchJobCompleted,
    CooldownCleared,
    CooldownExpired,
    CooldownStarted,
    GateEvent,
    JobCompleted,
    JobFailed,
    JobNotFound,
    PolicyApplied,
    UploadAccepted,
    UploadFailed,
    UploadOutcomeUnknown,
    UploadRateLimited,
    UploadsHeld,
    UploadStarted,
    UploadSynced,
    WalEvent,
)
from walsync.core.wal import Wal, evolve_wal
from walsync.projections.sentences import time_text

__all__ = ["LogEvents", "bands_of", "events_of", "lane_of", "read_events"]

_REASON_LABEL: Final = {"rateLimit": "fair use", "backendBusy": "backend busy", "auth": "sign in"}


@frozen(kw_only=True)
class LogEvents:
    """A log's events by recording, the gate's and the policies', and the span they cover."""

    wal_events: dict[str, list[tuple[int, WalEvent]]]
    gate: list[tuple[int, GateEvent]]
    policies: list[tuple[int, PolicyApplied]]
    held: list[tuple[int, UploadsHeld]]  # passes a pause held
    t0: float
    t1: float
    last_moment: datetime | None


def _segments(db_path: Path) -> list[StoredEvent]:
    """A compacted log's history in its sealed segments (what the report draws), read first."""
    with closing(connect_readonly(db_path)) as conn:
        if carried_state(conn) is None:
            return []
        return segment_history(db_path, conn, None, 2**63 - 1)


def read_events(db_path: str | Path) -> LogEvents:
    """Read the log once, sorting its events by who they concern."""
    return events_of(chain(_segments(Path(db_path)), read_log(db_path)))


def events_of(rows: Iterable[StoredEvent], first: datetime | None = None,
              last: datetime | None = None) -> LogEvents:
    """The rows' events sorted by who they concern, over the span from `first` to `last`
    (when not given, the first and last of the rows' own events)."""
    wal_events: dict[str, list[tuple[int, WalEvent]]] = {}
    gate: list[tuple[int, GateEvent]] = []
    policies: list[tuple[int, PolicyApplied]] = []
    held: list[tuple[int, UploadsHeld]] = []
    seen_first: datetime | None = None
    seen_last: datetime | None = None
    for row in rows:
        event = row.event
        seen_first, seen_last = seen_first or event.at, event.at
        if isinstance(event, WalEvent):
            wal_events.setdefault(event.wal_id, []).append((row.seq, event))
        elif isinstance(event, BatchJobCompleted):  # a job's end, stored once for its members
            for member in event.per_member():
                wal_events.setdefault(member.wal_id, []).append((row.seq, member))
        elif isinstance(event, GateEvent):
            gate.append((row.seq, event))
        elif isinstance(event, PolicyApplied):
            policies.append((row.seq, event))
        elif isinstance(event, UploadsHeld):
            held.append((row.seq, event))
    first = first if first is not None else seen_first
    last = last if last is not None else seen_last
    t0 = first.timestamp() if first else 0.0
    return LogEvents(wal_events=wal_events, gate=gate, policies=policies, held=held, t0=t0,
                     t1=max(last.timestamp() if last else t0, t0 + 60.0), last_moment=last)


def _budget_at(log: LogEvents, seqs: list[int], seq: int) -> int:
    index = bisect.bisect_right(seqs, seq)
    return int(log.policies[index - 1][1].rules.get("retry_budget", 3)) if index else 3


def _answer(event: WalEvent) -> tuple[str, str] | None:
    if isinstance(event, UploadAccepted):
        return "accepted", f"{event.http_status} accepted (job {event.job_id})"
    if isinstance(event, UploadSynced):
        return "synced", f"{event.http_status} synced"
    if isinstance(event, UploadRateLimited):
        return "rate_limited", (f"{event.http_status} rate limited (Retry-After "
                                f"{event.retry_after_raw or 'none'}; retry count {event.retry_count})")
    if isinstance(event, UploadFailed):
        status = event.http_status if event.http_status is not None else event.kind
        return "failed", f"{status} {event.kind}: {event.message} (retry count {event.retry_count})"
    if isinstance(event, UploadOutcomeUnknown):
        return "unknown", f"outcome unknown: {event.detail}"
    return None


def _job(event: WalEvent) -> Marker | None:
    at = event.at.timestamp()
    if isinstance(event, JobCompleted):
        return Marker(at=at, kind="job", outcome="job_completed", label=f"job {event.job_id} completed")
    if isinstance(event, JobFailed):
        return Marker(at=at, kind="job", outcome="job_failed",
                      label=f"job {event.job_id} {event.server_status} ({event.classification}): "
                            f"{event.server_error or 'no error text'}")
    if isinstance(event, JobNotFound):
        return Marker(at=at, kind="job", outcome="job_not_found",
                      label=f"job {event.job_id} not found ({event.http_status})")
    return None


def lane_of(log: LogEvents, wal_id: str, summary: str,
            stall: tuple[float, float] | None) -> Lane:
    """Fold the recording's events into display-state segments and request/job markers."""
    policy_seqs = [s for s, _ in log.policies]
    segments: list[Segment] = []
    requests: dict[str, tuple[float, str, str]] = {}
    jobs: list[Marker] = []
    wal: Wal | None = None
    state, since = "", 0.0
    for seq, event in log.wal_events[wal_id]:
        try:
            wal = evolve_wal(wal, event)
        except IllegalTransition:
            continue  # a corrupt stream still gets drawn from its legal prefix
        at = event.at.timestamp()
        now = "" if wal.status == "deleted" else display_state(
            wal.status, wal.retry_count, _budget_at(log, policy_seqs, seq))
        if now != state:
            if state:
                segments.append(Segment(start=since, end=at, state=state))
            state, since = now, at
        if isinstance(event, UploadStarted):
            requests[event.attempt_id] = (at, "pending", f"upload attempt ({event.path}) at "
                                          f"{time_text(event.at)}")
        elif (answer := _answer(event)) is not None and (req := requests.get(
                getattr(event, "attempt_id", ""))) is not None:
            requests[getattr(event, "attempt_id", "")] = (
                req[0], answer[0], f"{req[2]} → {answer[1]} at {time_text(event.at)}")
        elif (job := _job(event)) is not None:
            jobs.append(job)
    if state:
        segments.append(Segment(start=since, end=log.t1, state=state))
    markers = [Marker(at=at, kind="request", outcome=outcome, label=label)
               for at, outcome, label in requests.values()]
    return Lane(wal_id=wal_id, segments=tuple(segments), markers=(*markers, *jobs),
                summary=summary, stall=stall)


def bands_of(log: LogEvents) -> list[Band]:
    """Each CooldownStarted until the next Cleared/Expired/Started (else its deadline)."""
    bands: list[Band] = []
    events = [e for _, e in log.gate if isinstance(e, CooldownStarted | CooldownCleared |
                                                   CooldownExpired)]
    for index, event in enumerate(events):
        if not isinstance(event, CooldownStarted):
            continue
        after = events[index + 1] if index + 1 < len(events) else None
        end = after.at.timestamp() if after else min(event.until.timestamp(), log.t1)
        label = _REASON_LABEL.get(event.reason, event.reason)
        cause = f", set by {event.cause_wal_id}" if event.cause_wal_id else ""
        ended = {CooldownCleared: "cleared", CooldownExpired: "expired",
                 CooldownStarted: "replaced"}.get(type(after), "still open") if after else "still open"
        bands.append(Band(start=event.at.timestamp(), end=max(end, event.at.timestamp()),
                          reason=event.reason, label=label,
                          title=f"{label} cooldown from {time_text(event.at)} until "
                                f"{time_text(event.until)} ({event.seconds} s{cause}); {ended}"))
    return bands
