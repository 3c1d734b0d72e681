"""`walsync report --html`: one self-contained HTML page of swimlanes, cooldowns and requests."""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from datetime import datetime
from html import escape
from pathlib import Path
from typing import Final

from attrs import frozen

from walsync.adapters.diagnosis.svg import Band, Lane, Marker, Segment, legend_html, render_svg
from walsync.adapters.store.readonly.queries import read_log
from walsync.core.display import display_state
from walsync.core.errors import IllegalTransition, UnknownWal
from walsync.core.events import (
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
    UploadStarted,
    UploadSynced,
    WalEvent,
)
from walsync.core.wal import Wal, evolve_wal
from walsync.projections.why import WhyReport, explain

__all__ = ["ALL_CAP", "STALLED_CAP", "ReportSummary", "build_report", "write_report"]

STALLED_CAP: Final = 50
ALL_CAP: Final = 300
_REASON_LABEL: Final = {"rateLimit": "fair use", "backendBusy": "backend busy"}
_CSS: Final = """
body{font:13px/1.4 system-ui,-apple-system,"Segoe UI",sans-serif;margin:16px;color:#222}
h1{font-size:20px;margin:0 0 4px}h2{font-size:16px;margin:18px 0 6px}
.meta{color:#555}.note{background:#fff6d6;border:1px solid #e8d48a;padding:6px 10px;margin:8px 0}
.legend{margin:8px 0;display:flex;flex-direction:column;gap:3px}
.key{display:inline-flex;align-items:center;gap:4px;margin-right:12px}
.chart-wrap{overflow-x:auto;border:1px solid #ddd}.chart text{font-size:11px;fill:#333}
.chart .lane-label{font-family:ui-monospace,Menlo,Consolas,monospace}
.chart .band-label{font-weight:600;fill:#333}.chart .lane:hover rect.seg{opacity:.8}
.why-item{border-top:1px solid #eee;padding:6px 0}.why-item h3{font-size:13px;margin:0;
font-family:ui-monospace,Menlo,Consolas,monospace}.why-item .reason{color:#555}
.why-item p{margin:2px 0}
"""


@frozen(kw_only=True)
class ReportSummary:
    """What the page shows: lanes, cooldown bands, request markers, and the notes on it."""

    out_path: str
    lanes: int
    cooldowns: int
    markers: int
    job_markers: int
    omitted: int
    notes: tuple[str, ...] = ()

    def to_json(self) -> dict[str, object]:
        """What `walsync report --json` prints."""
        return {"out": self.out_path, "lanes": self.lanes, "cooldowns": self.cooldowns,
                "requests": self.markers, "job_answers": self.job_markers,
                "omitted": self.omitted, "notes": list(self.notes)}

    def line(self) -> str:
        """One line for the CLI to print."""
        return (f"wrote {self.out_path}: {self.lanes} lane(s), {self.cooldowns} cooldown(s), "
                f"{self.markers} request(s)" + (f"; {self.omitted} left out" if self.omitted else ""))


@frozen(kw_only=True)
class _Log:
    wal_events: dict[str, list[tuple[int, WalEvent]]]
    gate: list[tuple[int, GateEvent]]
    policies: list[tuple[int, PolicyApplied]]
    t0: float
    t1: float
    last_moment: datetime | None


def _read(db_path: str | Path) -> _Log:
    wal_events: dict[str, list[tuple[int, WalEvent]]] = {}
    gate: list[tuple[int, GateEvent]] = []
    policies: list[tuple[int, PolicyApplied]] = []
    first: datetime | None = None
    last: datetime | None = None
    for row in read_log(db_path):
        event = row.event
        first, last = first or event.at, event.at
        if isinstance(event, WalEvent):
            wal_events.setdefault(event.wal_id, []).append((row.seq, event))
        elif isinstance(event, GateEvent):
            gate.append((row.seq, event))
        elif isinstance(event, PolicyApplied):
            policies.append((row.seq, event))
    t0 = first.timestamp() if first else 0.0
    return _Log(wal_events=wal_events, gate=gate, policies=policies, t0=t0,
                t1=max(last.timestamp() if last else t0, t0 + 60.0), last_moment=last)


def _explain(log: _Log, wal_id: str) -> WhyReport:
    """Exactly what `walsync why WAL_ID` says for the whole log."""
    return explain(wal_id, log.wal_events[wal_id], log.gate, log.policies, as_of=log.last_moment)


def _budget_at(log: _Log, seqs: list[int], seq: int) -> int:
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


def _lane(log: _Log, wal_id: str, summary: str) -> Lane:
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
                                          f"{event.at:%Y-%m-%d %H:%M:%S} UTC")
        elif (answer := _answer(event)) is not None and (req := requests.get(
                getattr(event, "attempt_id", ""))) is not None:
            requests[getattr(event, "attempt_id", "")] = (
                req[0], answer[0], f"{req[2]} → {answer[1]} at {event.at:%H:%M:%S}")
        elif (job := _job(event)) is not None:
            jobs.append(job)
    if state:
        segments.append(Segment(start=since, end=log.t1, state=state))
    markers = [Marker(at=at, kind="request", outcome=outcome, label=label)
               for at, outcome, label in requests.values()]
    return Lane(wal_id=wal_id, segments=tuple(segments), markers=(*markers, *jobs), summary=summary)


def _bands(log: _Log) -> list[Band]:
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
                          title=f"{label} cooldown from {event.at:%m-%d %H:%M:%S} until "
                                f"{event.until:%m-%d %H:%M:%S} UTC ({event.seconds} s{cause}); {ended}"))
    return bands


def _select(log: _Log, wal_ids: Sequence[str] | None, every: bool,
            ) -> tuple[list[str], dict[str, WhyReport], int, list[str]]:
    notes: list[str] = []
    if wal_ids:
        chosen = list(dict.fromkeys(wal_ids))
        for wal_id in chosen:
            if wal_id not in log.wal_events:
                raise UnknownWal(wal_id)
        return chosen, {w: _explain(log, w) for w in chosen}, 0, notes
    if every:
        everything = list(log.wal_events)
        chosen = everything[:ALL_CAP]
        if len(everything) > ALL_CAP:
            notes.append(f"Showing the first {ALL_CAP} of {len(everything)} recordings; "
                         f"{len(everything) - ALL_CAP} were left out (use --wal to pick others).")
        return chosen, {w: _explain(log, w) for w in chosen}, len(everything) - len(chosen), notes
    reports = {w: _explain(log, w) for w in log.wal_events}
    stalled = [w for w, r in reports.items() if r.stalled]
    chosen = stalled[:STALLED_CAP]
    notes.append(f"Showing the stalled recordings only: {len(chosen)} of {len(stalled)} stalled "
                 f"({len(reports)} recordings in the log). Use --all for every recording or --wal ID.")
    if len(stalled) > STALLED_CAP:
        notes.append(f"{len(stalled) - STALLED_CAP} stalled recordings were left out.")
    return chosen, {w: reports[w] for w in chosen}, len(stalled) - len(chosen), notes


def _why_html(index: int, report: WhyReport) -> str:
    return (f'<div class="why-item" id="why-{index}" data-wal="{escape(report.wal_id)}">'
            f'<h3>{escape(report.wal_id)}</h3><p class="reason">{escape(report.reason)} · state '
            f'{escape(report.display or report.state)}</p><p class="summary">{escape(report.summary)}'
            f'</p></div>')


def build_report(db_path: str | Path, *, wal_ids: Sequence[str] | None = None,
                 every: bool = False, out_path: str | Path = "") -> tuple[str, ReportSummary]:
    """The page's HTML and its summary; raises UnknownWal for a --wal id not in the log."""
    log = _read(db_path)
    chosen, reports, omitted, notes = _select(log, wal_ids, every)
    lanes = [_lane(log, w, reports[w].summary) for w in chosen]
    bands = _bands(log)
    requests = sum(1 for lane in lanes for m in lane.markers if m.kind == "request")
    jobs = sum(1 for lane in lanes for m in lane.markers if m.kind == "job")
    if not lanes:
        notes.append("No recording to show.")
    start = min((evs[0][1].at for evs in log.wal_events.values()), default=None)
    head = (f"<p class=\"meta\">Log <code>{escape(str(db_path))}</code> · "
            f"{escape(log.last_moment.strftime('%Y-%m-%d %H:%M:%S')) if log.last_moment else '-'} UTC "
            f"last event · first recording "
            f"{escape(start.strftime('%Y-%m-%d %H:%M:%S')) + ' UTC' if start else '-'} · "
            f"{len(lanes)} lane(s), {len(bands)} cooldown(s), {requests} request(s), "
            f"{jobs} server job answer(s)</p>")
    page = "".join([
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>walsync report – {escape(Path(db_path).name)}</title><style>{_CSS}</style>",
        "</head><body><h1>walsync report</h1>", head,
        *(f'<p class="note">{escape(n)}</p>' for n in notes), legend_html(),
        '<div class="chart-wrap">', render_svg(lanes, bands, log.t0, log.t1), "</div>",
        '<h2>Why</h2><div class="why">',
        *(_why_html(i, reports[w]) for i, w in enumerate(chosen)), "</div></body></html>\n"])
    summary = ReportSummary(out_path=str(out_path), lanes=len(lanes), cooldowns=len(bands),
                            markers=requests, job_markers=jobs, omitted=omitted, notes=tuple(notes))
    return page, summary


def write_report(db_path: str | Path, out_path: str | Path, *, wal_ids: list[str] | None = None,
                 every: bool = False) -> ReportSummary:
    """Write the self-contained HTML report to `out_path` and say what it shows."""
    page, summary = build_report(db_path, wal_ids=wal_ids, every=every, out_path=out_path)
    Path(out_path).write_text(page, encoding="utf-8")
    return summary
