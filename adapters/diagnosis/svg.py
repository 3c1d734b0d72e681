"""The report's inline SVG: swimlanes of states, cooldown bands, request markers, a time axis."""

from __future__ import annotations

from datetime import UTC, datetime
from html import escape
from typing import Final

from attrs import frozen

__all__ = ["Band", "Lane", "Marker", "Segment", "legend_html", "render_svg"]

LABEL_W: Final = 200
PLOT_W: Final = 1140
LANE_H: Final = 20
TOP: Final = 40
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
BAND_COLORS: Final = {"rateLimit": "#f0a030", "backendBusy": "#4a78c0"}
_STEPS: Final = (60, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 172800, 604800)


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
    """A cooldown window across all lanes, with its reason."""

    start: float
    end: float
    reason: str
    label: str
    title: str


@frozen(kw_only=True)
class Lane:
    """One recording's row: its segments, markers and `why` summary."""

    wal_id: str
    segments: tuple[Segment, ...]
    markers: tuple[Marker, ...]
    summary: str


def _clock(t: float, long: bool) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%m-%d %H:%M" if long else "%H:%M")


def _axis(t0: float, t1: float, x: float, height: float) -> list[str]:
    span = t1 - t0
    step = next((s for s in _STEPS if span / s <= 10), _STEPS[-1])
    parts = [f'<g class="axis"><line x1="{LABEL_W}" y1="{TOP}" x2="{LABEL_W + PLOT_W}" '
             f'y2="{TOP}" stroke="#333"/>']
    tick = (t0 // step + 1) * step if t0 % step else t0
    while tick <= t1:
        px = x * (tick - t0) + LABEL_W
        parts.append(f'<line x1="{px:.1f}" y1="{TOP - 4}" x2="{px:.1f}" y2="{height}" '
                     f'stroke="#e3e3e3"/><text class="tick" x="{px:.1f}" y="{TOP - 7}" '
                     f'text-anchor="middle">{_clock(tick, span > 86400)}</text>')
        tick += step
    parts.append("</g>")
    return parts


def _band(b: Band, x0: float, x1: float, height: float) -> str:
    width = max(x1 - x0, 1.5)
    color = BAND_COLORS.get(b.reason, "#888888")
    label = (f'<text class="band-label" x="{x0 + 2:.1f}" y="12">{escape(b.label)}</text>'
             if width >= 6.5 * len(b.label) + 6 else "")
    return (f'<g class="band" data-reason="{escape(b.label)}"><title>{escape(b.title)}</title>'
            f'<rect x="{x0:.1f}" y="2" width="{width:.1f}" height="{height - 2:.1f}" '
            f'fill="{color}" fill-opacity="0.16" stroke="{color}" stroke-opacity="0.5"/>{label}</g>')


def _marker(m: Marker, px: float, y: float) -> str:
    title = f"<title>{escape(m.label)}</title>"
    if m.kind == "request":
        color = OUTCOME_COLORS.get(m.outcome, ("#000000", ""))[0]
        return (f'<circle class="marker" data-kind="request" data-outcome="{escape(m.outcome)}" '
                f'cx="{px:.1f}" cy="{y + LANE_H / 2:.1f}" r="4" fill="{color}" stroke="#000" '
                f'stroke-width="0.8">{title}</circle>')
    color = JOB_COLORS.get(m.outcome, "#000000")
    return (f'<rect class="marker" data-kind="job" data-outcome="{escape(m.outcome)}" '
            f'x="{px - 1:.1f}" y="{y + LANE_H - 7:.1f}" width="2.5" height="6" '
            f'fill="{color}">{title}</rect>')


def _lane(index: int, lane: Lane, t0: float, x: float) -> list[str]:
    y = TOP + 4 + index * LANE_H
    short = lane.wal_id if len(lane.wal_id) <= 28 else lane.wal_id[:27] + "…"
    parts = [f'<g class="lane" id="lane-{index}" data-wal="{escape(lane.wal_id)}">',
             f'<text class="lane-label" x="4" y="{y + 14}"><title>{escape(lane.wal_id)}: '
             f'{escape(lane.summary)}</title>{escape(short)}</text>',
             f'<line x1="{LABEL_W}" y1="{y + LANE_H}" x2="{LABEL_W + PLOT_W}" y2="{y + LANE_H}" '
             f'stroke="#f0f0f0"/>']
    for s in lane.segments:
        x0, x1 = LABEL_W + x * (s.start - t0), LABEL_W + x * (s.end - t0)
        color, name = STATE_COLORS.get(s.state, ("#000000", s.state))
        parts.append(f'<rect class="seg" data-state="{escape(s.state)}" x="{x0:.1f}" y="{y + 3}" '
                     f'width="{max(x1 - x0, 0.8):.1f}" height="{LANE_H - 6}" fill="{color}">'
                     f'<title>{escape(name)}: {_clock(s.start, True)}–{_clock(s.end, True)} UTC'
                     f'</title></rect>')
    parts.extend(_marker(m, LABEL_W + x * (m.at - t0), y) for m in lane.markers)
    parts.append("</g>")
    return parts


def render_svg(lanes: list[Lane], bands: list[Band], t0: float, t1: float) -> str:
    """The whole chart as one inline <svg> (no namespace URL needed inside HTML)."""
    t1 = max(t1, t0 + 60.0)
    x = PLOT_W / (t1 - t0)
    height = TOP + 8 + LANE_H * max(len(lanes), 1)
    width = LABEL_W + PLOT_W + 40
    parts = [f'<svg class="chart" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" role="img">']
    parts.extend(_axis(t0, t1, x, height))
    parts.extend(_band(b, LABEL_W + x * (b.start - t0), LABEL_W + x * (b.end - t0), height)
                 for b in bands)
    for index, lane in enumerate(lanes):
        parts.extend(_lane(index, lane, t0, x))
    parts.append("</svg>")
    return "".join(parts)


def _swatch(color: str, text: str, shape: str = "rect") -> str:
    if shape == "circle":
        mark = f'<circle cx="7" cy="7" r="4.5" fill="{color}" stroke="#000" stroke-width="0.8"/>'
    elif shape == "tick":
        mark = f'<rect x="6" y="3" width="2.5" height="9" fill="{color}"/>'
    else:
        mark = f'<rect x="0" y="2" width="14" height="10" fill="{color}"/>'
    return f'<span class="key"><svg width="14" height="14">{mark}</svg>{escape(text)}</span>'


def legend_html() -> str:
    """The legend: state colours, cooldown bands, request and job markers."""
    states = "".join(_swatch(c, n) for c, n in STATE_COLORS.values())
    bands = _swatch("#f0a03055", "cooldown: fair use (429)") + _swatch(
        "#4a78c055", "cooldown: backend busy")
    requests = "".join(_swatch(c, f"upload attempt → {n}", "circle")
                       for c, n in OUTCOME_COLORS.values())
    jobs = "".join(_swatch(c, n.replace("_", " "), "tick") for n, c in JOB_COLORS.items())
    return (f'<div class="legend"><div><b>States</b> {states}</div><div><b>Cooldowns</b> {bands}'
            f'</div><div><b>Requests</b> {requests}</div><div><b>Server jobs</b> {jobs}</div></div>')
