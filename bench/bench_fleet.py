"""Fleet scale: ingest a simulated fleet into PostgreSQL (C8 checks, COPY, projections) and time
the fleet queries. Prints events ingested per second and each query's median latency.

    .venv/bin/python bench/bench_fleet.py [--devices 1000] [--events 2000] [--runs 5] [--dsn DSN]

Device logs come from a few simulated `mixed` incidents (different seeds), cut to --events
rows each (a prefix is the log as it was at that seq) and ingested under --devices distinct
device ids, each one checked in full as hostile input. Without --dsn (or WALSYNC_PG_DSN) the
bench starts a throwaway PostgreSQL with default durability (fsync on). Everything goes
into a fresh schema that is dropped at the end.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import Any

import orjson
import psycopg
from psycopg.conninfo import make_conninfo

from walsync.adapters.fleet.ingest import ingest_log, read_checked_log
from walsync.adapters.fleet.queries import fleet_stats, fleet_status, fleet_why
from walsync.adapters.fleet.store import connect
from walsync.adapters.sim.run import run_simulation
from walsync.adapters.sim.scenarios import SCENARIOS
from walsync.adapters.store.records import chain_hash
from walsync.core.policies import policy_named

# The throwaway server is a test helper (kept out of the wheel): found beside the tests.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from pg_temp_server import TempServer, find_bin_dir

TEMPLATES = 4


def make_templates(folder: Path, events: int) -> list[Path]:
    """A few simulated device logs of at least `events` rows, cut to exactly that many."""
    paths = []
    for seed in range(1, TEMPLATES + 1):
        wals, path = max(5, events // 8), folder / f"template-{seed}.db"
        while True:
            scenario = SCENARIOS["mixed"].with_overrides(wals=wals)
            run_simulation(scenario, policy_named("walsync"), seed, path)
            with closing(sqlite3.connect(path, isolation_level=None)) as conn:
                if int(conn.execute("SELECT count(*) FROM events").fetchone()[0]) >= events:
                    conn.execute("DELETE FROM events WHERE seq > ?", [events])
                    _end_commit_at(conn, events)
                    break
            wals *= 2
        paths.append(path)
    return paths


def _end_commit_at(conn: sqlite3.Connection, last: int) -> None:
    """A log cut inside a commit fails verification: the rows left of that commit are made a
    commit of their own (their boundary and hashes rewritten), as if it had ended there."""
    rows = conn.execute("SELECT seq, event_id, stream, version, type, schema_version, at, data, "
                        "prev_hash FROM events WHERE commit_end > ? ORDER BY seq", [last]).fetchall()
    prev = rows[0][8] if rows else ""
    for seq, event_id, stream, version, type_name, schema_version, at, data, _ in rows:
        prev = chain_hash(prev, seq=seq, event_id=event_id, stream=stream, version=version,
                          type_name=type_name, schema_version=schema_version, at=at,
                          data=orjson.loads(data), commit_end=last)
        conn.execute("UPDATE events SET commit_end = ?, hash = ? WHERE seq = ?", [last, prev, seq])
        conn.execute("UPDATE events SET prev_hash = ? WHERE seq = ?", [prev, seq + 1])


def median_ms(fn: Callable[[], Any], runs: int) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def run(dsn: str, devices: int, events: int, runs: int, folder: Path) -> list[tuple[str, str]]:
    templates = make_templates(folder, events)
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(dsn, autocommit=True) as admin:
        admin.execute(f"CREATE SCHEMA {schema}".encode())
    conn = connect(make_conninfo(dsn, options=f"-c search_path={schema}"))
    try:
        checking = loading = 0.0
        total = 0
        for i in range(devices):
            path = templates[i % len(templates)]
            device_id = f"device-{i:06d}"
            started = time.perf_counter()
            rows = read_checked_log(path, device_id)
            middle = time.perf_counter()
            total += ingest_log(conn, path, device_id, rows=rows).added
            checking, loading = checking + middle - started, loading + time.perf_counter() - middle
            if devices >= 20 and (i + 1) % max(1, devices // 10) == 0:
                print(f"  ingested {i + 1}/{devices} devices", file=sys.stderr)
        again = time.perf_counter()
        assert ingest_log(conn, templates[0], "device-000000").added == 0
        repeat_ms = (time.perf_counter() - again) * 1000
        elapsed = checking + loading
        return [
            ("devices x events", f"{devices:,} x {events:,} = {total:,}"),
            ("ingest, events/s (all steps)", f"{total / elapsed:,.0f}"),
            ("  of which C8 checks + replay, s", f"{checking:.1f}"),
            ("  of which COPY + fleet projections, s", f"{loading:.1f}"),
            ("re-ingest of an ingested log (adds 0), ms", f"{repeat_ms:.0f}"),
            ("fleet status, median ms", f"{median_ms(lambda: fleet_status(conn), runs):.1f}"),
            ("fleet why (10 longest), median ms",
             f"{median_ms(lambda: fleet_why(conn, limit=10), runs):.1f}"),
            ("fleet stats (per hour), median ms", f"{median_ms(lambda: fleet_stats(conn), runs):.1f}"),
            ("fleet stats of one device, median ms",
             f"{median_ms(lambda: fleet_stats(conn, device_id='device-000001'), runs):.1f}"),
        ]
    finally:
        conn.close()
        with psycopg.connect(dsn, autocommit=True) as admin:
            admin.execute(f"DROP SCHEMA {schema} CASCADE".encode())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--devices", type=int, default=1000)
    parser.add_argument("--events", type=int, default=2000, help="events per device")
    parser.add_argument("--runs", type=int, default=5, help="runs of each query")
    parser.add_argument("--dsn", default=os.environ.get("WALSYNC_PG_DSN"))
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="walsync-bench-fleet-"))
    server = None
    try:
        dsn = args.dsn
        if not dsn:
            bin_dir = find_bin_dir()
            if bin_dir is None:
                sys.exit("no PostgreSQL server binary found: install postgresql or pass --dsn")
            server = TempServer(bin_dir, fast=False)
            dsn = server.start()
        table = run(dsn, args.devices, args.events, args.runs, folder)
    finally:
        if server is not None:
            server.stop()
        shutil.rmtree(folder, ignore_errors=True)
    print("| fleet bench | value |\n|---|---:|")
    for name, value in table:
        print(f"| {name} | {value} |")


if __name__ == "__main__":
    main()
