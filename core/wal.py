"""One recording's state, folded from its stream with the transition table's lookup."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final

from attrs import evolve, frozen

from walsync.core.errors import IllegalTransition
from walsync.core.events import (
    JobCompleted,
    JobFailed,
    JobNotFound,
    UploadAccepted,
    UploadFailed,
    UploadRateLimited,
    UploadStarted,
    WalCorrupted,
    WalEvent,
    WalRegistered,
)
from walsync.core.states import NEW, next_state

__all__ = ["FIELDLESS_WAL_EVENTS", "Wal", "advance_wal", "changes_of", "evolve_wal"]


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


def _counted(event: WalEvent, retry_count: int, bumped: bool) -> dict[str, Any]:
    """A retry bump sets the count and its time; no bump leaves both."""
    return {"retry_count": retry_count, "last_retry_at": event.at} if bumped else {}


def changes_of(event: WalEvent) -> dict[str, Any]:
    """The fields an event sets besides status and version (one evolve per event, not two)."""
    if isinstance(event, WalRegistered):
        return {"device": event.device, "timer_start": event.timer_start, "codec": event.codec,
                "sample_rate": event.sample_rate, "channel": event.channel,
                "frame_size": event.frame_size, "seconds": event.seconds,
                "file_path": event.file_path, "storage": event.storage,
                "conversation_id": event.conversation_id}
    if isinstance(event, UploadStarted):
        return {"attempt_id": event.attempt_id}
    if isinstance(event, UploadAccepted):
        return {"job_id": event.job_id, "uploaded_at": event.at, "shared_failure": False,
                "rejected": False}
    if isinstance(event, UploadFailed):
        return {"rejected": event.kind in ("bad_request", "too_large"),
                **_counted(event, event.retry_count, event.retry_count_bumped)}
    if isinstance(event, UploadRateLimited):
        return _counted(event, event.retry_count, event.retry_count_bumped)
    if isinstance(event, JobFailed):
        shared = event.classification == "content" and len(event.member_wal_ids) > 1
        return {"job_id": None, "shared_failure": shared,
                **_counted(event, event.retry_count, event.retry_count_bumped)}
    if isinstance(event, JobNotFound):
        return {"job_id": None, **_counted(event, event.retry_count, event.retry_count_bumped)}
    if isinstance(event, JobCompleted | WalCorrupted):
        return {"job_id": None}
    return {}


# Events whose fold needs nothing but their type and stream: their edge in the table and a
# version bump. A fold over stored rows can skip decoding these (most of a long log: polls).
FIELDLESS_WAL_EVENTS: Final = frozenset(
    {"JobPolled", "UploadSkipped", "UploadSynced", "UploadOutcomeUnknown", "WalDeleted"})


def evolve_wal(wal: Wal | None, event: WalEvent) -> Wal:
    """Fold one event; raises IllegalTransition when the table has no such edge."""
    return advance_wal(wal, event.wal_id, event.trigger, changes_of(event))


def advance_wal(wal: Wal | None, wal_id: str, trigger: str, changes: dict[str, Any]) -> Wal:
    """Take the table's edge for `trigger`, bump the version and set `changes`."""
    current = wal if wal is not None else Wal(wal_id=wal_id)
    dest = next_state(current.status, trigger)
    if dest is None:
        raise IllegalTransition(wal_id, current.status, trigger)
    return evolve(current, status=dest, version=current.version + 1, **changes)
