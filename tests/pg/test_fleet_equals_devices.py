"""Fleet answers for a simulated fleet equal the per-device answers computed from each
device's own SQLite log (status, why --all, gate, the audit views' hourly counts)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from fleet_sim import per_device_answers

from walsync.adapters.fleet.ingest import ingest_log
from walsync.adapters.fleet.queries import fleet_stats, fleet_status, fleet_why
from walsync.adapters.fleet.store import PgConnection, connect


@pytest.fixture
def fleet(pg_dsn: str, fleet_logs: list[Path]) -> Any:
    conn = connect(pg_dsn, write=True)
    for path in fleet_logs:
        ingest_log(conn, path, path.stem)
    yield conn
    conn.close()


def test_fleet_status_equals_the_sum_of_device_status(fleet: PgConnection,
                                                      fleet_logs: list[Path]) -> None:
    expected = {p.stem: per_device_answers(p) for p in fleet_logs}
    status = fleet_status(fleet, limit=100)
    recordings: Counter[str] = Counter()
    devices: Counter[str] = Counter()
    for answers in expected.values():
        recordings.update(answers["displays"])
        devices.update(answers["displays"].keys())
    assert {k: v["recordings"] for k, v in status["by_display"].items()} == dict(recordings)
    assert {k: v["devices"] for k, v in status["by_display"].items()} == dict(devices)
    reasons = Counter(r["reason"] for a in expected.values() for r in a["stalled"].values())
    assert {k: v["recordings"] for k, v in status["stalled_by_reason"].items()} == dict(reasons)
    assert sum(reasons.values()) > 0  # the fleet has stalls to explain
    gates = Counter(a["gate"][1] or "open" for a in expected.values())
    assert status["gates"] == dict(gates)
    closed = {g["device_id"]: (True, g["reason"], g["until"]) for g in status["closed_gates"]}
    assert closed == {d: a["gate"] for d, a in expected.items() if a["gate"][0]}
    assert status["devices"] == len(fleet_logs)


def test_fleet_why_equals_each_device_why_all(fleet: PgConnection, fleet_logs: list[Path]) -> None:
    found = fleet_why(fleet, limit=10_000)
    by_device: dict[str, dict[str, Any]] = {}
    for stall in found:
        by_device.setdefault(stall["device_id"], {})[stall["wal_id"]] = stall["why"]
    expected = {p.stem: per_device_answers(p)["stalled"] for p in fleet_logs}
    assert by_device == {d: s for d, s in expected.items() if s}
    durations = [s["stalled_seconds"] for s in found]
    assert durations == sorted(durations, reverse=True)  # longest first
    one = fleet_why(fleet, limit=3, device_id="dev-busy-a")
    assert [s["wal_id"] for s in one] == [s["wal_id"] for s in found
                                          if s["device_id"] == "dev-busy-a"][:3]


def test_fleet_stats_equal_the_audit_views_per_hour(fleet: PgConnection,
                                                    fleet_logs: list[Path]) -> None:
    total: Counter[tuple[str, str]] = Counter()
    for path in fleet_logs:
        hourly = per_device_answers(path)["hourly"]
        mine = fleet_stats(fleet, device_id=path.stem)
        assert {(h["hour"], k): n for h in mine["hours"] for k, n in h.items()
                if k != "hour" and n} == dict(hourly), path.stem
        total.update(hourly)
    stats = fleet_stats(fleet)
    assert {(h["hour"], k): n for h in stats["hours"] for k, n in h.items()
            if k != "hour" and n} == dict(total)
    kinds = {k for _, k in total}
    assert {"rate_limited_429", "cooldown_backend_busy", "cooldown_fair_use"} <= kinds
