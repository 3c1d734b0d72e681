"""bench/bench_fleet.py runs at a tiny size against the test server, so it cannot rot (no
timing asserted)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).parents[2] / "bench" / "bench_fleet.py"


def test_bench_fleet_runs_small(pg_dsn: str) -> None:
    done = subprocess.run([sys.executable, str(BENCH), "--devices", "3", "--events", "60",
                           "--big", "200", "--load-devices", "2", "--runs", "2", "--dsn", pg_dsn],
                          capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr
    assert "| devices x events | 3 x 60 = 180 |" in done.stdout
    assert "| pushed tail / raw COPY, all devices |" in done.stdout
    assert "| ingest / raw COPY by CPU (this process + PostgreSQL's), all devices |" in done.stdout
    assert "every tail check and the fold, nothing written, median ms" in done.stdout
    assert "fleet why --limit 10 (asked again), during ingest + rebuild, median ms" in done.stdout
    assert "(first ask: nothing explained yet), during ingest + rebuild" in done.stdout
    assert "on a 200-event device, tail added (push), median ms" in done.stdout
    assert "| ceiling of any cheaper fold: the file's ingest with every check" in done.stdout
    assert "fleet why --limit 10 (first on a new connection), idle, median ms" in done.stdout
    assert "load average (1 min) at the start and end of the queries during ingest" in done.stdout
    assert "explanations as JSON, report_json (now), median ms" in done.stdout
    assert "first on a new connection, with its values in the statement (now)" in done.stdout
    assert "on the reader, prepared with parameters, a reader's generic plan" in done.stdout
    assert "| floor of an ingest from files, every check kept:" in done.stdout
    assert "the best ratio by CPU with a free fold and no other Python per row |" in done.stdout


def test_bench_fleet_bulk_only_stops_after_the_bulk_rows(pg_dsn: str) -> None:
    done = subprocess.run([sys.executable, str(BENCH), "--devices", "2", "--events", "60",
                           "--big", "200", "--runs", "1", "--bulk-only", "--dsn", pg_dsn],
                          capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr
    assert "| ingest / raw COPY, all devices |" in done.stdout
    assert "| floor of an ingest from files, every check kept:" in done.stdout
    assert "tail added (push)" not in done.stdout
    assert "fleet status" not in done.stdout
