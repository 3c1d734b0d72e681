"""One device's fleet view, folded from its events: status rows with their `why`, the gate, and
the hourly counts of 429s and cooldowns. Pure: the same events give the same view."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any, Final

from attrs import frozen

from walsync.adapters.ports import StoredEvent
from walsync.core.events import Event, GateEvent, PolicyApplied, WalEvent
from walsync.core.serde import format_time, parse_time
from walsync.projections.view import Projection
from walsync.projections.why import explain

__all__ = ["HOURLY_KINDS", "DeviceView", "WalLine", "fold_device", "hour_of", "hourly_counts"]

HOURLY_KINDS: Final = ("rate_limited_429", "cooldown_backend_busy", "cooldown_fair_use")


@frozen(kw_only=True)
class WalLine:
    """One recording of the device: its status row and the `why` of its stall."""

    wal_id: str
    state: str
    display: str
    retry_count: int
    reason: str
    stalled: bool
    since: str | None
    stalled_seconds: float | None
    summary: str
    why: dict[str, Any]


@frozen(kw_only=True)
class DeviceView:
    """Everything the fleet tables hold for one device, as of its last event."""

    seq: int
    as_of: str | None
    wals: tuple[WalLine, ...]
    limited: bool
    gate_reason: str | None
    gate_until: str | None
    gate_set_by_seq: int | None


def hour_of(at: str) -> str:
    """The UTC hour an event time falls in, e.g. 2026-05-20T08:00Z."""
    return at[:13] + ":00Z"


def hourly_counts(rows: Iterable[StoredEvent]) -> Counter[tuple[str, str]]:
    """(hour, kind) -> how many 429 answers and cooldowns (by their reason) the rows hold."""
    counts: Counter[tuple[str, str]] = Counter()
    for r in rows:
        if r.type == "UploadRateLimited":
            counts[(hour_of(r.at), "rate_limited_429")] += 1
        elif r.type == "CooldownStarted":
            reason = r.payload.get("reason")
            kind = "cooldown_backend_busy" if reason == "backendBusy" else "cooldown_fair_use"
            counts[(hour_of(r.at), kind)] += 1
    return counts


def fold_device(rows: Sequence[StoredEvent]) -> DeviceView:
    """Fold a device's whole log (seq order): the rows `walsync status` and `why --all` give."""
    events: list[tuple[int, Event]] = [(r.seq, r.event) for r in rows]
    projection = Projection()
    projection.apply(events)
    as_of = parse_time(rows[-1].at) if rows else None
    gate = [(s, e) for s, e in events if isinstance(e, GateEvent)]
    policies = [(s, e) for s, e in events if isinstance(e, PolicyApplied)]
    by_wal: dict[str, list[tuple[int, WalEvent]]] = {}
    for seq, event in events:
        if isinstance(event, WalEvent):
            by_wal.setdefault(event.wal_id, []).append((seq, event))
    lines = []
    for wal_id, row in sorted(projection.rows.items()):
        report = explain(wal_id, by_wal[wal_id], gate, policies, as_of=as_of)
        since = report.since if report.stalled else None
        lines.append(WalLine(
            wal_id=wal_id, state=row.state, display=row.display, retry_count=row.retry_count,
            reason=report.reason, stalled=report.stalled, since=since,
            stalled_seconds=(as_of - parse_time(since)).total_seconds() if since and as_of else None,
            summary=report.summary, why=report.to_json()))
    g = projection.gate
    return DeviceView(seq=projection.checkpoint, as_of=format_time(as_of) if as_of else None,
                      wals=tuple(lines), limited=g.gate.limited,
                      gate_reason=g.gate.reason if g.gate.limited else None,
                      gate_until=format_time(g.gate.until) if g.gate.limited and g.gate.until else None,
                      gate_set_by_seq=g.set_by_seq if g.gate.limited else None)

