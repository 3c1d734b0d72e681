"""The HTML report of a long log (issue 17: reading every event of a year's log into memory
took 1.6 GB): it holds only the events of the recordings it draws, and `--all` draws at most
ALL_SHOWN lanes, saying on the page how many it left to `why --all` and `status`. Oracle: the
whole-log reading the report used before (`read_events`, `find_stalls`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from walsync.adapters.diagnosis import report
from walsync.adapters.diagnosis.lanes import LogEvents, read_events
from walsync.adapters.diagnosis.report import build_report
from walsync.adapters.diagnosis.stalls import Stall, find_stalls
from walsync.adapters.diagnosis.svg import Lane
from walsync.adapters.sim.run import run_simulation
from walsync.adapters.sim.scenarios import scenario_named
from walsync.core.policies import POLICIES


@pytest.fixture(scope="module")
def sim_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("report") / "saturation.db"
    run_simulation(scenario_named("mixed").with_overrides(hours=3, wals=8),
                   POLICIES["seed"], 1, path)
    return path


def _whole_log(path: Path) -> tuple[LogEvents, list[Stall]]:
    """The log read whole, as the report read it before, and every stall in it."""
    whole = read_events(path)
    assert whole.last_moment is not None
    return whole, find_stalls(whole.wal_events, whole.gate, whole.policies, whole.last_moment,
                              whole.held)


def _held(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The number of recordings whose events the log drawn from holds, lane by lane."""
    held: list[int] = []
    lane_of = report.lane_of

    def counted(log: LogEvents, wal_id: str, summary: str,
                stall: tuple[float, float] | None) -> Lane:
        held.append(len(log.wal_events))
        return lane_of(log, wal_id, summary, stall)
    monkeypatch.setattr(report, "lane_of", counted)
    return held


def test_the_report_holds_the_events_of_the_lanes_it_draws_only(
        sim_log: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    whole, stalls = _whole_log(sim_log)
    assert len(stalls) > 2
    held = _held(monkeypatch)
    _, summary = build_report(sim_log, limit=2)
    assert held == [2, 2]
    assert (summary.lanes, summary.stalled, summary.omitted) == (2, 2, len(stalls) - 2)
    assert f"of {len(stalls)} stalls in {len(whole.wal_events)} recordings" in summary.notes[0]


def test_all_draws_at_most_all_shown_lanes_and_says_what_it_left_out(
        sim_log: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    whole, stalls = _whole_log(sim_log)
    calm = [w for w in whole.wal_events if w not in {s.wal_id for s in stalls}]
    assert len(stalls) >= 2 and len(calm) >= 2
    monkeypatch.setattr(report, "ALL_SHOWN", len(stalls) + 1, raising=False)
    page, summary = build_report(sim_log, every=True)
    assert summary.lanes == len(stalls) + 1
    lanes = [part.split('"', 1)[0] for part in page.split('class="row lane-row" id="lane-')[1:]]
    assert len(lanes) == len(stalls) + 1
    listed = [part.split('"', 1)[0] for part in page.split('data-wal="')[1:]]
    assert listed[:summary.lanes] == [s.wal_id for s in stalls] + calm[:1]
    left = len(whole.wal_events) - len(stalls) - 1
    assert f"The other {left} are counted, not drawn" in summary.notes[0]
    assert f"The other {left} are counted, not drawn" in page
