"""A big log with a realistic mix: a simulated incident's log, tiled with renamed recordings.

Simulating a million events takes minutes, so one simulated log (the `mixed` incident under
the legacy policy: throttling, a saturated backend, content failures, polls) is cached and
repeated with every recording renamed per copy until the log holds the events asked for.
Copy 0 keeps the gate and run events; later copies add recordings only. The hash chain is
computed over the final rows, so the result is a valid log (walsync verify passes).
"""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import orjson

from walsync.adapters.sim.run import run_simulation
from walsync.adapters.sim.scenarios import scenario_named
from walsync.adapters.store.records import (
    COMMIT_BOUNDARY_VERSION,
    GENESIS_HASH,
    chain_hash,
    hex_of,
    insert_rows,
)
from walsync.adapters.store.schema import PROJECTION_TABLES, create_schema
from walsync.core.policies import LEGACY
from walsync.core.serde import SCHEMA_VERSION

CACHE = Path.home() / ".cache" / "walsync-bench"
SOURCE = {"scenario": "mixed", "wals": 100, "hours": 48.0, "seed": 1}
WAL_TOKEN = re.compile(r'"([A-Za-z0-9]+_[0-9]+)"')


def source_log() -> Path:
    """The simulated log the big log is tiled from (simulated once, then cached)."""
    path = CACHE / f"mixed-legacy-100w-48h-seed1-v{SCHEMA_VERSION}.db"
    if not path.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        scenario = scenario_named(str(SOURCE["scenario"])).with_overrides(
            hours=float(SOURCE["hours"]), wals=int(SOURCE["wals"]))
        run_simulation(scenario, LEGACY, int(SOURCE["seed"]), path.with_suffix(".tmp"))
        path.with_suffix(".tmp").rename(path)
    return path


def build(path: Path, events: int) -> dict[str, int]:
    """Write a log of `events` events to `path` (projection tables empty); its shape."""
    with sqlite3.connect(source_log()) as src:
        rows = src.execute(f"SELECT {hex_of('event_id')}, stream, version, type, schema_version, at, data "  # noqa: S608 (fixed terms)
                           "FROM events ORDER BY seq").fetchall()
    wal_ids = {stream[4:] for _, stream, *_ in rows if stream.startswith("wal:")}
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=OFF")
    create_schema(conn)
    conn.execute("BEGIN")
    seq, prev, copy, streams = 0, GENESIS_HASH, 0, set()
    while seq < events:
        batch = []
        for event_id, stream, version, type_name, schema_v, at, data in rows:
            if seq >= events:
                break
            if copy:
                if not stream.startswith("wal:"):
                    continue
                stream = f"wal:{stream[4:]}-{copy}"
                event_id = f"{event_id}-{copy}"
                data = WAL_TOKEN.sub(lambda m, c=copy: renamed(m, c, wal_ids), data)
            seq += 1
            commit_end = seq if schema_v >= COMMIT_BOUNDARY_VERSION else None  # a commit each
            digest = chain_hash(prev, seq=seq, event_id=event_id, stream=stream, version=version,
                                type_name=type_name, schema_version=schema_v, at=at,
                                data=orjson.Fragment(data), commit_end=commit_end)
            batch.append((seq, event_id, stream, version, type_name, schema_v, at, data, prev,
                          digest, commit_end))
            streams.add(stream)
            prev = digest
        insert_rows(conn, batch)
        copy += 1
    conn.execute("COMMIT")
    conn.close()
    return {"events": seq, "wals": sum(1 for s in streams if s.startswith("wal:")),
            "copies": copy}


def renamed(match: re.Match[str], copy: int, wal_ids: set[str]) -> str:
    token = match.group(1)
    return f'"{token}-{copy}"' if token in wal_ids else match.group(0)


def empty_projection_tables(path: Path) -> None:
    """Make the next open rebuild every projection from the log."""
    with sqlite3.connect(path) as conn:
        for table in PROJECTION_TABLES:
            conn.execute(f"DELETE FROM {table}")  # noqa: S608 (fixed names)
