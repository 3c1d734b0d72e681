"""Pure decisions of one reconciler step: a job's status answer and what it does to its WALs."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Final

from attrs import evolve, frozen

from walsync.core.classify import classify_job_failure
from walsync.core.events import (
    AnswerIgnored,
    BatchJobCompleted,
    Event,
    JobCompleted,
    JobFailed,
    JobNotFound,
    JobPolled,
    JobPollsRepeated,
    PollSpan,
    WalCorrupted,
)
from walsync.core.gate import Gate, mark
from walsync.core.policy import Policy
from walsync.core.responses import JobStatus, JobStatusResult, JobUnreachable, JobVanished
from walsync.core.states import UPLOADED
from walsync.core.wal import Wal

__all__ = ["RECONCILE_BACKOFF_SECONDS", "PollStreak", "group_by_job", "job_outcome", "next_poll_delay",
           "poll_slices", "repeated_polls", "with_polls"]

RECONCILE_BACKOFF_SECONDS: Final = (20, 20, 30, 45, 60, 120)


def next_poll_delay(idle_streak: int) -> int:
    """SyncReconciler's backoff: indexed by the idle streak, then stays at 120 s."""
    index = min(max(idle_streak, 0), len(RECONCILE_BACKOFF_SECONDS) - 1)
    return RECONCILE_BACKOFF_SECONDS[index]


def group_by_job(wals: Sequence[Wal]) -> dict[str, list[Wal]]:
    """`uploaded` WALs with a job id, grouped by job id in first-seen order."""
    groups: dict[str, list[Wal]] = {}
    for w in wals:
        if w.status == UPLOADED and w.job_id:
            groups.setdefault(w.job_id, []).append(w)
    return groups


def poll_slices(job_ids: Iterable[str], size: int) -> list[list[str]]:
    """The jobs of one pass in slices of `size` asked at once, in job-id order: however the
    answers of a slice arrive, they are recorded in this order (replay and the simulator stay
    deterministic)."""
    ordered = sorted(job_ids)
    return [ordered[i:i + size] for i in range(0, len(ordered), size)]


_STATUS_RANK: Final = {"queued": 0, "processing": 1}


def _progress(status: str, processed: int) -> tuple[int, int]:
    """How far a job that is not done says it got (an unknown status: nowhere)."""
    return _STATUS_RANK.get(status, -1), processed


@frozen(kw_only=True)
class PollStreak:
    """The polls of one job not recorded one by one: one span per answer, in the order heard.
    They ride on the event that records the job's end (`polls_before`), or are summarized
    (`JobPollsRepeated`) before an end that carries none, or when the engine closes."""

    spans: tuple[PollSpan, ...]

    @classmethod
    def extended(cls, streak: PollStreak | None, answer: JobStatus, now: datetime) -> PollStreak:
        """The streak with one more poll, `answer`, at `now`: into the span of its answer, or,
        when it is behind the furthest answer heard (late or repeated), into that one's."""
        spans = list(streak.spans) if streak else []
        heard = _progress(answer.status, answer.processed_segments)
        furthest, reached = None, None  # the first span of the furthest progress heard
        for i, span in enumerate(spans):
            progress = _progress(span.server_status, span.processed_segments)
            if reached is None or progress > reached:
                furthest, reached = i, progress
        if reached is not None and heard <= reached:
            index: int | None = furthest
        else:
            index = next((i for i, s in enumerate(spans) if s.server_status == answer.status), None)
        if index is None:
            spans.append(PollSpan(server_status=answer.status, polls=1, first_poll_at=now,
                                  last_poll_at=now, processed_segments=answer.processed_segments,
                                  total_segments=answer.total_segments))
        else:  # a new span, not `evolve` (several times its cost; this runs per poll)
            span = spans[index]
            further = heard > _progress(span.server_status, span.processed_segments)
            spans[index] = PollSpan(
                server_status=span.server_status, polls=span.polls + 1,
                first_poll_at=span.first_poll_at, last_poll_at=now,
                processed_segments=answer.processed_segments if further
                else span.processed_segments,
                total_segments=answer.total_segments if further else span.total_segments)
        return cls(spans=tuple(spans))


def _waits_on(wal: Wal, job_id: str) -> bool:
    """Is the member still waiting on the job (one that moved on lost interest in it)?"""
    return wal.status == UPLOADED and wal.job_id == job_id


def _waiting(members: Sequence[Wal], job_id: str) -> list[Wal]:
    """The members still waiting on the job."""
    return [w for w in members if _waits_on(w, job_id)]


def repeated_polls(members: Sequence[Wal], job_id: str, streak: PollStreak | None,
                   now: datetime) -> list[Event]:
    """The streak's summary: per member still waiting on the job, one event per answer;
    nothing without a streak."""
    if streak is None:
        return []
    return [JobPollsRepeated(at=now, wal_id=w.wal_id, job_id=job_id, polls=span.polls,
                             first_poll_at=span.first_poll_at, last_poll_at=span.last_poll_at,
                             server_status=span.server_status,
                             processed_segments=span.processed_segments,
                             total_segments=span.total_segments)
            for w in _waiting(members, job_id) for span in streak.spans]


def with_polls(outcome: Sequence[Event], members: Sequence[Wal], job_id: str,
               streak: PollStreak | None, now: datetime) -> list[Event]:
    """The job's answer with the polls before it: on each member's `JobCompleted` or
    `JobFailed` (`polls_before`: no event of their own), as a summary before any other answer
    (a transient poll, a vanished job). An answer a member ignored carries none."""
    if streak is None or not outcome:  # no answer to record: the streak goes on
        return list(outcome)
    ends: list[Event] = []
    carried: set[str] = set()
    for event in outcome:
        if isinstance(event, BatchJobCompleted) and event.job_id == job_id:
            event = evolve(event, polls_before=streak.spans)
            carried.update(event.wal_ids)
        elif isinstance(event, JobCompleted | JobFailed) and event.job_id == job_id:
            event = evolve(event, polls_before=streak.spans)
            carried.add(event.wal_id)
        ends.append(event)
    return repeated_polls([w for w in members if w.wal_id not in carried], job_id, streak,
                          now) + ends


def _vanished(members: Sequence[Wal], job_id: str, answer: JobVanished,
              file_exists: Mapping[str, bool], now: datetime) -> list[Event]:
    events: list[Event] = []
    for w in members:
        if file_exists.get(w.wal_id, False):
            events.append(JobNotFound(at=now, wal_id=w.wal_id, job_id=job_id,
                                      http_status=answer.http_status,
                                      retry_count=w.retry_count + 1, retry_count_bumped=True))
        else:
            events.append(WalCorrupted(at=now, wal_id=w.wal_id, cause="job_not_found",
                                       job_id=job_id, file_path=w.file_path))
    return events


def _terminal_failure(members: Sequence[Wal], job_id: str, status: JobStatus, gate: Gate,
                      now: datetime, policy: Policy) -> list[Event]:
    kind = classify_job_failure(status.status, status.error, status.total_segments,
                                policy.busy_rule)
    events: list[Event] = []
    if kind in ("backend_busy", "fair_use_budget"):
        busy = kind == "backend_busy"
        started = mark(gate, now=now, reason="backendBusy" if busy else "rateLimit",
                       requested_seconds=policy.backend_busy_cooldown_seconds if busy else None,
                       policy=policy, cause_job_id=job_id)
        # Several busy jobs in one pass ask for the very same pause: a repeat is not recorded.
        asked = (started.requested_reason, now + timedelta(seconds=started.requested_seconds))
        if not (gate.blocks(now) and (gate.reason, gate.until) == asked):
            events.append(started)
    bumped = kind == "content"
    for w in members:
        events.append(JobFailed(
            at=now, wal_id=w.wal_id, job_id=job_id, server_status=status.status,
            server_error=status.error, failed_segments=status.failed_segments,
            total_segments=status.total_segments, classification=kind,
            busy_rule=policy.busy_rule, retry_count=w.retry_count + (1 if bumped else 0),
            retry_count_bumped=bumped, new_conversations=status.new_conversations,
            updated_conversations=status.updated_conversations,
            member_wal_ids=tuple(m.wal_id for m in members)))
    return events


def job_outcome(
    members: Sequence[Wal],
    job_id: str,
    answer: JobStatusResult,
    *,
    gate: Gate,
    now: datetime,
    policy: Policy,
    file_exists: Mapping[str, bool],
) -> list[Event]:
    """Every branch of spec section 8 for one job and its member WALs.

    A member that has meanwhile left this job (another writer settled or re-uploaded it) gets
    an `AnswerIgnored` audit record instead: a stale answer never changes a recording (T18).
    """
    current = _waiting(members, job_id)
    server_status = answer.status if isinstance(answer, JobStatus) else None
    ignored: list[Event] = [
        AnswerIgnored(at=now, wal_id=w.wal_id, answer="job_status", job_id=job_id,
                      server_status=server_status,
                      reason=f"the recording is {w.status} with job {w.job_id or 'none'} now")
        for w in members if not _waits_on(w, job_id)]
    if not current:
        return ignored
    return ignored + _current_outcome(current, job_id, answer, gate=gate, now=now, policy=policy,
                                      file_exists=file_exists)


def _current_outcome(members: Sequence[Wal], job_id: str, answer: JobStatusResult, *, gate: Gate,
                     now: datetime, policy: Policy, file_exists: Mapping[str, bool]) -> list[Event]:
    if isinstance(answer, JobUnreachable):
        member_ids = tuple(w.wal_id for w in members)
        return [JobPolled(at=now, wal_id=w.wal_id, job_id=job_id, outcome="transient",
                          http_status=answer.http_status, member_wal_ids=member_ids,
                          detail=answer.detail or None) for w in members]
    if isinstance(answer, JobVanished):
        return _vanished(members, job_id, answer, file_exists, now)
    if not answer.terminal:
        # Nothing to record: the engine counts the poll into the job's streak, which rides on
        # the job's end (job status never regresses: a late answer counts as the furthest).
        return []
    if answer.status == "completed":
        # One end for the job, on the stream of the request that made it (its members share
        # it; a server that gave one job id to two requests gets one end for each); a job of
        # one recording ends on that recording's own stream, as before (a smaller row).
        by_attempt: dict[str, list[str]] = {}
        for w in members:
            by_attempt.setdefault(w.attempt_id or "", []).append(w.wal_id)
        return [BatchJobCompleted(at=now, job_id=job_id, attempt_id=attempt, wal_ids=tuple(ids),
                                  total_segments=answer.total_segments,
                                  successful_segments=answer.successful_segments,
                                  new_conversations=answer.new_conversations,
                                  updated_conversations=answer.updated_conversations)
                if len(ids) > 1 else
                JobCompleted(at=now, wal_id=ids[0], job_id=job_id,
                             total_segments=answer.total_segments,
                             successful_segments=answer.successful_segments,
                             new_conversations=answer.new_conversations,
                             updated_conversations=answer.updated_conversations)
                for attempt, ids in by_attempt.items()]
    return _terminal_failure(members, job_id, answer, gate, now, policy)
