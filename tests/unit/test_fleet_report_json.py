"""`fleet why` makes each explanation JSON without attrs' deep copy (queries.report_json): the
bytes must be those of the report's own `to_json()`, which `walsync why --json` prints, for
every report of simulated logs under each policy, with and without held passes."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from attrs import evolve

from walsync.adapters.diagnosis.why import explain_all
from walsync.adapters.fleet.queries import report_json
from walsync.adapters.sim.run import run_simulation
from walsync.adapters.sim.scenarios import SCENARIOS
from walsync.core.policies import policy_named


@pytest.mark.parametrize("scenario", ["backend_saturation", "mixed"])
@pytest.mark.parametrize("policy", ["walsync", "seed", "legacy"])
def test_report_json_is_the_reports_to_json(tmp_path: Path, policy: str, scenario: str) -> None:
    path = tmp_path / "device.db"
    hours, wals = (4, 10) if scenario == "backend_saturation" else (10, 15)
    run_simulation(SCENARIOS[scenario].with_overrides(hours=hours, wals=wals),
                   policy_named(policy), 1, path)
    reports = list(explain_all(path))
    assert reports  # the log has stalls to explain
    for report in reports:
        assert report_json(report) == orjson.dumps(report.to_json())
        # A report held by a pause names it; its nested values (tuples too) read the same.
        held = evolve(report, held_by=[{"seq": 7, "reason": "rateLimit", "window": (1, 2)}],
                      causal_chain=[*report.causal_chain, {"seq": 8, "ids": ("a", "b")}])
        assert report_json(held) == orjson.dumps(held.to_json())
        assert b'"held_by"' in report_json(held)
