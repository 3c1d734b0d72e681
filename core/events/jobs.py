"""What the reconciler records about a recording's server job: each poll, and the job's end
(stream `wal:<id>`)."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar, Literal

from attrs import frozen

from walsync.core.events.base import JobFailureClass, WalEvent, strs

__all__ = ["JobCompleted", "JobFailed", "JobNotFound", "JobPolled", "JobPollsRepeated"]


@frozen(kw_only=True)
class JobPolled(WalEvent):
    """A status poll left the WAL uploaded: `transient` fetch or a `non_terminal` job."""

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
    """Polls of the job that answered what the last recorded one had (the job still queued, or
    no further along) are not recorded one by one: their number and first and last time are,
    once the job moves on or the engine closes. The app logs a breadcrumb on every poll."""

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
    """The server job completed: the recording is synced."""

    TRIGGER: ClassVar[str] = "job_completed"
    job_id: str
    total_segments: int = 0
    successful_segments: int = 0
    new_conversations: tuple[str, ...] = strs
    updated_conversations: tuple[str, ...] = strs


@frozen(kw_only=True)
class JobFailed(WalEvent):
    """The server job ended failed/partial_failure: the WAL is reverted to `miss`."""

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


@frozen(kw_only=True)
class JobNotFound(WalEvent):
    """The server no longer knows the job (404/403) and the file exists: revert and bump."""

    TRIGGER: ClassVar[str] = "job_not_found"
    job_id: str
    http_status: int
    retry_count: int
    retry_count_bumped: bool
