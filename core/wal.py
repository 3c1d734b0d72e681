"""One recording's state, folded from its stream with the transition table's lookup."""

from __future__ import annotations

from datetime import datetime

from attrs import evolve, frozen

from walsync.core.errors import IllegalTransition
from walsync.core.events import (
    JobCompleted,
    JobFailed,
    JobNotFound,
    JobPolled,
    UploadAccepted,
    UploadFailed,
    UploadOutcomeUnknown,
    UploadRateLimited,
    UploadSkipped,
    UploadStarted,
    WalCorrupted,
    WalEvent,
    WalRegistered,
)
from walsync.core.states import NEW, next_state

__all__ = ["Wal", "evolve_wal", "job_progress"]


@frozen(kw_only=True)
class Wal:
    """The persisted fields of spec section 2 that decisions need, plus the stream version."""

    wal_id: str
    status: str = NEW
    version: int = 0
    retry_count: int = 0
    last_retry_at: datetime | None = None
    job_id: str | None = None
    uploaded_at: datetime | None = None
    attempt_id: str | None = None
    # The WALs sent together under `attempt_id`, and whether that request's outcome is still
    # unknown (answer lost or process killed): a retry of the same batch may reuse its key.
    attempt_batch: tuple[str, ...] = ()
    unsettled: bool = False
    # The furthest non-terminal job progress seen: (status rank, processed segments). Older or
    # repeated status answers fall at or below it and are not recorded again (T18).
    job_progress: tuple[int, int] = (-1, 0)
    conversation_id: str | None = None
    file_path: str | None = None
    device: str = "phone"
    timer_start: int = 0
    codec: str = "opus"
    sample_rate: int = 16000
    channel: int = 1
    frame_size: int = 160
    storage: str = "disk"
    seconds: int = 60
    # A content failure of a job it shared with others: a failed segment cannot be pinned on
    # one file, so policies that isolate retry it alone.
    shared_failure: bool = False
    # The server's last answer refused the file itself (400/413): resending it cannot help.
    rejected: bool = False


_STATUS_RANK = {"queued": 0, "processing": 1}


def job_progress(event: JobPolled) -> tuple[int, int]:
    """How far a non-terminal poll says the job got; transient polls say nothing."""
    if event.outcome != "non_terminal" or event.server_status not in _STATUS_RANK:
        return (-1, 0)
    return (_STATUS_RANK[event.server_status], event.processed_segments)


def _counted(wal: Wal, event: WalEvent, retry_count: int, bumped: bool) -> Wal:
    if not bumped:
        return wal
    return evolve(wal, retry_count=retry_count, last_retry_at=event.at)


def evolve_wal(wal: Wal | None, event: WalEvent) -> Wal:
    """Fold one event; raises IllegalTransition when the table has no such edge."""
    current = wal if wal is not None else Wal(wal_id=event.wal_id)
    dest = next_state(current.status, event.trigger)
    if dest is None:
        raise IllegalTransition(event.wal_id, current.status, event.trigger)
    # Only a new outcome settles a lost attempt; a gate skip leaves it as it was.
    unsettled = isinstance(event, UploadOutcomeUnknown) or (
        current.unsettled and isinstance(event, UploadSkipped))
    new = evolve(current, status=dest, version=current.version + 1, unsettled=unsettled)
    if isinstance(event, WalRegistered):
        return evolve(
            new,
            device=event.device,
            timer_start=event.timer_start,
            codec=event.codec,
            sample_rate=event.sample_rate,
            channel=event.channel,
            frame_size=event.frame_size,
            seconds=event.seconds,
            file_path=event.file_path,
            storage=event.storage,
            conversation_id=event.conversation_id,
        )
    if isinstance(event, UploadStarted):
        return evolve(new, attempt_id=event.attempt_id, attempt_batch=event.batch)
    if isinstance(event, UploadAccepted):
        return evolve(new, job_id=event.job_id, uploaded_at=event.at, shared_failure=False,
                      rejected=False, job_progress=(-1, 0))
    if isinstance(event, JobPolled):
        return evolve(new, job_progress=max(current.job_progress, job_progress(event)))
    if isinstance(event, UploadFailed):
        refused = event.kind in ("bad_request", "too_large")
        return _counted(evolve(new, rejected=refused), event, event.retry_count,
                        event.retry_count_bumped)
    if isinstance(event, UploadRateLimited):
        return _counted(new, event, event.retry_count, event.retry_count_bumped)
    if isinstance(event, JobFailed):
        shared = event.classification == "content" and len(event.member_wal_ids) > 1
        return _counted(evolve(new, job_id=None, shared_failure=shared), event,
                        event.retry_count, event.retry_count_bumped)
    if isinstance(event, JobNotFound):
        return _counted(evolve(new, job_id=None), event, event.retry_count, event.retry_count_bumped)
    if isinstance(event, JobCompleted | WalCorrupted):
        return evolve(new, job_id=None)
    return new
