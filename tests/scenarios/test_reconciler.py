"""Spec section 8 and the retry budget of section 4: every branch of a reconciler pass."""

from __future__ import annotations

import pytest

from walsync.core.events import BatchJobCompleted
from walsync.core.policies import LEGACY, SEED, WALSYNC
from walsync.core.policy import Policy
from walsync.core.responses import JobStatus, JobVanished, UploadJobAccepted, UploadThrottled

from fakes import Harness, unreachable

STALE = "Job timed out (background worker likely died)"


def uploaded(h: Harness, n: int = 3, job: str = "job-1") -> list[str]:
    wals = h.add(n)
    h.backend.answer_uploads(UploadJobAccepted(job_id=job))
    h.engine.sync_all()
    return wals


def test_transient_and_non_terminal_leave_members_uploaded() -> None:
    """A transient poll is recorded for each member; a job not yet done is counted, and the
    count rides on the job's end (stored once, each member's own)."""
    h = Harness(SEED)
    wals = uploaded(h)
    h.backend.answer_job("job-1", unreachable(), JobStatus(job_id="job-1", status="processing",
                                                           total_segments=8,
                                                           processed_segments=5),
                         JobStatus(job_id="job-1", status="completed", total_segments=8))
    before = h.seq()
    h.engine.reconcile()
    h.engine.reconcile()
    polls = [r.event for r in h.store.read(after=before)]
    assert [(p.outcome, p.wal_id) for p in polls] == [  # type: ignore[attr-defined]
        ("transient", w) for w in wals]
    assert all(h.row(w).state == "uploaded" for w in wals)
    assert h.backend.polls == ["job-1", "job-1"]  # one poll per job, not per member
    h.engine.reconcile()
    ends = [m for r in h.store.read(after=before) if isinstance(r.event, BatchJobCompleted)
            for m in r.event.per_member()]
    assert [(e.wal_id, [(s.server_status, s.polls, s.processed_segments)
                        for s in e.polls_before]) for e in ends] == [
        (w, [("processing", 1, 5)]) for w in wals]


def test_completed_syncs_every_member_and_surfaces_conversations() -> None:
    h = Harness(SEED)
    wals = uploaded(h)
    h.backend.answer_job("job-1", JobStatus(job_id="job-1", status="completed",
                                            total_segments=4, successful_segments=4,
                                            new_conversations=("c1",),
                                            updated_conversations=("c2",)))
    report = h.engine.reconcile()
    assert all(h.row(w).state == "synced" and h.row(w).job_id is None for w in wals)
    assert report.conversations == ["c1", "c2"]
    assert report.next_poll_seconds is None  # nothing uploaded: the reconciler goes quiet
    assert h.engine.card().text == "All recordings synced"


@pytest.mark.parametrize("policy", [SEED, WALSYNC])
def test_stale_guard_failure_is_backend_busy_no_bump_and_a_10_minute_pause(
        policy: Policy) -> None:
    h = Harness(policy)
    wals = uploaded(h)
    h.clock.advance(601)
    h.backend.answer_job("job-1", JobStatus(job_id="job-1", status="failed", error=STALE))
    h.engine.reconcile()
    assert [h.row(w).state for w in wals] == ["miss"] * 3
    assert all(h.row(w).retry_count == 0 for w in wals)
    assert all(h.row(w).text == "Waiting to sync" for w in wals)
    gate = h.engine.gate().gate
    assert gate.reason == "backendBusy" and (gate.until - h.clock.now()).total_seconds() == 600
    assert h.engine.card().text == (
        "Omi servers are busy — your recordings will sync once capacity returns")
    failed = [r.event for r in h.store.read() if r.type == "JobFailed"]
    assert {(f.classification, f.retry_count_bumped, f.server_error)  # type: ignore[attr-defined]
            for f in failed} == {("backend_busy", False, STALE)}


def test_legacy_bumps_on_the_stale_guard_until_the_row_reads_failed() -> None:
    h = Harness(LEGACY)
    [w] = h.add()
    for attempt in range(3):
        h.backend.answer_uploads(UploadJobAccepted(job_id=f"job-{attempt}"))
        h.engine.sync_wal(w)
        h.clock.advance(601)
        h.backend.answer_job(f"job-{attempt}", JobStatus(job_id=f"job-{attempt}",
                                                         status="failed", error=STALE))
        h.engine.reconcile()
    row = h.row(w)
    assert (row.retry_count, row.display, row.text) == (3, "failed", "Failed — tap Retry")
    assert row.action == "retry"
    assert not h.engine.gate().gate.limited
    assert h.engine.card("auto_sync").text == "1 recording need attention"


def test_failed_with_zero_segments_is_busy_under_seed_but_a_decode_failure_counts_under_walsync(
) -> None:
    answer = JobStatus(job_id="job-1", status="failed", error="Decode failed: bad opus frame",
                       total_segments=0)
    counts = {}
    for policy in (SEED, WALSYNC):
        h = Harness(policy)
        [w] = uploaded(h, 1)
        h.backend.answer_job("job-1", answer)
        h.engine.reconcile()
        counts[policy.name] = (h.row(w).retry_count, h.engine.gate().gate.limited)
    assert counts == {"seed": (0, True), "walsync": (1, False)}


def test_content_failure_bumps_and_partial_failure_reverts_the_whole_batch() -> None:
    h = Harness(SEED)
    wals = uploaded(h)
    h.backend.answer_job("job-1", JobStatus(job_id="job-1", status="partial_failure",
                                            total_segments=6, failed_segments=2,
                                            error="segment 3: stt error"))
    h.engine.reconcile()
    assert [(h.row(w).state, h.row(w).retry_count) for w in wals] == [("miss", 1)] * 3
    assert all(h.row(w).text == "Couldn’t process — retrying" for w in wals)
    assert not h.engine.gate().gate.limited


def test_not_found_bumps_when_the_file_exists_and_corrupts_when_it_is_gone() -> None:
    h = Harness(SEED)
    wals = uploaded(h, 2)
    del h.files.contents[wals[1]]
    h.backend.answer_job("job-1", JobVanished(http_status=404))
    h.engine.reconcile()
    assert (h.row(wals[0]).state, h.row(wals[0]).retry_count) == ("miss", 1)
    assert h.row(wals[1]).state == "corrupted"
    assert h.row(wals[1]).job_id is None


def test_reconciler_is_not_gated_and_backs_off_on_its_schedule() -> None:
    h = Harness(SEED)
    uploaded(h, 1, job="job-a")
    h.add(1)
    h.backend.answer_uploads(UploadThrottled())
    h.engine.sync_all()
    assert h.engine.gate().gate.limited
    delays = [h.engine.reconcile().next_poll_seconds for _ in range(8)]
    assert delays == [20, 20, 30, 45, 60, 120, 120, 120]
    assert len(h.backend.polls) == 8


def test_exhausted_budget_still_goes_out_in_batch_sync_but_not_in_orphan_recovery() -> None:
    h = Harness(SEED)
    [w] = h.add(conversation_id="conv")
    for attempt in range(3):
        h.backend.answer_uploads(UploadJobAccepted(job_id=f"j{attempt}"))
        h.engine.sync_wal(w)
        h.backend.answer_job(f"j{attempt}", JobStatus(job_id=f"j{attempt}", status="failed",
                                                      total_segments=3, failed_segments=3,
                                                      error="All 3 segments failed"))
        h.engine.reconcile()
    assert h.row(w).display == "failed"
    uploads = len(h.backend.uploads)
    assert h.engine.recover_orphans() == []
    assert len(h.backend.uploads) == uploads
    h.engine.sync_all()
    assert len(h.backend.uploads) == uploads + 1


def test_walsync_retries_members_of_a_shared_content_failure_alone_and_respects_the_budget(
) -> None:
    outcomes = {}
    for policy in (SEED, WALSYNC):
        h = Harness(policy)
        uploaded(h, 3)
        h.backend.answer_job("job-1", JobStatus(job_id="job-1", status="failed",
                                                total_segments=3, failed_segments=3,
                                                error="All 3 segments failed processing"))
        h.engine.reconcile()
        before = len(h.backend.uploads)
        h.engine.sync_all()
        outcomes[policy.name] = [len(u["files"]) for u in h.backend.uploads[before:]]
    assert outcomes == {"seed": [3], "walsync": [1, 1, 1]}


def test_walsync_batch_sync_leaves_exhausted_rows_to_a_manual_retry() -> None:
    sent = {}
    for policy in (SEED, WALSYNC):
        h = Harness(policy)
        [w] = h.add()
        for n in range(3):
            h.backend.answer_uploads(UploadJobAccepted(job_id=f"j{n}"))
            h.engine.sync_wal(w)
            h.backend.answer_job(f"j{n}", JobStatus(job_id=f"j{n}", status="failed",
                                                    total_segments=2, failed_segments=2,
                                                    error="All 2 segments failed"))
            h.engine.reconcile()
        before = len(h.backend.uploads)
        h.engine.sync_all()
        sent[policy.name] = len(h.backend.uploads) - before
    assert sent == {"seed": 1, "walsync": 0}


class _Counted(str):
    """A conversation id that counts how often it is compared for equality."""

    compared = 0

    def __eq__(self, other: object) -> bool:
        _Counted.compared += 1
        return str.__eq__(self, other)

    __hash__ = str.__hash__


def test_a_pass_ending_many_jobs_gathers_their_conversations_without_searching_a_list() -> None:
    """The report's conversations, each once in the order heard, are checked against a set:
    a pass that ends thousands of jobs (the simulator at 20,000 recordings) searched the
    list for each one, a cost that grew with the square of the jobs ended."""
    h = Harness(SEED)
    h.add(120)
    h.engine.sync_all()
    jobs = sorted({w.job_id for w in h.engine.recordings() if w.job_id is not None})
    assert len(jobs) >= 20
    for job in jobs:
        h.backend.answer_job(job, JobStatus(
            job_id=job, status="completed", total_segments=1, successful_segments=1,
            new_conversations=(_Counted(f"{job}-new"),),
            updated_conversations=(_Counted(f"{job}-updated"), _Counted("shared"))))
    _Counted.compared = 0
    report = h.engine.reconcile()
    assert report.completed > 0
    assert report.conversations == list(dict.fromkeys(
        c for job in jobs for c in (f"{job}-new", f"{job}-updated", "shared")))
    # Each member's end carries its job's three ids: at most one comparison per id looked up
    # (a set's hit), where a list's search compares it with every id gathered before it.
    lookups = 3 * sum(1 for _ in h.engine.rows())
    assert _Counted.compared <= lookups, _Counted.compared
