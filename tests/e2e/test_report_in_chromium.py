"""`walsync report --html`: the page renders in headless Chromium and shows what the log holds."""

from __future__ import annotations

import re
import sys
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path

import pytest

from walsync.adapters.diagnosis.report import STALLED_CAP, build_report, write_report
from walsync.adapters.diagnosis.why import explain_all, explain_wal
from walsync.adapters.ports import NewEvent
from walsync.adapters.sim.run import run_simulation
from walsync.adapters.sim.scenarios import scenario_named
from walsync.adapters.store.readonly.queries import read_log
from walsync.adapters.store.sqlite import SqliteStore
from walsync.core.errors import UnknownWal
from walsync.core.events import UploadFailed, UploadStarted, WalRegistered
from walsync.core.policies import POLICIES

sys.path.insert(0, str(Path(__file__).parent))
from chromium import dump_dom, require_chromium, screenshot

_URL = re.compile(r"https?://", re.IGNORECASE)
_REASON_LABELS = {"rateLimit": "fair use", "backendBusy": "backend busy"}


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
        if tag == "g" and "lane" in classes:
            self.lanes.append(a["data-wal"])
        if tag == "g" and "band" in classes:
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


@pytest.fixture(scope="module")
def sim_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("report") / "saturation.db"
    run_simulation(scenario_named("backend_saturation").with_overrides(hours=3, wals=6),
                   POLICIES["seed"], 1, path)
    return path


def test_report_renders_in_chromium(sim_log: Path, tmp_path: Path) -> None:
    binary = require_chromium()
    out = tmp_path / "report.html"
    summary = write_report(sim_log, out, every=True)
    rows = list(read_log(sim_log))
    wal_ids = list(dict.fromkeys(r.stream[4:] for r in rows if r.stream.startswith("wal:")))
    starts = [r for r in rows if r.type == "CooldownStarted"]
    attempts = sum(1 for r in rows if r.type == "UploadStarted" and r.stream[4:] in wal_ids)
    assert summary.lanes == len(wal_ids) == 6
    assert summary.markers == attempts > 0

    markup = out.read_text(encoding="utf-8")
    assert not _URL.search(markup), "the report must not reference any external URL"
    assert "<link" not in markup and "src=" not in markup

    dom = _parse(dump_dom(binary, out, tmp_path / "profile"))
    assert dom.lanes == wal_ids
    assert dom.markers.get("request", 0) == attempts
    assert len(dom.band_reasons) == len(starts) == summary.cooldowns
    assert starts, "backend_saturation is expected to start a cooldown"
    expected_labels = {_REASON_LABELS[r.payload["reason"]] for r in starts}
    assert set(dom.band_reasons) == expected_labels
    page_text = "".join(dom.text)
    for label in expected_labels:
        assert label in page_text
    why = explain_wal(sim_log, wal_ids[0])
    assert dom.summaries[wal_ids[0]] == why.summary
    assert why.summary in page_text

    shot = screenshot(binary, out, tmp_path / "profile", tmp_path / "shot.png")
    assert shot.is_file() and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert shot.stat().st_size > 10_000, "the screenshot looks blank"


def test_default_shows_only_stalled_recordings_with_a_note(sim_log: Path) -> None:
    page, summary = build_report(sim_log)
    stalled = [r.wal_id for r in explain_all(sim_log)]
    dom = _parse(page)
    assert dom.lanes == stalled[:STALLED_CAP]
    assert summary.lanes == len(dom.lanes)
    assert any("stalled" in note for note in summary.notes)


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
    assert "<script" not in page.lower()
    assert "<img" not in page.lower()
    assert "&lt;script&gt;alert(&quot;wal&quot;)&lt;/script&gt;" in page
    assert "&lt;img onerror=x&gt;" in page
    dom = _parse(page)
    assert dom.lanes == [hostile]
    assert error in dom.summaries[hostile] or error in "".join(dom.text)
    assert summary.markers == 1
