"""What the reconciler records about a recording's server job: its end, carrying the polls
before it, and the polls of a job still open when the engine closes (stream `wal:<id>`)."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar, Literal

from attrs import Factory, field, frozen

from walsync.core.events.base import DEFAULT_FROM, JobEvent, JobFailureClass, WalEvent, strs

__all__ = ["BatchJobCompleted", "JobCompleted", "JobFailed", "JobNotFound", "JobPolled",
           "JobPollsRepeated", "PollSpan"]


@frozen(kw_only=True)
class PollSpan:
    """The polls of a job that gave one answer (`queued`, `processing`) before its end: how
    many, first and last time, and the furthest progress they said. A poll behind the
    furthest answer already heard (a late or repeated one) counts into that answer's span.
    Its defaults (one poll, its last time its first, no progress) are what most spans hold
    (27,052 of a device's month's 29,797): a stored span leaves them out (serde)."""

    server_status: str
    polls: int = 1
    first_poll_at: datetime
    last_poll_at: datetime = field(default=Factory(lambda span: span.first_poll_at,
                                                   takes_self=True),
                                   metadata={DEFAULT_FROM: "first_poll_at"})
    processed_segments: int = 0
    total_segments: int = 0


@frozen(kw_only=True)
class JobPolled(WalEvent):
    """A status poll left the WAL uploaded: a `transient` fetch (no usable answer), or, in
    logs written before the polls of a job's answers rode on its end, a `non_terminal` job."""

    TRIGGER: ClassVar[str] = "poll_job"
    job_id: str
    outcome: Literal["transient", "non_terminal"]
    server_status: str | None = None
    http_status: int | None = None
    processed_segments: int = 0
    total_segments: int = 0
    member_wal_ids: tuple[str, ...] = strs
    detail: str | None = None


@frozen(kw_only=True)
class JobPollsRepeated(WalEvent):
    """Polls of the job not recorded one by one (the job still queued or processing, or no
    further along): their number, first and last time and the answer, one event per answer,
    when the engine closes with the job still open or before an end that carries no polls of
    its own (a transient poll, a vanished job). Older logs have one after each streak of
    polls that repeated the last recorded `JobPolled`. The app logs a breadcrumb on every poll."""

    TRIGGER: ClassVar[str] = "poll_job"
    job_id: str
    polls: int
    first_poll_at: datetime
    last_poll_at: datetime
    server_status: str | None = None
    processed_segments: int = 0
    total_segments: int = 0


@frozen(kw_only=True)
class JobCompleted(WalEvent):
    """The server job completed: the recording is synced. `polls_before`: the polls of the
    job before this answer, one span per answer (empty in older logs, which recorded them as
    `JobPolled` and `JobPollsRepeated`)."""

    TRIGGER: ClassVar[str] = "job_completed"
    job_id: str
    total_segments: int = 0
    successful_segments: int = 0
    new_conversations: tuple[str, ...] = strs
    updated_conversations: tuple[str, ...] = strs
    polls_before: tuple[PollSpan, ...] = ()


@frozen(kw_only=True)
class BatchJobCompleted(JobEvent):
    """The server job completed, recorded once for its members still waiting on it (`wal_ids`,
    in order): each is synced, as by its own `JobCompleted` (logs before it hold one per
    member; a job of one recording still ends with its `JobCompleted`). Issue 17: one row per
    job where a batch upload of k recordings wrote k."""

    wal_ids: tuple[str, ...] = strs
    total_segments: int = 0
    successful_segments: int = 0
    new_conversations: tuple[str, ...] = strs
    updated_conversations: tuple[str, ...] = strs
    polls_before: tuple[PollSpan, ...] = ()

    def per_member(self) -> list[JobCompleted]:
        """The very events a log before it held: one `JobCompleted` per member."""
        return [JobCompleted(at=self.at, wal_id=w, job_id=self.job_id,
                             total_segments=self.total_segments,
                             successful_segments=self.successful_segments,
                             new_conversations=self.new_conversations,
                             updated_conversations=self.updated_conversations,
                             polls_before=self.polls_before) for w in self.wal_ids]


@frozen(kw_only=True)
class JobFailed(WalEvent):
    """The server job ended failed/partial_failure: the WAL is reverted to `miss`.
    `polls_before` as for `JobCompleted`."""

    TRIGGER: ClassVar[str] = "job_failed"
    job_id: str
    server_status: str
    server_error: str | None = None
    failed_segments: int = 0
    total_segments: int = 0
    classification: JobFailureClass
    busy_rule: str
    retry_count: int
    retry_count_bumped: bool
    new_conversations: tuple[str, ...] = strs
    updated_conversations: tuple[str, ...] = strs
    member_wal_ids: tuple[str, ...] = strs
    polls_before: tuple[PollSpan, ...] = ()


@frozen(kw_only=True)
class JobNotFound(WalEvent):
    """The server no longer knows the job (404/403) and the file exists: revert and bump."""

    TRIGGER: ClassVar[str] = "job_not_found"
    job_id: str
    http_status: int
    retry_count: int
    retry_count_bumped: bool
