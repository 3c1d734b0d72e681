"""A handful of small simulated devices (one SQLite log each) and the answers computed from
each log on its own, with the single-device tools: the reference the fleet must equal."""

from __future__ import annotations

import sqlite3
from collections import Counter
from contextlib import closing
from pathlib import Path
from typing import Any

from attrs import evolve

from walsync.adapters.diagnosis.why import explain_all, projection_at
from walsync.adapters.sim.backend import BackendConfig
from walsync.adapters.sim.fair_use import FairUseConfig
from walsync.adapters.sim.run import run_simulation
from walsync.adapters.sim.scenarios import SCENARIOS, Scenario
from walsync.core.policies import policy_named
from walsync.core.serde import format_time

RESTRICTED = evolve(SCENARIOS["fair_use_backlog"], hours=6.0, wals=20,
                     backend=BackendConfig(fair_use=FairUseConfig(start_stage="restrict",
                                                                  daily_cap_ms=120_000)))
DEVICES: dict[str, tuple[Scenario, int]] = {
    "dev-busy-a": (SCENARIOS["backend_saturation"].with_overrides(hours=4, wals=10), 1),
    "dev-busy-b": (SCENARIOS["backend_saturation"].with_overrides(hours=3, wals=8), 2),
    "dev-fairuse": (RESTRICTED, 2),
    "dev-flaky": (SCENARIOS["flaky_network"].with_overrides(hours=4, wals=10), 3),
    "dev-mixed": (SCENARIOS["mixed"].with_overrides(hours=10, wals=15), 4),
}


def simulate_fleet(folder: Path) -> list[Path]:
    """One log per device, named after it (the file stem is the device id at ingest)."""
    paths = []
    for device, (scenario, seed) in DEVICES.items():
        path = folder / f"{device}.db"
        run_simulation(scenario, policy_named("walsync"), seed, path)
        paths.append(path)
    return paths


def per_device_answers(path: Path) -> dict[str, Any]:
    """What `walsync status`, `why --all` and the log's audit views say about one device."""
    view, _ = projection_at(path)
    gate = view.gate.gate
    with closing(sqlite3.connect(path)) as conn:
        hourly: Counter[tuple[str, str]] = Counter()
        for hour, n in conn.execute("SELECT substr(at, 1, 13) || ':00Z', count(*) FROM upload_answers "
                                    "WHERE http_status = 429 GROUP BY 1"):
            hourly[(hour, "rate_limited_429")] += n
        for hour, reason, n in conn.execute("SELECT substr(at, 1, 13) || ':00Z', reason, count(*) "
                                            "FROM cooldowns WHERE type = 'CooldownStarted' "
                                            "GROUP BY 1, 2"):
            kind = "cooldown_backend_busy" if reason == "backendBusy" else "cooldown_fair_use"
            hourly[(hour, kind)] += n
    return {
        "displays": dict(view.displays_snapshot()),
        "stalled": {r.wal_id: r.to_json() for r in explain_all(path)},
        "gate": (gate.limited, gate.reason if gate.limited else None,
                 format_time(gate.until) if gate.limited and gate.until else None),
        "hourly": hourly,
    }
