"""`walsync report --html`: one self-contained HTML page that tells a log's story at a glance.

By default: the recordings that stalled at any time, the longest stall first (a dozen lanes, then
a "+N more" row), on a time axis fitted to their stalls, with the cooldown bands of that window,
a marker for each request and job answer, and each lane's `why` (as it stood while it was held)
beside it. `--all`: the stalled recordings first, then the rest, in pages (at most ALL_SHOWN
lanes; the page counts the others). Zoom by dragging across a lane; no server and no external
asset (inline CSS, SVG and one script). The log is read one recording at a time
(report_scan.py): only the drawn recordings' events are held.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from html import escape
from pathlib import Path
from typing import Any

from attrs import frozen

from walsync.adapters.diagnosis.lanes import LogEvents, bands_of, lane_of
from walsync.adapters.diagnosis.report_page import ALL_SHOWN, CSS, LANES_SHOWN, PAGE_SIZE, SCRIPT
from walsync.adapters.diagnosis.report_scan import Scan, scan, shared_events, with_streams
from walsync.adapters.diagnosis.stalls import Held, Stall, find_stalls, why_held
from walsync.adapters.diagnosis.svg import (
    PLOT_W,
    Band,
    Lane,
    Window,
    axis_svg,
    gate_svg,
    lane_svg,
    legend_html,
)
from walsync.adapters.store.readonly.report_reads import recording_count
from walsync.core.errors import UnknownWal
from walsync.projections.sentences import time_text
from walsync.projections.why import REASONS, WhyReport, explain

__all__ = ["LANES_SHOWN", "PAGE_SIZE", "ReportSummary", "build_report", "write_report"]



@frozen(kw_only=True)
class ReportSummary:
    """What the page shows: lanes, the stalls among them, bands, markers, and its notes."""

    out_path: str
    lanes: int
    stalled: int
    cooldowns: int
    markers: int
    job_markers: int
    omitted: int
    window: tuple[str, str]
    notes: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """What `walsync report --json` prints."""
        return {"out": self.out_path, "lanes": self.lanes, "stalled": self.stalled,
                "cooldowns": self.cooldowns, "requests": self.markers,
                "job_answers": self.job_markers, "omitted": self.omitted,
                "window": list(self.window), "notes": list(self.notes)}

    def line(self) -> str:
        """One line for the CLI to print."""
        return (f"wrote {self.out_path}: {self.lanes} lane(s) ({self.stalled} stalled at some "
                f"time), {self.cooldowns} cooldown(s), {self.markers} request(s)"
                + (f"; {self.omitted} more not shown" if self.omitted else ""))


def _explain(log: LogEvents, wal_id: str) -> WhyReport:
    """Exactly what `walsync why WAL_ID` says for the whole log."""
    return explain(wal_id, log.wal_events[wal_id], log.gate, log.policies, as_of=log.last_moment,
                   held_events=log.held)


@frozen(kw_only=True)
class _Shown:
    """A lane to draw: the recording, its explanation, and its stall with why it lasted."""

    wal_id: str
    why: WhyReport
    stall: Stall | None = None
    held: Held | None = None


@frozen(kw_only=True)
class _Choice:
    lanes: list[_Shown]
    window: Window
    omitted: int
    paged: bool
    notes: list[str]


def _fitted(stalls: Sequence[Stall], log: LogEvents) -> Window:
    """The window around these stalls (a little margin each side); the whole log without any."""
    if not stalls:
        return Window(t0=log.t0, t1=log.t1)
    start, end = min(s.start for s in stalls), max(s.end for s in stalls)
    margin = max((end - start) * 0.03, 120.0)
    return Window(t0=max(log.t0, start - margin), t1=min(log.t1, end + margin))


def _shown(log: LogEvents, wal_id: str, stall: Stall | None) -> _Shown:
    if stall is None:
        return _Shown(wal_id=wal_id, why=_explain(log, wal_id))
    held = why_held(stall, log.wal_events[wal_id], log.gate, log.policies, log.held)
    return _Shown(wal_id=wal_id, why=held.why, stall=stall, held=held)


def _choose(db_path: str | Path, shared: LogEvents, wal_ids: Sequence[str] | None, every: bool,
            limit: int) -> tuple[_Choice, LogEvents, int]:
    """The lanes to draw, the log with their recordings' events, and how many recordings the
    log holds. Only the drawn recordings' events are held: the rest are read one at a time."""
    if wal_ids:
        chosen = list(dict.fromkeys(wal_ids))
        log = with_streams(db_path, shared, chosen)
        for wal_id in chosen:
            if wal_id not in log.wal_events:
                raise UnknownWal(wal_id)
        end = log.last_moment or datetime.fromtimestamp(log.t1, UTC)
        by_wal = {s.wal_id: s for s in find_stalls(log.wal_events, log.gate, log.policies, end,
                                                   log.held)}
        return (_Choice(lanes=[_shown(log, w, by_wal.get(w)) for w in chosen],
                        window=_fitted([by_wal[w] for w in chosen if w in by_wal], log),
                        omitted=0, paged=False, notes=[]), log, recording_count(db_path))
    if every:
        found = scan(db_path, shared, stalls=ALL_SHOWN, calm=ALL_SHOWN)
        rest = found.calm[:ALL_SHOWN - len(found.stalls)]
        log = with_streams(db_path, shared, [s.wal_id for s in found.stalls] + rest)
        lanes = ([_shown(log, s.wal_id, s) for s in found.stalls]
                 + [_shown(log, w, None) for w in rest])
        return (_Choice(lanes=lanes, window=Window(t0=log.t0, t1=log.t1), omitted=0,
                        paged=len(lanes) > PAGE_SIZE, notes=[_every_note(found, len(rest))]),
                log, found.recordings)
    found = scan(db_path, shared, stalls=limit, calm=0)
    log = with_streams(db_path, shared, [s.wal_id for s in found.stalls])
    shown = found.stalls
    note = (f"The {len(shown)} longest of {found.stalled} stalls in {found.recordings} "
            f"recordings, on a time axis fitted to them (drag across a lane to zoom; --all for "
            f"every recording, --wal ID for one).") if shown else "No recording stalled in this log."
    return (_Choice(lanes=[_shown(log, s.wal_id, s) for s in shown], window=_fitted(shown, log),
                    omitted=found.stalled - len(shown), paged=False, notes=[note]),
            log, found.recordings)


def _every_note(found: Scan, rest: int) -> str:
    """What `--all` lists: every recording, or on a log of more than ALL_SHOWN the first of
    them, and what it leaves to the commands that read one at a time."""
    stalls = len(found.stalls)
    if stalls + rest == found.recordings:
        return (f"Every recording: the {stalls} that stalled at some time first (the longest "
                f"first), then the other {rest}, {PAGE_SIZE} to a page.")
    return (f"{stalls + rest} of the {found.recordings} recordings, {PAGE_SIZE} to a page: the "
            f"{stalls} longest of {found.stalled} stalls first, then the first {rest} of the "
            f"{found.recordings - found.stalled} that never stalled, in the order the log met "
            f"them. The other {found.recordings - stalls - rest} are counted, not drawn: "
            f"walsync why --all explains each, walsync status lists them.")


def _hours(seconds: float) -> str:
    return f"{seconds / 3600:.1f} h" if seconds >= 5400 else f"{seconds / 60:.0f} min"


def _breakdown(held: Held) -> str:
    """Time under each reason, longest first (stretches under a minute left out)."""
    return "; ".join(f"{r} {_hours(t)}" for r, t in held.reasons if t >= 60) or "under a minute"


def _held_text(shown: _Shown) -> str:
    """The lane's why in a line or two: what held it longest, for how long, and how it ended."""
    stall, held, why = shown.stall, shown.held, shown.why
    if stall is None or held is None:
        return f"{why.reason}: {REASONS[why.reason]}"
    reason, seconds = held.reasons[0]
    ended = ("still held at the end of the log" if stall.ended_by is None else
             f"{'deleted' if stall.ended_by == 'WalDeleted' else 'synced'} "
             f"{time_text(datetime.fromtimestamp(stall.end, UTC))}")
    return f"{reason} {_hours(seconds)} of a {_hours(stall.seconds)} stall; {ended}"


def _row(index: int, lane: Lane, shown: _Shown, bands: list[Band], window: Window) -> str:
    short = lane.wal_id if len(lane.wal_id) <= 22 else lane.wal_id[:21] + "…"
    under = (f"stalled {_hours(shown.stall.seconds)}" if shown.stall else
             shown.why.display or shown.why.state)
    text = _held_text(shown)
    head, _, rest = text.partition(" ")
    breakdown = _breakdown(shown.held) if shown.held else ""
    return (f'<div class="row lane-row" id="lane-{index}" data-wal="{escape(lane.wal_id)}">'
            f'<div class="lane-label" title="{escape(lane.wal_id)}">{escape(short)}<br><small>'
            f'{escape(under)}</small></div>'
            f'{lane_svg(lane, bands, window)}'
            f'<div class="lane-why" title="{escape(breakdown + chr(10) + shown.why.summary)}">'
            f'<b>{escape(head)}</b> {escape(rest)}</div></div>')


def _why_html(index: int, shown: _Shown) -> str:
    report = shown.why
    held = f"Held: {_breakdown(shown.held)}. " if shown.held else ""
    return (f'<div class="why-item" id="why-{index}" data-wal="{escape(shown.wal_id)}">'
            f'<h3>{escape(shown.wal_id)}</h3><p class="reason">{escape(held)}{escape(report.reason)}'
            f' · state {escape(report.display or report.state)} (as of seq {report.as_of_seq})</p>'
            f'<p class="summary">{escape(report.summary)}</p></div>')


def build_report(db_path: str | Path, *, wal_ids: Sequence[str] | None = None,
                 every: bool = False, limit: int = LANES_SHOWN,
                 out_path: str | Path = "") -> tuple[str, ReportSummary]:
    """The page's HTML and its summary; raises UnknownWal for a --wal id not in the log."""
    choice, log, recordings = _choose(db_path, shared_events(db_path), wal_ids, every, limit)
    window = choice.window
    bands = [b for b in bands_of(log) if b.end > window.t0 and b.start < window.t1]
    lanes = [(lane_of(log, c.wal_id, c.why.summary,
                      (c.stall.start, c.stall.end) if c.stall else None), c) for c in choice.lanes]
    in_window = [m for lane, _ in lanes for m in lane.markers if window.t0 <= m.at <= window.t1]
    requests = sum(1 for m in in_window if m.kind == "request")
    jobs = len(in_window) - requests
    stalled = sum(1 for c in choice.lanes if c.stall is not None)
    shown = (time_text(datetime.fromtimestamp(window.t0, UTC)),
             time_text(datetime.fromtimestamp(window.t1, UTC)))
    head = (f'<p class="meta">Log <code>{escape(str(db_path))}</code> · last event '
            f'{escape(time_text(log.last_moment)) if log.last_moment else "-"} · '
            f'{recordings} recordings · times in UTC · window <span id="window">'
            f'{shown[0]} to {shown[1]}</span></p>')
    tools = ('<div class="tools"><button id="fit" type="button">Fit the stalls</button>'
             '<button id="whole" type="button">Whole log</button>'
             '<button id="out" type="button">Zoom out</button>'
             + ('<button id="prev" type="button">Previous page</button><span id="page"></span>'
                '<button id="next" type="button">Next page</button>' if choice.paged else "")
             + '<span>drag across a lane to zoom into a window</span></div>')
    more = (f'<div class="more">+{choice.omitted} more stalled recording(s), shorter stalls: '
            f'walsync report --all, or walsync why --all</div>' if choice.omitted else "")
    chart = (f'<div class="chart" id="chart" data-plot-width="{PLOT_W}" data-t0="{window.t0:.3f}" '
             f'data-t1="{window.t1:.3f}" data-log-t0="{log.t0:.3f}" data-log-t1="{log.t1:.3f}"'
             + (f' data-page-size="{PAGE_SIZE}"' if choice.paged else "") + '>'
             '<div id="selection"></div><div class="row"><div class="lane-label"><b>recording</b>'
             f'</div>{axis_svg(window)}<div class="lane-why"><b>why it was held</b></div></div>'
             '<div class="row gate-row"><div class="lane-label"><small>uploads paused</small></div>'
             f'{gate_svg(bands, window)}<div class="lane-why"><small>{len(bands)} cooldown(s) in '
             'this window</small></div></div>'
             + "".join(_row(i, lane, c, bands, window) for i, (lane, c) in enumerate(lanes))
             + more + "</div>")
    page = "".join([
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>walsync report – {escape(Path(db_path).name)}</title><style>{CSS}</style>",
        "</head><body><h1>walsync report</h1>", head,
        *(f'<p class="note">{escape(n)}</p>' for n in choice.notes), legend_html(), tools, chart,
        '<h2>Why, lane by lane</h2><div class="why">',
        *(_why_html(i, c) for i, (_, c) in enumerate(lanes)),
        f"</div><script>{SCRIPT}</script></body></html>\n"])
    summary = ReportSummary(out_path=str(out_path), lanes=len(lanes), stalled=stalled,
                            cooldowns=len(bands), markers=requests, job_markers=jobs,
                            omitted=choice.omitted, window=shown, notes=tuple(choice.notes))
    return page, summary


def write_report(db_path: str | Path, out_path: str | Path, *, wal_ids: list[str] | None = None,
                 every: bool = False, limit: int = LANES_SHOWN) -> ReportSummary:
    """Write the self-contained HTML report to `out_path` and say what it shows."""
    page, summary = build_report(db_path, wal_ids=wal_ids, every=every, limit=limit,
                                 out_path=out_path)
    Path(out_path).write_text(page, encoding="utf-8")
    return summary

