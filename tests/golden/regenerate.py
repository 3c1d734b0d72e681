"""Rewrite the golden logs and their expected explanations: `python tests/golden/regenerate.py`.

Run it only when a change to the fold or the explanations is intended; review the diff.
"""

from __future__ import annotations

import json
import sqlite3
import sys
import tempfile
from pathlib import Path

from attrs import evolve

from walsync.adapters.log_records import EVENT_COLUMNS
from walsync.adapters.sim_backend import BackendConfig
from walsync.adapters.sim_fair_use import FairUseConfig
from walsync.adapters.sim_scenarios import Scenario, scenario_named
from walsync.adapters.simulation import run_simulation
from walsync.core.policy import POLICIES

HERE = Path(__file__).parent
COLUMNS = EVENT_COLUMNS


def golden_scenarios() -> dict[str, Scenario]:
    """Small versions of both incidents (a lower fair-use cap so 40 WALs reach it)."""
    fair_use = scenario_named("fair_use_backlog")
    small_cap = FairUseConfig(start_stage="throttle", start_violations=2, daily_cap_ms=600_000)
    return {
        "fair_use_backlog": evolve(fair_use, hours=12.0, wals=40, app_sessions_per_day=30.0,
                                   backend=BackendConfig(fair_use=small_cap)),
        "backend_saturation": scenario_named("backend_saturation").with_overrides(hours=4,
                                                                                  wals=6),
    }


def dump_jsonl(db: Path, out: Path) -> None:
    """The events table as JSON Lines, one row per line, every column verbatim."""
    with sqlite3.connect(db) as conn, out.open("w", encoding="utf-8") as handle:
        for row in conn.execute(f"SELECT {', '.join(COLUMNS)} FROM events ORDER BY seq"):
            handle.write(json.dumps(dict(zip(COLUMNS, row, strict=True)), sort_keys=True) + "\n")


def main() -> None:
    from golden_replay import expected_outputs

    version = HERE / "v1"
    version.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as folder:
        for name, scenario in golden_scenarios().items():
            db = Path(folder) / f"{name}.db"
            run_simulation(scenario, POLICIES["seed"], 1, db)
            dump_jsonl(db, version / f"{name}.jsonl")
            expected = expected_outputs(version / f"{name}.jsonl")
            (version / f"{name}.expected.json").write_text(
                json.dumps(expected, indent=1, sort_keys=True, ensure_ascii=False) + "\n",
                encoding="utf-8")
            print(f"wrote {name}: {expected['events']} events, "
                  f"{len(expected['why'])} explanations")


if __name__ == "__main__":
    sys.path.insert(0, str(HERE))
    main()
