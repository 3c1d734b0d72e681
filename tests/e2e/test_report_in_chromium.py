"""`walsync report --html` in headless Chromium: the page tells the log's story at a glance.

The demo's report, opened at 1280x800, shows every default lane and its cooldown band on the first
screen (read from the page's own layout), raises no error, and its screenshot shows them; the axis
is fitted to the stalls, the longest first, then "+N more"; zoom and pages work without a server.
"""

from __future__ import annotations

import re
import sys
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from walsync.adapters.diagnosis.lanes import read_events
from walsync.adapters.diagnosis.report import LANES_SHOWN, PAGE_SIZE, build_report, write_report
from walsync.adapters.diagnosis.stalls import find_stalls, why_held
from walsync.adapters.diagnosis.svg import STATE_COLORS
from walsync.adapters.diagnosis.why import explain_wal
from walsync.adapters.ports import NewEvent
from walsync.adapters.sim.run import run_simulation
from walsync.adapters.sim.scenarios import scenario_named
from walsync.adapters.store.readonly.queries import read_log
from walsync.adapters.store.sqlite import SqliteStore
from walsync.core.errors import UnknownWal
from walsync.core.events import UploadFailed, UploadStarted, WalRegistered
from walsync.core.policies import POLICIES

sys.path.insert(0, str(Path(__file__).parent))
from chromium import dump_dom, layout, require_chromium, screenshot
from png import read_png
from report_screenshot import VIEWPORT, demo_report

_URL = re.compile(r"https?://", re.IGNORECASE)

# Each default lane: the union of its three cells, and the cooldown bands drawn in it.
LANES_PROBE = """
function box(r) { return [r.left, r.top, r.right, r.bottom]; }
function union(els) {
  var b = null;
  els.forEach(function (el) { var r = el.getBoundingClientRect();
    b = b ? [Math.min(b[0], r.left), Math.min(b[1], r.top), Math.max(b[2], r.right),
             Math.max(b[3], r.bottom)] : box(r); });
  return b;
}
var gate = document.querySelector(".gate-row svg.plot");
return {
  lanes: [].map.call(document.querySelectorAll(".lane-row"), function (row) {
    return {wal: row.getAttribute("data-wal"), box: union([].slice.call(row.children)),
            plot: box(row.querySelector("svg.plot").getBoundingClientRect()),
            bands: [].filter.call(row.querySelectorAll("rect.band"), function (b) {
              return Number(b.getAttribute("width")) > 0; }).map(function (b) {
              return box(b.getBoundingClientRect()); })};
  }),
  gate: gate ? box(gate.getBoundingClientRect()) : null,
  more: (document.querySelector(".more") || {}).textContent || null
};
"""
# LANES_PROBE's answer, with each lane's last state segment and the drawn size of the markers.
WIDTH_PROBE = """
var found = (function () {""" + LANES_PROBE + """}());
function edges(r) { return [r.left, r.top, r.right, r.bottom]; }
found.lanes.forEach(function (lane) {
  var segs = document.querySelector('.lane-row[data-wal="' + lane.wal + '"]').querySelectorAll(
    "rect.seg");
  lane.last = segs.length ? edges(segs[segs.length - 1].getBoundingClientRect()) : null;
});
found.circles = [].map.call(document.querySelectorAll(".lane-row circle.marker"), function (c) {
  return Math.round(c.getBoundingClientRect().width * 10) / 10; });
return found;
"""
ZOOM_PROBE = """
var stall = document.querySelector(".lane-row rect.stall"), label = document.getElementById("window");
var fitted = Number(stall.getAttribute("width")), before = label.textContent;
document.getElementById("whole").click();
var whole = Number(stall.getAttribute("width")), wholeLabel = label.textContent;
var plot = document.querySelector(".lane-row svg.plot"), r = plot.getBoundingClientRect();
function mouse(type, x) { (type === "mousedown" ? plot : window).dispatchEvent(new MouseEvent(type,
  {bubbles: true, clientX: x, clientY: r.top + 5})); }
mouse("mousedown", r.left + r.width * 0.4); mouse("mousemove", r.left + r.width * 0.6);
mouse("mouseup", r.left + r.width * 0.6);
return {fitted: fitted, whole: whole, dragged: Number(stall.getAttribute("width")),
        labels: [before, wholeLabel, label.textContent]};
"""
PAGES_PROBE = """
function shown() { return [].filter.call(document.querySelectorAll(".lane-row"), function (row) {
  return row.children[0].getClientRects().length > 0; }).map(function (row) {
  return row.getAttribute("data-wal"); }); }
var first = shown(); document.getElementById("next").click();
return {first: first, second: shown(), label: document.getElementById("page").textContent};
"""


class _Dom(HTMLParser):
    """Lanes, bands, markers and why summaries as the browser serialised them."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lanes: list[str] = []
        self.band_reasons: list[str] = []
        self.markers: dict[str, int] = {}
        self.summaries: dict[str, str] = {}
        self.text: list[str] = []
        self._why: str | None = None
        self._in_summary = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        classes = a.get("class", "").split()
        if tag == "div" and "lane-row" in classes:
            self.lanes.append(a["data-wal"])
        if tag == "rect" and "band" in classes:
            self.band_reasons.append(a["data-reason"])
        if "marker" in classes:
            self.markers[a["data-kind"]] = self.markers.get(a["data-kind"], 0) + 1
        if "why-item" in classes:
            self._why = a["data-wal"]
        self._in_summary = tag == "p" and "summary" in classes and self._why is not None

    def handle_endtag(self, tag: str) -> None:
        if tag == "p":
            self._in_summary = False

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self._in_summary and self._why is not None:
            self.summaries[self._why] = self.summaries.get(self._why, "") + data


def _parse(markup: str) -> _Dom:
    dom = _Dom()
    dom.feed(markup)
    return dom


def _inside(box: list[float], width: int, height: int) -> bool:
    return box[0] >= 0 and box[1] >= 0 and box[2] <= width and box[3] <= height and (
        box[2] > box[0] and box[3] > box[1])


@pytest.fixture(scope="module")
def sim_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("report") / "saturation.db"
    run_simulation(scenario_named("backend_saturation").with_overrides(hours=3, wals=6),
                   POLICIES["seed"], 1, path)
    return path


@pytest.fixture(scope="module")
def demo_page(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return demo_report(tmp_path_factory.mktemp("demo"))


def test_all_renders_in_chromium_stalled_lanes_first(sim_log: Path, tmp_path: Path) -> None:
    binary = require_chromium()
    out = tmp_path / "report.html"
    summary = write_report(sim_log, out, every=True)
    rows = list(read_log(sim_log))
    wal_ids = list(dict.fromkeys(r.stream[4:] for r in rows if r.stream.startswith("wal:")))
    starts = [r for r in rows if r.type == "CooldownStarted"]
    attempts = sum(1 for r in rows if r.type == "UploadStarted")
    assert summary.lanes == len(wal_ids) == 6
    assert summary.markers == attempts > 0

    markup = out.read_text(encoding="utf-8")
    assert not _URL.search(markup.replace('"http://www.w3.org/2000/svg"', "")), "no external URL"
    assert "<link" not in markup and "src=" not in markup

    dom = _parse(dump_dom(binary, out, tmp_path / "profile"))
    log = read_events(sim_log)
    assert log.last_moment is not None
    stalls = find_stalls(log.wal_events, log.gate, log.policies, log.last_moment, log.held)
    stalled = [s.wal_id for s in stalls]
    assert dom.lanes == stalled + [w for w in wal_ids if w not in stalled]
    assert dom.markers.get("request", 0) == attempts
    assert starts and summary.cooldowns == len(starts)
    assert {"rateLimit", "backendBusy"} & set(dom.band_reasons)
    for s in stalls:
        held = why_held(s, log.wal_events[s.wal_id], log.gate, log.policies)
        assert dom.summaries[s.wal_id] == held.why.summary
    calm = [w for w in wal_ids if w not in stalled]
    for wal_id in calm:
        assert dom.summaries[wal_id] == explain_wal(sim_log, wal_id).summary


def test_by_default_the_longest_stalls_first_including_those_that_later_synced(
        demo_page: Path) -> None:
    log_path = demo_page.with_suffix(".db")
    page, summary = build_report(log_path)
    dom = _parse(page)
    log = read_events(log_path)
    assert log.last_moment is not None
    stalls = find_stalls(log.wal_events, log.gate, log.policies, log.last_moment, log.held)
    assert len(stalls) > LANES_SHOWN, "the demo is expected to stall more than a dozen recordings"
    assert dom.lanes == [s.wal_id for s in stalls[:LANES_SHOWN]]
    assert [s.seconds for s in stalls] == sorted((s.seconds for s in stalls), reverse=True)
    synced_later = [w for w in dom.lanes if explain_wal(log_path, w).reason == "not_stalled"]
    assert synced_later, "lanes of recordings that stalled for hours and then synced"
    assert summary.omitted == len(stalls) - LANES_SHOWN
    assert f"+{summary.omitted} more" in page
    fitted = build_report(log_path)[1].window
    assert fitted != build_report(log_path, every=True)[1].window, "the axis is fitted to the stalls"


def test_the_demo_report_shows_its_stalled_lanes_on_the_first_screen(demo_page: Path,
                                                                     tmp_path: Path) -> None:
    binary = require_chromium()
    width, height = VIEWPORT
    probe, log = layout(binary, demo_page, tmp_path / "profile", VIEWPORT, LANES_PROBE)
    assert probe.get("probe_error") is None, probe
    assert probe["errors"] == [], probe["errors"]
    assert "Uncaught" not in log and "CONSOLE" not in log.replace("CONSOLE(0)", ""), log[-2000:]
    assert probe["viewport"] == [width, height]
    found: dict[str, Any] = probe["result"]  # type: ignore[assignment]  # the probe's JSON
    lanes = found["lanes"]
    assert len(lanes) == LANES_SHOWN
    for lane in lanes:
        assert _inside(lane["box"], width, height), lane
        assert lane["bands"], f"{lane['wal']} has no cooldown band drawn"
        assert all(_inside(b, width, height) for b in lane["bands"]), lane
    assert found["gate"] is not None and _inside(found["gate"], width, height)

    shot = read_png(screenshot(binary, demo_page, tmp_path / "profile", tmp_path / "shot.png",
                               VIEWPORT))
    assert (shot.width, shot.height) == VIEWPORT
    states = [tuple(int(c[i:i + 2], 16) for i in (1, 3, 5)) for c, _ in STATE_COLORS.values()]
    for lane in lanes:
        pixels = set(shot.region(*lane["plot"]))
        assert any(max(abs(p[i] - s[i]) for i in range(3)) <= 6 for p in pixels for s in states), (
            f"no state colour in the screenshot where {lane['wal']}'s lane is")
        assert len(pixels) > 4, f"{lane['wal']}'s lane is blank in the screenshot"
    band = (0xF0, 0xA0, 0x30)
    gate_pixels = set(shot.region(*found["gate"]))
    assert any(p[0] > 235 and p[2] < 200 and abs(p[1] - band[1]) < 60 for p in gate_pixels), (
        "no fair-use band colour where the gate row is")


def test_in_a_window_800_px_wide_the_lanes_fit_with_their_why(demo_page: Path,
                                                              tmp_path: Path) -> None:
    """The plots narrow to the width there is (drawn again for it, not scaled): every default
    lane, its cooldown bands, its last state and its `why` stay inside the window."""
    probe, _ = layout(require_chromium(), demo_page, tmp_path / "profile", (800, 800),
                      WIDTH_PROBE)
    assert probe.get("probe_error") is None and probe["errors"] == [], probe
    found: dict[str, Any] = probe["result"]  # type: ignore[assignment]  # the probe's JSON
    assert len(found["lanes"]) == LANES_SHOWN
    for lane in found["lanes"]:
        assert _inside(lane["box"], 800, 800), lane
        assert lane["bands"] and all(_inside(b, 800, 800) for b in lane["bands"]), lane
        assert lane["plot"][2] - lane["plot"][0] < 680, "the plot narrowed to its column"
        assert lane["last"] is not None and _inside(lane["last"], 800, 800), lane
    # r=4 in a lane 30 high whose 1 px border leaves 28: 7.5 px, as at 1280 px; scaling the
    # plot down to its column would have drawn them near 4 px.
    assert found["circles"] and min(found["circles"]) >= 7, "markers keep their size"


def test_zoom_needs_no_server(demo_page: Path, tmp_path: Path) -> None:
    probe, _ = layout(require_chromium(), demo_page, tmp_path / "profile", VIEWPORT, ZOOM_PROBE)
    assert probe.get("probe_error") is None and probe["errors"] == [], probe
    found: dict[str, Any] = probe["result"]  # type: ignore[assignment]  # the probe's JSON
    assert found["whole"] < found["fitted"], "the whole log is wider than the fitted window"
    assert found["dragged"] > found["whole"], "dragging across a lane zooms in"
    assert len(set(found["labels"])) == 3, found["labels"]


def test_all_pages_the_lanes(demo_page: Path, tmp_path: Path) -> None:
    out = tmp_path / "all.html"
    summary = write_report(demo_page.with_suffix(".db"), out, every=True)
    probe, _ = layout(require_chromium(), out, tmp_path / "profile", VIEWPORT, PAGES_PROBE)
    assert probe.get("probe_error") is None and probe["errors"] == [], probe
    found: dict[str, Any] = probe["result"]  # type: ignore[assignment]  # the probe's JSON
    pages = -(-summary.lanes // PAGE_SIZE)
    assert len(found["first"]) == len(found["second"]) == PAGE_SIZE
    assert not set(found["first"]) & set(found["second"])
    assert found["label"] == f"page 2 of {pages}"


def test_wal_selection_and_unknown_wal(sim_log: Path) -> None:
    first = next(r.stream[4:] for r in read_log(sim_log) if r.stream.startswith("wal:"))
    page, summary = build_report(sim_log, wal_ids=[first, first])
    assert _parse(page).lanes == [first] and summary.lanes == 1
    with pytest.raises(UnknownWal):
        build_report(sim_log, wal_ids=["no-such-wal"])


def test_text_from_the_log_is_escaped(tmp_path: Path) -> None:
    hostile = '<script>alert("wal")</script>'
    error = "<script>alert('err')</script> & <img onerror=x>"
    path = tmp_path / "hostile.db"
    at = datetime(2026, 5, 20, tzinfo=UTC)
    store = SqliteStore(path)
    try:
        store.append([
            NewEvent(event_id="e1", event=WalRegistered(at=at, wal_id=hostile, timer_start=1)),
            NewEvent(event_id="e2", event=UploadStarted(at=at + timedelta(minutes=1), wal_id=hostile,
                                                        attempt_id="a1", path="single")),
            NewEvent(event_id="e3", event=UploadFailed(
                at=at + timedelta(minutes=2), wal_id=hostile, attempt_id="a1", kind="server_error",
                http_status=500, message=error, retry_count=1, retry_count_bumped=True)),
        ])
    finally:
        store.close()
    page, summary = build_report(path, wal_ids=[hostile])
    assert page.lower().count("<script") == 1, "only the page's own script"
    assert "<img" not in page.lower()
    assert "&lt;script&gt;alert(&quot;wal&quot;)&lt;/script&gt;" in page
    assert "&lt;img onerror=x&gt;" in page
    dom = _parse(page)
    assert dom.lanes == [hostile]
    assert error in dom.summaries[hostile] or error in "".join(dom.text)
    assert summary.markers == 1
