"""The simulator's own work per request and per pass does not grow with the recordings it
holds (bench/bench_sim.py measures the cost per event at 1,000 and 20,000 recordings): a
status answer is made from the job record, a retry tap reads only the live recordings."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from walsync.adapters.http.answers import parse_job_status
from walsync.adapters.sim.backend import status_body
from walsync.adapters.sim.inprocess import job_status_of
from walsync.adapters.sim.run import SimulationRun
from walsync.adapters.sim.scenarios import scenario_named
from walsync.core.policies import POLICIES


def _run(tmp_path: Path, name: str, policy: str, hours: float, wals: int) -> SimulationRun:
    scenario = scenario_named(name).with_overrides(hours=hours, wals=wals)
    return SimulationRun([scenario], POLICIES[policy], 3, tmp_path / f"{name}.db")


@pytest.mark.parametrize(("name", "policy", "hours", "wals"), [
    ("backend_saturation", "walsync", 4, 10), ("content_failures", "legacy", 3, 20),
    ("mixed", "walsync", 10, 40)])
def test_the_status_answer_made_from_a_job_is_the_one_parsed_from_its_body(
        tmp_path: Path, name: str, policy: str, hours: float, wals: int) -> None:
    """Every job the model holds, checked after each reconciler pass (queued, processing,
    failed by the stale guard, completed after it, partial, failed): the direct answer equals
    what the HTTP client parses of the body the server sends."""
    run = _run(tmp_path, name, policy, hours, wals)
    seen: Counter[tuple[str, bool]] = Counter()
    reconcile = run.engine.reconcile

    def checked() -> object:
        report = reconcile()
        for job in run.model.jobs.values():
            assert job_status_of(job) == parse_job_status(job.job_id, status_body(job))
            seen[job.status, job.error is not None] += 1
        return report

    run.engine.reconcile = checked  # type: ignore[method-assign]  # a check after each pass
    try:
        run.run(None)
    finally:
        run.engine.close()
    assert seen[("queued", False)] and seen[("failed", True)]
    assert {status for status, _ in seen} >= {"processing", "completed"} or name != "mixed"


def test_a_retry_tap_picks_a_row_showing_the_pill_without_reading_every_row(
        tmp_path: Path) -> None:
    """The user's Retry tap picks a recording whose row shows the Retry pill, reading the
    live recordings only: every row, read from the log, cost each tap as much as all the
    recordings ever made. (That it is the very pick the full row list gave, in the Sync
    page's order, shows in the unchanged incident figures, tests/sim/test_incident_claims.py,
    and in the same log under the same seed, tests/sim/test_determinism.py.)"""
    run = _run(tmp_path, "content_failures", "walsync", 24, 100)
    full_reads = 0
    rows, sync_wal = run.engine.rows, run.engine.sync_wal
    picked: list[str] = []

    def counted() -> object:
        nonlocal full_reads
        full_reads += 1
        return rows()

    def tapped(wal_id: str) -> object:
        assert wal_id in [r.wal_id for r in rows() if r.action == "retry"]
        picked.append(wal_id)
        return sync_wal(wal_id)

    run.engine.rows = counted  # type: ignore[method-assign]  # counts the full reads
    run.engine.sync_wal = tapped  # type: ignore[method-assign]  # the tap's pick, checked
    try:
        run.run(None)
    finally:
        run.engine.close()
    assert picked, "no tap met a row with the Retry pill: the check would be empty"
    assert full_reads == 0
