"""Captures the simulator makes: one recording per chunk, whatever second they fall in."""

from __future__ import annotations

from pathlib import Path

from attrs import evolve

from walsync.adapters.sim.run import SimulationRun
from walsync.adapters.sim.scenarios import scenario_named
from walsync.core.policies import POLICIES


def test_captures_in_the_same_second_get_distinct_recordings(tmp_path: Path) -> None:
    """One WAL a minute, arriving at random: two chunks in one second once stopped the run with
    DuplicateWal; the later one now takes the next free second."""
    scenario = evolve(scenario_named("flaky_network"), hours=0.5, wals=0,
                      network_failure_rate=0.0, lost_answer_rate=0.0,
                      captures_per_day=20_000.0, wals_per_capture=1)
    run = SimulationRun([scenario], POLICIES["walsync"], 1, tmp_path / "c.db")
    try:
        run.run(None)
        ids = [row.wal_id for row in run.engine.rows()]
        assert len(ids) == len(set(ids)) == run.captures > 300
    finally:
        run.engine.close()
