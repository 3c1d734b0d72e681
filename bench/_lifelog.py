"""The log of one device's life: a simulated week, tiled week after week to any number of days.

A week of one realistic device is simulated once (then cached): about one WAL a minute for
16 hours a day (`per_day` WALs, each auto-synced as its capture ends, the app opened a few
times a day), the nights quiet, and the week's incidents: a day of fair-use throttling (an
account at stage throttle pushed past its cap), a morning of a saturated backend (8 hours of
the postprocess pool full), four hours offline (every request fails to connect). The cache
is keyed by a digest of the library's source, so a change to what the engine records
simulates the week again. A log of N days is that week's
rows repeated, each copy a week later: its times, recordings (their timer starts, hence their
ids and file names), jobs, upload attempts (a job's stream is its attempt's) and event ids (32
hex digits again, as the engine's) shifted or renamed, every stream's versions counted
on, cut at N days; the hash chain is computed over the final rows (a valid log). The
projection tables are left empty: the first open builds them.
"""

from __future__ import annotations

import hashlib
import os
import re
import sqlite3
from datetime import datetime, timedelta
from pathlib import Path
from typing import Final

import orjson
from attrs import evolve

from walsync.adapters.sim.backend import BackendConfig
from walsync.adapters.sim.fair_use import FairUseConfig
from walsync.adapters.sim.run import SIM_START, run_simulation
from walsync.adapters.sim.scenarios import Scenario, scenario_named
from walsync.adapters.store.records import GENESIS_HASH, chain_hash, hex_of, insert_rows
from walsync.adapters.store.schema import create_schema
from walsync.core.policies import WALSYNC
from walsync.core.serde import SCHEMA_VERSION

CACHE = Path.home() / ".cache" / "walsync-bench"
WEEK: Final = 7 * 86_400
_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z")
_STAMP = re.compile(r"(omi_|\"timer_start\":)(\d{10})")
_JOB = re.compile(r"\"job-(\d+)\"")
_ATTEMPT = re.compile(r"(\"attempt_id\":\"|^job:)([0-9a-f]{32})")  # in data, and a job's stream
_WEEK_ROWS: Final = (f"SELECT seq, {hex_of('event_id')}, stream, type, schema_version, at, data, "  # noqa: S608 (fixed terms)
                     "commit_end FROM events ORDER BY seq")


def week_phases(per_day: int) -> list[Scenario]:
    """Seven days of 16 waking hours (a day's incident in them) and 8 quiet hours."""
    awake = Scenario(name="awake", summary="one WAL a minute, auto-synced", hours=16.0, wals=0,
                     captures_per_day=per_day * 24 / 16, wals_per_capture=1,
                     app_sessions_per_day=6.0, retry_taps_per_session=0.2)
    night = evolve(awake, name="night", hours=8.0, captures_per_day=0.0,
                   app_sessions_per_day=0.0)
    throttled = evolve(awake, name="throttled", backend=BackendConfig(
        fair_use=FairUseConfig(start_stage="throttle", start_violations=2)))
    saturated = evolve(awake, name="saturated",
                       background=scenario_named("backend_saturation").background)
    offline = evolve(awake, name="offline", hours=4.0, network_failure_rate=1.0)
    before, after = evolve(awake, hours=4.0), evolve(awake, hours=8.0)
    days = [[awake], [throttled], [awake], [saturated], [before, offline, after], [awake],
            [awake]]
    return [phase for day in days for phase in (*day, night)]


def _library_digest() -> str:
    """The first 12 hex digits of a digest of walsync's source (core, adapters, projections)."""
    import walsync.core

    root = Path(walsync.core.__file__).resolve().parent.parent
    digest = hashlib.sha256()
    for folder in ("core", "adapters", "projections"):
        for source in sorted((root / folder).rglob("*.py")):
            digest.update(str(source.relative_to(root)).encode())
            digest.update(source.read_bytes())
    return digest.hexdigest()[:12]


def week_log(per_day: int) -> Path:
    """The simulated week's log (simulated once per size and library source, then cached)."""
    path = CACHE / (f"device-week-{per_day}-per-day-seed1-v{SCHEMA_VERSION}-"
                    f"{_library_digest()}.db")
    if not path.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        scratch = path.with_suffix(f".{os.getpid()}.tmp")  # two builders never share one
        run_simulation(week_phases(per_day), WALSYNC, 1, scratch)
        scratch.rename(path)
    return path


def _renamed(event_id: str, week: int) -> str:
    """A copied event's id: 32 hex digits, as the engine makes them (and stores as bytes)."""
    return hashlib.blake2b(f"{event_id}-{week}".encode(), digest_size=16).hexdigest()


def _shifted(text: str, weeks: int, times: dict[str, str]) -> str:
    found = times.get(text)
    if found is None:
        moment = datetime.fromisoformat(text) + timedelta(seconds=weeks * WEEK)
        found = times[text] = moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return found


def build(path: Path, days: float, per_day: int) -> dict[str, int]:
    """Write the log of `days` days to `path`; its shape (events, recordings)."""
    with sqlite3.connect(week_log(per_day)) as src:
        rows = src.execute(_WEEK_ROWS).fetchall()
    end = SIM_START + timedelta(days=days)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=OFF")
    create_schema(conn)
    conn.execute("BEGIN")
    seq, prev, versions = 0, GENESIS_HASH, dict[str, int]()
    wals = 0
    for week in range(int(days // 7) + 1):
        times: dict[str, str] = {}
        batch = []
        for old_seq, event_id, stream, type_name, schema_v, at, data, commit_end in rows:
            if week:
                if type_name == "PolicyApplied":
                    continue
                at = _shifted(at, week, times)
                event_id = _renamed(event_id, week)
                stream = _STAMP.sub(lambda m, w=week: f"{m[1]}{int(m[2]) + w * WEEK}", stream)
                stream = _ATTEMPT.sub(lambda m, w=week: f"{m[1]}{m[2]}-{w}", stream)
                data = _TIME.sub(lambda m, w=week, t=times: _shifted(m[0], w, t), data)
                data = _STAMP.sub(lambda m, w=week: f"{m[1]}{int(m[2]) + w * WEEK}", data)
                data = _JOB.sub(lambda m, w=week: f'"job-{w}-{m[1]}"', data)
                data = _ATTEMPT.sub(lambda m, w=week: f"{m[1]}{m[2]}-{w}", data)
            if datetime.fromisoformat(at) >= end:
                break
            seq += 1
            version = versions[stream] = versions.get(stream, 0) + 1
            wals += type_name == "WalRegistered"
            ends = None if commit_end is None else seq + (commit_end - old_seq)
            digest = chain_hash(prev, seq=seq, event_id=event_id, stream=stream,
                                version=version, type_name=type_name, schema_version=schema_v,
                                at=at, data=orjson.Fragment(data), commit_end=ends)
            batch.append((seq, event_id, stream, version, type_name, schema_v, at, data, prev,
                          digest, ends))
            prev = digest
        insert_rows(conn, batch)
    conn.execute("COMMIT")
    conn.close()
    return {"events": seq, "wals": wals}
