"""Write the golden logs of the current schema version: `python tests/golden/regenerate.py`.

Logs go to `v{SCHEMA_VERSION}/`; the folders of older versions are never rewritten (they are
what released walsyncs wrote, and must keep replaying through the upcasters as they are).
`--expected-only` refreshes every version's `*.expected.json` from its unchanged log: run it
only when a change to the fold or the explanations is intended, and review the diff.
"""

from __future__ import annotations

import json
import sqlite3
import sys
import tempfile
from pathlib import Path

from attrs import evolve

from walsync.adapters.sim.backend import BackendConfig
from walsync.adapters.sim.fair_use import FairUseConfig
from walsync.adapters.sim.run import run_simulation
from walsync.adapters.sim.scenarios import Scenario, scenario_named
from walsync.adapters.store.records import EVENT_COLUMNS, SELECT_ROWS
from walsync.core.policies import POLICIES
from walsync.core.serde import SCHEMA_VERSION

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
    """The events table as JSON Lines, one row per line, every column as walsync reads it (a
    `prev_hash` the file stores as '' given back in full: records.READ_PREV_HASH)."""
    with sqlite3.connect(db) as conn, out.open("w", encoding="utf-8") as handle:
        for row in conn.execute(SELECT_ROWS + " ORDER BY seq"):
            handle.write(json.dumps(dict(zip(COLUMNS, row, strict=True)), sort_keys=True) + "\n")


def write_expected(log: Path) -> None:
    """The log's expected projections and explanations, as the current code computes them."""
    from golden_replay import expected_outputs

    expected = expected_outputs(log)
    log.with_suffix(".expected.json").write_text(
        json.dumps(expected, indent=1, sort_keys=True, ensure_ascii=False) + "\n",
        encoding="utf-8")
    print(f"wrote {log.parent.name}/{log.stem}: {expected['events']} events, "
          f"{len(expected['why'])} explanations")


def main(expected_only: bool) -> None:
    if expected_only:
        for log in sorted(HERE.glob("v*/*.jsonl")):
            write_expected(log)
        return
    version = HERE / f"v{SCHEMA_VERSION}"
    version.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as folder:
        for name, scenario in golden_scenarios().items():
            db = Path(folder) / f"{name}.db"
            run_simulation(scenario, POLICIES["seed"], 1, db)
            dump_jsonl(db, version / f"{name}.jsonl")
            write_expected(version / f"{name}.jsonl")


if __name__ == "__main__":
    sys.path.insert(0, str(HERE))
    main(expected_only="--expected-only" in sys.argv[1:])
