"""The table, the shared Machine and the replay fold agree on every (state, trigger) pair."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

import pytest

from walsync.core.diagram import state_diagram_mermaid
from walsync.core.errors import IllegalTransition
from walsync.core.events import (
    EVENT_TYPES,
    AutoSyncSkipped,
    JobCompleted,
    JobFailed,
    JobNotFound,
    JobPolled,
    JobPollsRepeated,
    UploadAccepted,
    UploadCancelled,
    UploadFailed,
    UploadOutcomeUnknown,
    UploadRateLimited,
    UploadSkipped,
    UploadStarted,
    UploadSynced,
    WalCorrupted,
    WalDeleted,
    WalEvent,
    WalRegistered,
)
from walsync.core.machine import allowed_dest, guard_machine
from walsync.core.states import NEXT_STATE, STATES, TRANSITIONS, TRIGGERS, next_state
from walsync.core.wal import Wal, evolve_wal

ROOT = Path(__file__).parents[2]
DOC = ROOT / "docs" / "state-diagram.md"
AT = datetime(2026, 5, 20, 8, 0, tzinfo=UTC)
W = "phone_1779264000"

SAMPLE: dict[str, WalEvent] = {
    "register": WalRegistered(at=AT, wal_id=W, timer_start=1779264000),
    "register_delivered": WalRegistered(at=AT, wal_id=W, timer_start=1779264000, delivered=True),
    "start_upload": UploadStarted(at=AT, wal_id=W, attempt_id="a1", path="batch", batch=(W,)),
    "skip_upload": UploadSkipped(at=AT, wal_id=W, path="auto", gate_reason="rateLimit",
                                 gate_until=AT),
    "cancel_upload": UploadCancelled(at=AT, wal_id=W, path="batch", run_id="r1"),
    "mark_corrupted": WalCorrupted(at=AT, wal_id=W, cause="file_missing"),
    "upload_synced": UploadSynced(at=AT, wal_id=W, attempt_id="a1"),
    "upload_accepted": UploadAccepted(at=AT, wal_id=W, attempt_id="a1", job_id="j1"),
    "upload_rate_limited": UploadRateLimited(at=AT, wal_id=W, attempt_id="a1", retry_count=0,
                                             retry_count_bumped=False),
    "upload_failed": UploadFailed(at=AT, wal_id=W, attempt_id="a1", kind="server_error",
                                  http_status=500, message="Server is temporarily unavailable",
                                  retry_count=1, retry_count_bumped=True),
    "upload_outcome_unknown": UploadOutcomeUnknown(at=AT, wal_id=W, attempt_id="a1",
                                                   detail="read timeout"),
    "poll_job": JobPolled(at=AT, wal_id=W, job_id="j1", outcome="transient"),
    "job_completed": JobCompleted(at=AT, wal_id=W, job_id="j1"),
    "job_failed": JobFailed(at=AT, wal_id=W, job_id="j1", server_status="failed",
                            classification="content", busy_rule="structural", retry_count=1,
                            retry_count_bumped=True),
    "job_not_found": JobNotFound(at=AT, wal_id=W, job_id="j1", http_status=404, retry_count=1,
                                 retry_count_bumped=True),
    "delete": WalDeleted(at=AT, wal_id=W),
}

# Event types that take an edge another type also takes (a skip, a poll).
SHARING: Final = (
    AutoSyncSkipped(at=AT, wal_id=W, setting="custom_stt"),
    JobPollsRepeated(at=AT, wal_id=W, job_id="j1", polls=3, first_poll_at=AT, last_poll_at=AT,
                     server_status="queued"),
)

PAIRS = [(s, t) for s in STATES for t in TRIGGERS]


def test_every_trigger_has_a_sample_event_of_that_trigger() -> None:
    assert set(SAMPLE) == set(TRIGGERS)
    for trigger, event in SAMPLE.items():
        assert event.trigger == trigger


def test_every_wal_event_type_names_a_trigger_of_the_table() -> None:
    wal_types = {cls for cls in EVENT_TYPES.values() if issubclass(cls, WalEvent)}
    assert wal_types == {type(e) for e in (*SAMPLE.values(), *SHARING)}
    assert all(e.trigger in TRIGGERS for e in SHARING)
    assert {t for _, t, _ in TRANSITIONS} == set(TRIGGERS)
    assert {s for s, _, _ in TRANSITIONS} | {d for _, _, d in TRANSITIONS} <= set(STATES)


def test_the_table_has_no_duplicate_edges() -> None:
    assert len(NEXT_STATE) == len(TRANSITIONS)


@pytest.mark.parametrize(("state", "trigger"), PAIRS, ids=[f"{s}-{t}" for s, t in PAIRS])
def test_table_machine_and_fold_agree(state: str, trigger: str) -> None:
    expected = NEXT_STATE.get((state, trigger))
    assert next_state(state, trigger) == expected
    assert allowed_dest(state, trigger) == expected
    wal = Wal(wal_id=W, status=state, version=4)
    if expected is None:
        with pytest.raises(IllegalTransition) as refused:
            evolve_wal(wal, SAMPLE[trigger])
        assert (refused.value.state, refused.value.trigger, refused.value.wal_id) == (
            state, trigger, W)
    else:
        folded = evolve_wal(wal, SAMPLE[trigger])
        assert folded.status == expected
        assert folded.version == 5


def test_a_first_event_folds_from_nothing_as_from_new() -> None:
    assert evolve_wal(None, SAMPLE["register"]).status == "miss"
    assert evolve_wal(None, SAMPLE["register_delivered"]).status == "synced"
    with pytest.raises(IllegalTransition):
        evolve_wal(None, SAMPLE["start_upload"])


def test_the_fold_carries_the_fields_of_spec_section_3() -> None:
    wal = Wal(wal_id=W, status="uploading", retry_count=2)
    accepted = evolve_wal(wal, SAMPLE["upload_accepted"])
    assert (accepted.job_id, accepted.uploaded_at) == ("j1", AT)
    reverted = evolve_wal(accepted, SAMPLE["job_failed"])
    assert (reverted.status, reverted.job_id, reverted.retry_count, reverted.last_retry_at) == (
        "miss", None, 1, AT)
    not_bumped = JobFailed(at=AT, wal_id=W, job_id="j1", server_status="failed",
                           classification="backend_busy", busy_rule="structural",
                           retry_count=2, retry_count_bumped=False)
    kept = evolve_wal(accepted, not_bumped)
    assert (kept.retry_count, kept.last_retry_at, kept.job_id) == (2, None, None)


def test_the_guard_machine_is_one_shared_object() -> None:
    first = guard_machine()
    assert guard_machine() is first
    assert id(guard_machine()) == id(first)
    assert first.models == []  # built with model=None: asked, never carries per-WAL models


def _mermaid_blocks(markdown: str) -> list[str]:
    return re.findall(r"^```mermaid\n(.*?)^```", markdown, flags=re.DOTALL | re.MULTILINE)


def test_mermaid_block_extraction_sees_a_stale_diagram() -> None:
    fresh = state_diagram_mermaid()
    assert _mermaid_blocks(f"x\n```mermaid\n{fresh}```\n") == [fresh]
    stale = fresh.replace("register_delivered", "register_live")
    assert fresh not in _mermaid_blocks(f"```mermaid\n{stale}```\n")


def test_the_docs_diagram_is_the_generated_one() -> None:
    hint = "run `python -m walsync.adapters.cli.main diagram --write --force` to regenerate it"
    if not DOC.exists():
        pytest.fail(f"{DOC.relative_to(ROOT)} does not exist: {hint}")
    blocks = _mermaid_blocks(DOC.read_text(encoding="utf-8"))
    assert state_diagram_mermaid() in blocks, f"{DOC.relative_to(ROOT)} is stale: {hint}"


def test_the_diagram_draws_every_edge_of_the_table() -> None:
    text = state_diagram_mermaid()
    for source, trigger, dest in TRANSITIONS:
        edge = re.search(rf"^\s*{source} --> {dest}: (.*)$", text, flags=re.MULTILINE)
        assert edge is not None, (source, dest)
        assert trigger in [t.strip() for t in edge.group(1).split("|")]
