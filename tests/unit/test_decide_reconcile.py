"""Pure reconciler decisions: backoff, grouping and every branch of spec section 8."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from attrs import evolve
from hypothesis import given
from hypothesis import strategies as st

from walsync.core.decide_reconcile import (
    RECONCILE_BACKOFF_SECONDS,
    PollStreak,
    group_by_job,
    job_outcome,
    next_poll_delay,
    with_polls,
)
from walsync.core.events import (
    BatchJobCompleted,
    CooldownStarted,
    Event,
    JobCompleted,
    JobFailed,
    JobNotFound,
    JobPolled,
    PollSpan,
    WalCorrupted,
    WalEvent,
)
from walsync.core.gate import Gate, evolve_gate, mark
from walsync.core.policies import LEGACY, REGISTERED, SEED, WALSYNC
from walsync.core.policy import Policy
from walsync.core.responses import (
    JobStatus,
    JobStatusResult,
    JobUnreachable,
    JobVanished,
)
from walsync.core.wal import Wal, evolve_wal

from strategies import job_status_answers, policies

T0 = datetime(2026, 5, 20, 8, 0, tzinfo=UTC)
S = timedelta(seconds=1)
STALE = "Job timed out (background worker likely died)"


def wal(n: int, *, status: str = "uploaded", job: str | None = "job-1", retry: int = 0) -> Wal:
    return Wal(wal_id=f"w{n}", status=status, job_id=job, retry_count=retry,
               file_path=f"{n}.bin", attempt_id="a-1")


MEMBERS = [wal(0), wal(1, retry=2)]
FILES = {"w0": True, "w1": True}


def decide(answer: JobStatusResult, policy: Policy, *, members: list[Wal] = MEMBERS,
           files: dict[str, bool] = FILES, gate: Gate | None = None) -> list[Event]:
    return job_outcome(members, "job-1", answer, gate=gate or Gate(), now=T0, policy=policy,
                       file_exists=files)


def failed(status: str = "failed", error: str | None = STALE, total: int = 0,
           failed_segments: int = 0) -> JobStatus:
    return JobStatus(job_id="job-1", status=status, error=error, total_segments=total,
                     failed_segments=failed_segments, processed_segments=total)


def cooldowns(events: list[Event]) -> list[CooldownStarted]:
    return [e for e in events if isinstance(e, CooldownStarted)]


def job_failures(events: list[Event]) -> list[JobFailed]:
    return [e for e in events if isinstance(e, JobFailed)]


def test_next_poll_delay_follows_the_schedule_then_stays_at_120_s() -> None:
    assert RECONCILE_BACKOFF_SECONDS == (20, 20, 30, 45, 60, 120)
    assert [next_poll_delay(i) for i in range(10)] == [20, 20, 30, 45, 60, 120, 120, 120, 120, 120]
    assert next_poll_delay(10**9) == 120
    assert next_poll_delay(-3) == 20


def test_group_by_job_takes_uploaded_wals_with_a_job_in_first_seen_order() -> None:
    wals = [
        wal(0, job="b"), wal(1, job="a"), wal(2, job="b"),
        wal(3, job=None), wal(4, job=""),
        wal(5, status="miss", job="a"), wal(6, status="synced", job="b"),
        wal(7, status="uploading", job="c"),
    ]
    groups = group_by_job(wals)
    assert list(groups) == ["b", "a"]
    assert [w.wal_id for w in groups["b"]] == ["w0", "w2"]
    assert [w.wal_id for w in groups["a"]] == ["w1"]
    assert group_by_job([]) == {}


@pytest.mark.parametrize("policy", REGISTERED, ids=lambda p: p.name)
def test_transient_leaves_every_member_uploaded(policy: Policy) -> None:
    events = decide(JobUnreachable(http_status=502, detail="bad gateway"), policy)
    assert events == [JobPolled(at=T0, wal_id=w, job_id="job-1", outcome="transient",
                                http_status=502, member_wal_ids=("w0", "w1"),
                                detail="bad gateway") for w in ("w0", "w1")]
    assert [evolve_wal(w, e).status for w, e in zip(MEMBERS, events, strict=True)] == [
        "uploaded", "uploaded"]
    no_detail = decide(JobUnreachable(), policy)
    assert all(e.detail is None and e.http_status is None for e in no_detail)  # type: ignore[attr-defined]


@pytest.mark.parametrize("policy", REGISTERED, ids=lambda p: p.name)
@pytest.mark.parametrize("status", ["queued", "processing"])
def test_non_terminal_records_nothing_it_is_counted_into_the_streak(policy: Policy,
                                                                    status: str) -> None:
    """A job not yet done leaves every member uploaded with nothing to record: the engine
    counts the poll into the job's streak, which rides on the job's end."""
    answer = JobStatus(job_id="job-1", status=status, total_segments=8, processed_segments=5)
    assert decide(answer, policy) == []
    streak = PollStreak.extended(None, answer, T0)
    assert streak.spans == (PollSpan(server_status=status, polls=1, first_poll_at=T0,
                                     last_poll_at=T0, processed_segments=5, total_segments=8),)


def test_a_streak_keeps_one_span_per_answer_and_a_late_answer_counts_as_the_furthest() -> None:
    later = [T0 + timedelta(seconds=20 * i) for i in range(5)]
    streak = None
    for moment, (status, done) in zip(later, [("queued", 0), ("queued", 0), ("processing", 1),
                                              ("queued", 0), ("processing", 3)], strict=True):
        streak = PollStreak.extended(streak, JobStatus(job_id="job-1", status=status,
                                                       total_segments=4,
                                                       processed_segments=done), moment)
    assert streak is not None
    assert [(s.server_status, s.polls, s.first_poll_at, s.last_poll_at, s.processed_segments)
            for s in streak.spans] == [("queued", 2, later[0], later[1], 0),
                                       ("processing", 3, later[2], later[4], 3)]


def test_the_polls_ride_on_the_end_or_come_before_an_end_that_carries_none() -> None:
    streak = PollStreak.extended(None, JobStatus(job_id="job-1", status="queued"), T0)
    done = JobStatus(job_id="job-1", status="completed", total_segments=4)
    ends = with_polls(decide(done, WALSYNC), MEMBERS, "job-1", streak, T0)
    assert [type(e).__name__ for e in ends] == ["BatchJobCompleted"], "one end for the job"
    assert all(e.polls_before == streak.spans for e in ends)  # type: ignore[attr-defined]
    lost = with_polls(decide(JobUnreachable(), WALSYNC), MEMBERS, "job-1", streak, T0)
    assert [type(e).__name__ for e in lost] == ["JobPollsRepeated"] * 2 + ["JobPolled"] * 2
    assert with_polls([], MEMBERS, "job-1", streak, T0) == [], "no answer: the streak goes on"


@pytest.mark.parametrize("policy", REGISTERED, ids=lambda p: p.name)
def test_completed_syncs_every_member_and_carries_the_conversations(policy: Policy) -> None:
    answer = JobStatus(job_id="job-1", status="completed", total_segments=4,
                       successful_segments=4, new_conversations=("c1",),
                       updated_conversations=("c2", "c3"))
    events = decide(answer, policy, gate=evolve_gate(Gate(), mark(
        Gate(), now=T0, reason="rateLimit", requested_seconds=60, policy=policy)))
    assert events == [BatchJobCompleted(at=T0, wal_ids=("w0", "w1"), job_id="job-1", attempt_id="a-1",
                                        total_segments=4, successful_segments=4,
                                        new_conversations=("c1",),
                                        updated_conversations=("c2", "c3"))]
    [end] = events
    assert isinstance(end, BatchJobCompleted)
    assert end.per_member() == [JobCompleted(at=T0, wal_id=w, job_id="job-1", total_segments=4,
                                             successful_segments=4, new_conversations=("c1",),
                                             updated_conversations=("c2", "c3"))
                                for w in ("w0", "w1")]
    folded = [evolve_wal(w, e) for w, e in zip(MEMBERS, end.per_member(), strict=True)]
    assert [(f.status, f.job_id, f.retry_count) for f in folded] == [
        ("synced", None, 0), ("synced", None, 2)]


@pytest.mark.parametrize("policy", [SEED, WALSYNC], ids=lambda p: p.name)
@pytest.mark.parametrize(("status", "error", "total"), [
    ("failed", STALE, 0), ("failed", None, 0), ("failed", STALE, 6), ("partial_failure", STALE, 6)])
def test_a_busy_failure_reverts_without_bump_and_pauses_600_s(policy: Policy, status: str,
                                                               error: str | None,
                                                               total: int) -> None:
    events = decide(failed(status, error, total), policy)
    [started] = cooldowns(events)
    assert events[0] is started  # the pause is decided before the reverts
    assert (started.reason, started.seconds, started.until, started.cause_job_id) == (
        "backendBusy", 600, T0 + 600 * S, "job-1")
    reverts = job_failures(events)
    assert [(e.wal_id, e.classification, e.retry_count, e.retry_count_bumped, e.busy_rule)
            for e in reverts] == [("w0", "backend_busy", 0, False, policy.busy_rule),
                                  ("w1", "backend_busy", 2, False, policy.busy_rule)]
    folded = [evolve_wal(w, e) for w, e in zip(MEMBERS, reverts, strict=True)]
    assert [(f.status, f.job_id, f.retry_count, f.last_retry_at) for f in folded] == [
        ("miss", None, 0, None), ("miss", None, 2, None)]


@pytest.mark.parametrize("policy", REGISTERED, ids=lambda p: p.name)
@pytest.mark.parametrize(("status", "error", "total", "failed_segments"), [
    ("failed", "All 4 segments failed. First error: timeout", 4, 4),
    ("partial_failure", None, 5, 2),
    ("partial_failure", None, 0, 0),
])
def test_a_content_failure_reverts_and_bumps(policy: Policy, status: str, error: str | None,
                                             total: int, failed_segments: int) -> None:
    events = decide(failed(status, error, total, failed_segments), policy)
    assert cooldowns(events) == []
    assert events == [
        JobFailed(at=T0, wal_id=w.wal_id, job_id="job-1", server_status=status,
                  server_error=error, failed_segments=failed_segments, total_segments=total,
                  classification="content", busy_rule=policy.busy_rule,
                  retry_count=w.retry_count + 1, retry_count_bumped=True,
                  member_wal_ids=tuple(m.wal_id for m in MEMBERS))
        for w in MEMBERS]
    folded = [evolve_wal(w, e) for w, e in zip(MEMBERS, events, strict=True)]
    assert [(f.status, f.job_id, f.retry_count, f.last_retry_at) for f in folded] == [
        ("miss", None, 1, T0), ("miss", None, 3, T0)]


@pytest.mark.parametrize(("error", "total"), [(STALE, 0), (None, 0), (STALE, 6)])
def test_legacy_bumps_busy_looking_failures_and_never_pauses(error: str | None,
                                                             total: int) -> None:
    events = decide(failed("failed", error, total), LEGACY)
    assert cooldowns(events) == []
    assert [(e.classification, e.retry_count, e.retry_count_bumped)
            for e in job_failures(events)] == [("content", 1, True), ("content", 3, True)]


@pytest.mark.parametrize("policy", REGISTERED, ids=lambda p: p.name)
@pytest.mark.parametrize("http_status", [404, 403])
def test_vanished_job_with_the_file_present_is_not_found_and_bumps(policy: Policy,
                                                                   http_status: int) -> None:
    events = decide(JobVanished(http_status=http_status), policy)
    assert events == [JobNotFound(at=T0, wal_id=w.wal_id, job_id="job-1",
                                  http_status=http_status, retry_count=w.retry_count + 1,
                                  retry_count_bumped=True) for w in MEMBERS]
    folded = [evolve_wal(w, e) for w, e in zip(MEMBERS, events, strict=True)]
    assert [(f.status, f.job_id, f.retry_count, f.last_retry_at) for f in folded] == [
        ("miss", None, 1, T0), ("miss", None, 3, T0)]


@pytest.mark.parametrize("policy", REGISTERED, ids=lambda p: p.name)
def test_vanished_job_with_the_file_gone_corrupts_the_wal(policy: Policy) -> None:
    events = decide(JobVanished(http_status=404), policy, files={"w0": True})  # w1: unknown
    assert isinstance(events[0], JobNotFound) and events[0].wal_id == "w0"
    assert events[1] == WalCorrupted(at=T0, wal_id="w1", cause="job_not_found", job_id="job-1",
                                     file_path="1.bin")
    gone = evolve_wal(MEMBERS[1], events[1])
    assert (gone.status, gone.job_id, gone.retry_count) == ("corrupted", None, 2)
    assert decide(JobVanished(http_status=404), policy, files={"w0": False, "w1": False}) == [
        WalCorrupted(at=T0, wal_id=w.wal_id, cause="job_not_found", job_id="job-1",
                     file_path=w.file_path) for w in MEMBERS]


def test_seed_treats_a_decode_failure_with_0_segments_as_busy() -> None:
    events = decide(failed("failed", "Decode failed: invalid opus frame", 0), SEED)
    assert [c.reason for c in cooldowns(events)] == ["backendBusy"]
    assert all(not e.retry_count_bumped for e in job_failures(events))


@pytest.mark.parametrize("error", ["Decode failed: invalid opus frame",
                                   "VAD failed for 1 file(s): bad header"])
def test_walsync_bumps_a_typed_content_failure_with_0_segments(error: str) -> None:
    events = decide(failed("failed", error, 0), WALSYNC)
    assert cooldowns(events) == []
    assert [(e.classification, e.retry_count, e.retry_count_bumped)
            for e in job_failures(events)] == [("content", 1, True), ("content", 3, True)]


def test_walsync_treats_dg_budget_as_fair_use_pause_without_bump() -> None:
    error = "DG budget exhausted — audio retained for retry"
    events = decide(failed("failed", error, 6, 6), WALSYNC)
    [started] = cooldowns(events)
    assert (started.reason, started.seconds, started.default_applied, started.cause_job_id) == (
        "rateLimit", 1800, True, "job-1")
    assert [(e.classification, e.retry_count, e.retry_count_bumped)
            for e in job_failures(events)] == [("fair_use_budget", 0, False),
                                               ("fair_use_budget", 2, False)]


def test_seed_lets_dg_budget_burn_the_retry_budget() -> None:
    events = decide(failed("failed", "DG budget exhausted — audio retained for retry", 6, 6), SEED)
    assert cooldowns(events) == []
    assert all(e.retry_count_bumped for e in job_failures(events))


def test_walsync_busy_mark_during_a_longer_fair_use_pause_keeps_the_pause() -> None:
    fair_use = evolve_gate(Gate(), mark(Gate(), now=T0 - 600 * S, reason="rateLimit",
                                        requested_seconds=3 * 3600, policy=WALSYNC))
    [started] = cooldowns(decide(failed(), WALSYNC, gate=fair_use))
    assert (started.reason, started.until) == ("rateLimit", fair_use.until)
    assert (started.requested_reason, started.requested_seconds) == ("backendBusy", 600)
    [seed] = cooldowns(decide(failed(), SEED, gate=fair_use))
    assert (seed.reason, seed.until) == ("backendBusy", T0 + 600 * S)


@given(answer=job_status_answers(), policy=policies(),
       retries=st.lists(st.integers(0, 5), min_size=1, max_size=3),
       files=st.lists(st.booleans(), min_size=3, max_size=3))
def test_any_status_answer_folds_legally_for_every_member(answer: JobStatusResult,
                                                          policy: Policy, retries: list[int],
                                                          files: list[bool]) -> None:
    members = [wal(i, retry=r) for i, r in enumerate(retries)]
    exists = {f"w{i}": f for i, f in enumerate(files)}
    events = decide(answer, policy, members=members, files=exists)
    if isinstance(answer, JobStatus) and not answer.terminal:
        assert events == []  # counted into the job's streak, recorded with its end
        return
    # A completed job's end is one event for its members (each folds it as its own end).
    wal_events = [m for e in events for m in (
        e.per_member() if isinstance(e, BatchJobCompleted) else [e] if isinstance(e, WalEvent)
        else [])]
    assert [e.wal_id for e in wal_events] == [w.wal_id for w in members]
    gate = Gate()
    for e in events:
        if isinstance(e, CooldownStarted):
            gate = evolve_gate(gate, e)
    assert len(cooldowns(events)) <= 1
    for w, e in zip(members, wal_events, strict=True):
        after = evolve_wal(w, e)
        bumped = getattr(e, "retry_count_bumped", False)
        assert after.retry_count == w.retry_count + (1 if bumped else 0)
        if isinstance(e, JobFailed):
            assert bumped == (e.classification == "content")
            assert bool(cooldowns(events)) == (e.classification != "content")
        if after.status != "uploaded":
            assert after.job_id is None


# Regression: JobFailed once dropped the conversations of failed/partial_failure jobs.
@pytest.mark.parametrize("policy", REGISTERED, ids=lambda p: p.name)
def test_conversations_of_a_partial_failure_are_surfaced(policy: Policy) -> None:
    answer = JobStatus(job_id="job-1", status="partial_failure", total_segments=5,
                       failed_segments=2, successful_segments=3, new_conversations=("c1",),
                       updated_conversations=("c2",))
    events = decide(answer, policy)
    surfaced = {c for e in events for c in getattr(e, "new_conversations", ())
                + getattr(e, "updated_conversations", ())}
    assert surfaced == {"c1", "c2"}


def test_a_job_id_the_server_gave_two_requests_ends_once_for_each() -> None:
    """The job's end is stored on the stream of the request that made it (`job:<attempt>`):
    a server that counts its jobs from 1 again after a restart gives a second request an id
    it gave before, and each request's members get their own end (issue 17, T99)."""
    members = [wal(0), evolve(wal(1), attempt_id="a-2"), evolve(wal(2), attempt_id="a-2")]
    ends = decide(JobStatus(job_id="job-1", status="completed"), WALSYNC, members=members,
                  files={"w0": True, "w1": True, "w2": True})
    # A job of one recording ends on its own stream (`JobCompleted`, as before).
    assert [(type(e).__name__, e.stream) for e in ends] == [
        ("JobCompleted", "wal:w0"), ("BatchJobCompleted", "job:a-2")]
    assert [e.wal_ids for e in ends if isinstance(e, BatchJobCompleted)] == [("w1", "w2")]
