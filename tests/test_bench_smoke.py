"""Every bench runs at a tiny size and prints its ratios, so none can rot (no timing asserted)."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).parents[1] / "bench"


# bench_fleet needs a server (tests/pg); bench_lifetime's sizes are days (its own test below).
@pytest.mark.parametrize("script", sorted(p for p in BENCH.glob("bench_*.py")
                                           if p.stem not in ("bench_fleet", "bench_lifetime")),
                         ids=lambda p: p.stem)
def test_bench_runs_small(script: Path) -> None:
    done = subprocess.run([sys.executable, str(script), "--n", "50", "--runs", "1"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "ratio" in done.stdout


def test_bench_lifetime_runs_small(tmp_path: Path) -> None:
    """A day and 40 days of a device writing 12 WALs a day (a week tiled), measured by whole
    processes after the default retention: the day's log has no segment, the 40 days' has
    history older than 30 days in one, and all history counts the live log and the segment."""
    done = subprocess.run([sys.executable, str(BENCH / "bench_lifetime.py"), "--n", "12",
                           "--days", "1,40", "--runs", "1", "--dir", str(tmp_path)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "ratio" in done.stdout

    def cells(label: str) -> list[float]:
        line = next(line for line in done.stdout.splitlines() if line.strip().startswith(label))
        return [float(cell.replace(",", "")) for cell in line[len(label) + 2:].split()]
    events, segments = cells("events"), cells("segments, MB")
    assert 0 < events[0] < events[1]
    assert segments[0] == 0.0 and segments[1] > 0.0
    for command in ("open", "status", "why", "log --wal", "timeline"):
        assert all(seconds > 0 for seconds in cells(f"{command}, s")), command
        assert cells(f"{command} ratio to 1 d (target <= 1.2)")[0] > 0, command


def test_durable_floor_writes_what_the_engine_writes(tmp_path: Path) -> None:
    """bench_durable's floor claims to do a decision's required work: the log and tables it
    leaves must be the engine's own, byte for byte."""
    sys.path.insert(0, str(BENCH))
    try:
        import bench_durable
    finally:
        sys.path.remove(str(BENCH))
    from walsync.adapters.store.tables import dump_projection_tables

    (tmp_path / "engine").mkdir()
    (tmp_path / "floor").mkdir()
    bench_durable.engine_rate(tmp_path / "engine", 30)
    bench_durable.floor_rate(tmp_path / "floor", 30)
    found = []
    for side, name in (("engine", "engine.db"), ("floor", "floor.db")):
        conn = sqlite3.connect(tmp_path / side / name)
        try:
            found.append((conn.execute("SELECT * FROM events ORDER BY seq").fetchall(),
                          dump_projection_tables(conn)))
        finally:
            conn.close()
    assert len(found[0][0]) == 31  # the policy, then 30 registrations
    assert found[0] == found[1]
