"""T12: golden logs of every released schema version replay to the same projections and `why`.

T14: the logs of older versions are kept byte for byte and replay through the upcasters.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from golden_replay import expected_outputs

from walsync.core.serde import SCHEMA_VERSION

HERE = Path(__file__).parent
GOLDEN = sorted(HERE.glob("v*/*.jsonl"))
# What walsync 1, 2 and 3 wrote. These files are never regenerated: a changed byte breaks the chain
# of evidence that old logs still replay (regenerate.py writes only the current version's folder).
RELEASED = {
    "v1/backend_saturation.jsonl":
        "a0726de2b11911329d3adfc2506048cbbcf7ee0d0172594bc9a6d0195d253afd",
    "v1/fair_use_backlog.jsonl":
        "5a227c589501476a2e4e60338f15cce7584a0b873cd075abfdef1b6e725992bb",
    "v2/backend_saturation.jsonl":
        "9eaff8e21dd753236c330c3256d1c9f80d42cba88b17763009b0b9c090ace6ed",
    "v2/fair_use_backlog.jsonl":
        "4742c7edbec0221828741384de7bd488df0132018f1f3f87735f97cd6bb7b0c8",
    "v3/backend_saturation.jsonl":
        "4ffc0e00df8e92293f86b0afef91d65e4c53ceec88bd330efa251e7e37909ca4",
    "v3/fair_use_backlog.jsonl":
        "8179cc394885293e82cfcebc84de144dec14e6d783c4626b3cde998c63252c62",
}


def test_every_released_schema_version_has_golden_logs() -> None:
    for version in range(1, SCHEMA_VERSION + 1):
        names = {p.stem for p in (HERE / f"v{version}").glob("*.jsonl")}
        assert {"fair_use_backlog", "backend_saturation"} <= names, f"v{version}"
        assert all(p.with_suffix(".expected.json").is_file()
                   for p in (HERE / f"v{version}").glob("*.jsonl"))


@pytest.mark.parametrize("log", GOLDEN, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_golden_rows_are_of_their_folders_version(log: Path) -> None:
    version = int(log.parent.name[1:])
    rows = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]
    assert {r["schema_version"] for r in rows} == {version}


@pytest.mark.parametrize("name", sorted(RELEASED))
def test_released_golden_logs_are_byte_unchanged(name: str) -> None:
    assert hashlib.sha256((HERE / name).read_bytes()).hexdigest() == RELEASED[name]


@pytest.mark.parametrize("log", GOLDEN, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_commit_boundaries_are_in_the_rows_of_v3_on_and_absent_before(log: Path) -> None:
    """Schema v3 records where each commit ends; v1 and v2 rows have no such key at all."""
    version = int(log.parent.name[1:])
    rows = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]
    if version < 3:
        assert all("commit_end" not in r for r in rows)
        return
    ends = [r["commit_end"] for r in rows]
    assert all(isinstance(e, int) and e >= r["seq"] for e, r in zip(ends, rows, strict=True))
    assert ends[-1] == rows[-1]["seq"]
    assert any(e > r["seq"] for e, r in zip(ends, rows, strict=True)), "no commit of two rows"


@pytest.mark.parametrize("name", ["fair_use_backlog", "backend_saturation"])
def test_t14_v1_logs_replay_like_the_v2_logs_of_the_same_incident(name: str) -> None:
    """The same simulated incident written by v1 and by v2: upcast v1 folds to the same tables
    and explanations (the fair-use log holds 14 UploadRateLimited rows with v1's field name)."""
    v1, v2 = (expected_outputs(HERE / v / f"{name}.jsonl") for v in ("v1", "v2"))
    assert v1 == v2


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


def test_the_golden_logs_keep_the_per_member_poll_shape_that_must_still_replay() -> None:
    """Issue 17 moved a job's polls onto its end (`polls_before`); logs written before record
    them per member (`JobPolled`, and from v3 `JobPollsRepeated`). The replay test above keeps
    their `why` (its `job_polls` counts included) as it was: this says the logs hold that shape."""
    for version in ("v1", "v2", "v3"):
        log = HERE / version / "backend_saturation.jsonl"
        rows = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]
        polls = [(r["stream"], json.loads(r["data"])["job_id"]) for r in rows
                 if r["type"] in ("JobPolled", "JobPollsRepeated")]
        assert len({stream for stream, _ in polls}) > len({job for _, job in polls}) > 0, version
        why = json.loads(log.with_suffix(".expected.json").read_text(encoding="utf-8"))["why"]
        assert any((w["job_polls"] or {}).get("polls", 0) > 1 for w in why.values()), version
