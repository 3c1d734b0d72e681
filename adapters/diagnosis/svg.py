"""The report's inline SVG: one small plot per lane (state segments, the cooldown bands that cross
it, its stall, request and job markers) and a time axis, all placed for a time window.

Every shape carries its times (`data-s`/`data-e`, or `data-t`), so the page's script can place it
again for another window (zoom) with the same arithmetic as `x_of` here."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from html import escape
from typing import Final

from attrs import frozen

__all__ = ["BAND_COLORS", "JOB_COLORS", "LANE_H", "OUTCOME_COLORS", "PLOT_W", "STATE_COLORS", "Band",
           "Lane", "Marker", "Segment", "Window", "axis_svg", "gate_svg", "lane_svg", "legend_html"]

PLOT_W: Final = 680
LANE_H: Final = 30
AXIS_H: Final = 34
GATE_H: Final = 14
STATE_COLORS: Final = {
    "waiting": ("#c7ccd6", "waiting (miss)"), "retrying": ("#f2c46d", "retrying (miss, retry count > 0)"),
    "syncing": ("#6aa8e8", "uploading"), "uploaded": ("#9b7fd1", "uploaded (server job running)"),
    "synced": ("#5cb874", "synced"), "corrupted": ("#6b4f3a", "corrupted (file missing)"),
    "failed": ("#d9534f", "failed (retry budget spent)"),
}
OUTCOME_COLORS: Final = {
    "accepted": ("#1f7a3a", "202 accepted"), "synced": ("#0b4d22", "200 synced"),
    "rate_limited": ("#e67e22", "429 rate limited"), "failed": ("#b02a2a", "error"),
    "unknown": ("#777777", "outcome unknown"), "pending": ("#ffffff", "no answer logged"),
}
JOB_COLORS: Final = {"job_completed": "#1f7a3a", "job_failed": "#b02a2a", "job_not_found": "#555555"}
BAND_COLORS: Final = {"rateLimit": "#f0a030", "backendBusy": "#4a78c0", "auth": "#a04ac0"}
# Tick steps the axis picks from (seconds): the first that gives at most 8 ticks.
STEPS: Final = (60, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 172800, 604800)


@frozen(kw_only=True)
class Segment:
    """A span of one display state of a recording (epoch seconds)."""

    start: float
    end: float
    state: str


@frozen(kw_only=True)
class Marker:
    """A request (upload attempt and its answer) or a server job answer on a lane."""

    at: float
    kind: str
    outcome: str
    label: str


@frozen(kw_only=True)
class Band:
    """A cooldown window across the lanes, with its reason."""

    start: float
    end: float
    reason: str
    label: str
    title: str


@frozen(kw_only=True)
class Lane:
    """One recording's row: its segments, markers, its stall (if any) and its `why`."""

    wal_id: str
    segments: tuple[Segment, ...]
    markers: tuple[Marker, ...]
    summary: str
    stall: tuple[float, float] | None = None


@frozen(kw_only=True)
class Window:
    """The time span the plots show, mapped onto PLOT_W pixels."""

    t0: float
    t1: float

    def x_of(self, t: float) -> float:
        """Where time `t` falls, clipped to the plot."""
        return min(max((t - self.t0) / max(self.t1 - self.t0, 1.0) * PLOT_W, 0.0), float(PLOT_W))

    def span(self, start: float, end: float, least: float = 0.8) -> tuple[float, float]:
        """x and width of a span (0 wide when it lies outside the window)."""
        x0, x1 = self.x_of(start), self.x_of(end)
        return x0, (max(x1 - x0, least) if end > self.t0 and start < self.t1 else 0.0)


def _rect(css: str, start: float, end: float, window: Window, y: float, h: float, fill: str,
          title: str, extra: str = "") -> str:
    x, w = window.span(start, end)
    return (f'<rect class="{css}" data-s="{start:.3f}" data-e="{end:.3f}" x="{x:.1f}" y="{y:.1f}" '
            f'width="{w:.1f}" height="{h:.1f}" fill="{fill}"{extra}><title>{escape(title)}</title>'
            f'</rect>')


def _marker(m: Marker, window: Window) -> str:
    x = window.x_of(m.at)
    hidden = "" if window.t0 <= m.at <= window.t1 else ' style="display:none"'
    title = f"<title>{escape(m.label)}</title>"
    if m.kind == "request":
        color = OUTCOME_COLORS.get(m.outcome, ("#000000", ""))[0]
        return (f'<circle class="marker" data-kind="request" data-outcome="{escape(m.outcome)}" '
                f'data-t="{m.at:.3f}" cx="{x:.1f}" cy="{LANE_H / 2:.1f}" r="4" fill="{color}" '
                f'stroke="#000" stroke-width="0.8"{hidden}>{title}</circle>')
    color = JOB_COLORS.get(m.outcome, "#000000")
    return (f'<rect class="marker" data-kind="job" data-outcome="{escape(m.outcome)}" '
            f'data-t="{m.at:.3f}" x="{x - 1:.1f}" y="{LANE_H - 8}" width="2.5" height="7" '
            f'fill="{color}"{hidden}>{title}</rect>')


def lane_svg(lane: Lane, bands: list[Band], window: Window) -> str:
    """One lane's plot: the cooldowns that held it (those crossing its stall), the stall, the
    segments, the markers."""
    parts = [f'<svg class="plot" width="{PLOT_W}" height="{LANE_H}" viewBox="0 0 {PLOT_W} {LANE_H}">']
    held = [b for b in bands if lane.stall is not None and b.end > lane.stall[0]
            and b.start < lane.stall[1]]
    for b in held:
        color = BAND_COLORS.get(b.reason, "#888888")
        parts.append(_rect("band", b.start, b.end, window, 0, LANE_H, color, b.title,
                           f' fill-opacity="0.22" data-reason="{escape(b.reason)}"'))
    if lane.stall is not None:
        parts.append(_rect("stall", lane.stall[0], lane.stall[1], window, 1, LANE_H - 2, "none",
                           "the stall: from the first setback until it synced (or now)",
                           ' stroke="#b02a2a" stroke-width="1.5" stroke-dasharray="4 2"'))
    for s in lane.segments:
        color, name = STATE_COLORS.get(s.state, ("#000000", s.state))
        title = f"{name}: {_clock(s.start)} to {_clock(s.end)}"
        parts.append(_rect("seg", s.start, s.end, window, 9, LANE_H - 18, color, title,
                           f' data-state="{escape(s.state)}"'))
    parts.extend(_marker(m, window) for m in lane.markers)
    parts.append("</svg>")
    return "".join(parts)


def gate_svg(bands: list[Band], window: Window) -> str:
    """The gate's own row: every cooldown of the window, labelled where it is wide enough."""
    parts = [f'<svg class="plot gate" width="{PLOT_W}" height="{GATE_H}" '
             f'viewBox="0 0 {PLOT_W} {GATE_H}">']
    for b in bands:
        color = BAND_COLORS.get(b.reason, "#888888")
        parts.append(_rect("band", b.start, b.end, window, 0, GATE_H, color, b.title,
                           f' fill-opacity="0.5" data-reason="{escape(b.reason)}"'))
    parts.append("</svg>")
    return "".join(parts)


def _clock(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def ticks(window: Window) -> Iterator[tuple[float, str, str]]:
    """(time, HH:MM, the date when it changes) for each tick of the axis."""
    span = max(window.t1 - window.t0, 1.0)
    step = next((s for s in STEPS if span / s <= 8), STEPS[-1])
    tick = (window.t0 // step + 1) * step
    day = ""
    while tick <= window.t1:
        moment = datetime.fromtimestamp(tick, UTC)
        date = moment.strftime("%Y-%m-%d")
        yield tick, moment.strftime("%H:%M"), date if date != day else ""
        day = date
        tick += step


def axis_svg(window: Window) -> str:
    """The time axis above the lanes (UTC), with its ticks for the window."""
    parts = [f'<svg class="axis" width="{PLOT_W}" height="{AXIS_H}" viewBox="0 0 {PLOT_W} {AXIS_H}">',
             f'<line class="baseline" x1="0" y1="{AXIS_H - 1}" x2="{PLOT_W}" y2="{AXIS_H - 1}" '
             f'stroke="#333"/>']
    for t, clock, date in ticks(window):
        x = window.x_of(t)
        parts.append(f'<g class="tick"><line x1="{x:.1f}" y1="{AXIS_H - 6}" x2="{x:.1f}" '
                     f'y2="{AXIS_H}" stroke="#333"/><text x="{x:.1f}" y="{AXIS_H - 9}" '
                     f'text-anchor="middle">{clock}</text>'
                     + (f'<text x="{x:.1f}" y="10" text-anchor="middle" class="date">{date}</text>'
                        if date else "") + "</g>")
    parts.append("</svg>")
    return "".join(parts)


def _swatch(color: str, text: str, shape: str = "rect") -> str:
    if shape == "circle":
        mark = f'<circle cx="7" cy="7" r="4.5" fill="{color}" stroke="#000" stroke-width="0.8"/>'
    elif shape == "tick":
        mark = f'<rect x="6" y="3" width="2.5" height="9" fill="{color}"/>'
    elif shape == "stall":
        mark = ('<rect x="1" y="2" width="12" height="10" fill="none" stroke="#b02a2a" '
                'stroke-dasharray="3 2"/>')
    else:
        mark = f'<rect x="0" y="2" width="14" height="10" fill="{color}"/>'
    return f'<span class="key"><svg width="14" height="14">{mark}</svg>{escape(text)}</span>'


def legend_html() -> str:
    """The legend: state colours, cooldown bands, the stall, request and job markers."""
    states = "".join(_swatch(c, n.split(" (")[0]) for c, n in STATE_COLORS.values())
    bands = (_swatch("#f0a03066", "cooldown: fair use (429)")
             + _swatch("#4a78c066", "cooldown: backend busy") + _swatch("", "the stall", "stall"))
    requests = "".join(_swatch(c, n, "circle") for c, n in OUTCOME_COLORS.values())
    jobs = "".join(_swatch(c, n.replace("job_", "job ").replace("_", " "), "tick")
                   for n, c in JOB_COLORS.items())
    return (f'<div class="legend"><div><b>States</b> {states}</div><div><b>Behind them</b> {bands}'
            f'</div><div><b>Upload attempts</b> {requests} <b>Server jobs</b> {jobs}</div></div>')
