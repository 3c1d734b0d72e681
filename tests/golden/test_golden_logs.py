"""T12: golden logs of every released schema version replay to the same projections and `why`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from golden_replay import expected_outputs

HERE = Path(__file__).parent
GOLDEN = sorted(HERE.glob("v*/*.jsonl"))


def test_there_are_golden_logs_of_both_incidents() -> None:
    names = {p.stem for p in GOLDEN}
    assert {"fair_use_backlog", "backend_saturation"} <= names


@pytest.mark.parametrize("log", GOLDEN, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_replay_gives_the_recorded_projections_and_explanations(log: Path) -> None:
    expected = json.loads(log.with_suffix(".expected.json").read_text(encoding="utf-8"))
    actual = json.loads(json.dumps(expected_outputs(log), sort_keys=True, ensure_ascii=False))
    assert actual["events"] == expected["events"]
    assert actual["projection_tables"] == expected["projection_tables"]
    for wal_id, why in expected["why"].items():
        assert actual["why"][wal_id] == why, f"the explanation of {wal_id} changed"
    assert set(actual["why"]) == set(expected["why"])


def test_the_golden_incidents_show_what_they_are_kept_for() -> None:
    reasons = {p.stem: {w["reason"] for w in json.loads(
        p.with_suffix(".expected.json").read_text(encoding="utf-8"))["why"].values()}
        for p in GOLDEN}
    chains = json.loads((HERE / "v1" / "backend_saturation.expected.json").read_text(
        encoding="utf-8"))["why"]
    assert any("background worker likely died" in c["sentence"]
               for w in chains.values() for c in w["causal_chain"])
    assert "cooldown_fair_use" in reasons["fair_use_backlog"]
    assert all(w["last_failure"]["classification"] == "backend_busy" and w["retry_count"] == 0
               for w in chains.values())
