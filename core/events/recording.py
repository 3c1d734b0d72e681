"""A recording's own events: registered, deleted, found corrupted, and every upload attempt's
start and outcome (stream `wal:<id>`)."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar, Literal

from attrs import frozen

from walsync.core.events.base import AutoSyncSetting, FailureKind, GateReason, UploadPath, WalEvent, strs

__all__ = ["AutoSyncSkipped", "UploadAccepted", "UploadCancelled", "UploadFailed",
           "UploadOutcomeUnknown", "UploadRateLimited", "UploadSkipped", "UploadStarted",
           "UploadSynced", "WalCorrupted", "WalDeleted", "WalRegistered"]


@frozen(kw_only=True)
class WalRegistered(WalEvent):
    """The chunker made a WAL: born `miss`, or `synced` when it was fully delivered live."""

    device: str = "phone"
    timer_start: int
    codec: str = "opus"
    sample_rate: int = 16000
    channel: int = 1
    frame_size: int = 160
    seconds: int = 60
    file_path: str | None = None
    storage: str = "disk"
    conversation_id: str | None = None
    delivered: bool = False

    @property
    def trigger(self) -> str:
        return "register_delivered" if self.delivered else "register"


@frozen(kw_only=True)
class WalDeleted(WalEvent):
    """The user swiped the recording away."""

    TRIGGER: ClassVar[str] = "delete"


@frozen(kw_only=True)
class WalCorrupted(WalEvent):
    """The file is gone: found missing by an uploader, or the server lost the job and the file."""

    TRIGGER: ClassVar[str] = "mark_corrupted"
    cause: Literal["file_missing", "job_not_found"]
    job_id: str | None = None
    file_path: str | None = None


# --- uploads ---------------------------------------------------------------------------


@frozen(kw_only=True)
class UploadStarted(WalEvent):
    """An uploader picked the WAL up; committed before the request (its idempotency key).

    It is also the uploader's claim on the recording, until `claim_until` (the request's
    deadline and a margin): meanwhile another process leaves the recording alone; after it,
    an upload still open was abandoned (its process died) and is settled as unknown."""

    TRIGGER: ClassVar[str] = "start_upload"
    attempt_id: str
    path: UploadPath
    batch: tuple[str, ...] = strs
    conversation_id: str | None = None
    claim_until: datetime | None = None


@frozen(kw_only=True)
class UploadSkipped(WalEvent):
    """An entry point refused to upload because the cooldown gate was closed."""

    TRIGGER: ClassVar[str] = "skip_upload"
    path: UploadPath
    gate_reason: GateReason
    gate_until: datetime


@frozen(kw_only=True)
class AutoSyncSkipped(WalEvent):
    """Capture auto-sync did not take the recording up because a setting rules it out: a custom
    speech-to-text provider is set, or auto-sync is turned off. Batch sync and Retry still can."""

    TRIGGER: ClassVar[str] = "skip_upload"
    setting: AutoSyncSetting


@frozen(kw_only=True)
class UploadCancelled(WalEvent):
    """The user cancelled the batch sync (the card's Cancel) before this recording's batch
    went: it stays waiting, its budget untouched (the app clears isSyncing on every recording
    not already uploaded, and never reverts an uploaded one)."""

    TRIGGER: ClassVar[str] = "cancel_upload"
    path: UploadPath
    run_id: str


@frozen(kw_only=True)
class UploadSynced(WalEvent):
    """The upload was answered 200 (fast path): done."""

    TRIGGER: ClassVar[str] = "upload_synced"
    attempt_id: str
    http_status: int = 200
    new_conversations: tuple[str, ...] = strs
    updated_conversations: tuple[str, ...] = strs


@frozen(kw_only=True)
class UploadAccepted(WalEvent):
    """The upload was answered 202 with a job id: the server will process it."""

    TRIGGER: ClassVar[str] = "upload_accepted"
    attempt_id: str
    job_id: str
    http_status: int = 202


@frozen(kw_only=True)
class UploadRateLimited(WalEvent):
    """The upload was answered 429 and the policy treats it as throttling."""

    TRIGGER: ClassVar[str] = "upload_rate_limited"
    attempt_id: str
    http_status: int = 429
    retry_after_raw: str | None = None
    server_error: str | None = None  # the server's own words (schema v1 named it server_detail)
    retry_count: int
    retry_count_bumped: bool


@frozen(kw_only=True)
class UploadFailed(WalEvent):
    """The upload failed (HTTP error or network); `retry_count_bumped` says if budget was spent."""

    TRIGGER: ClassVar[str] = "upload_failed"
    attempt_id: str
    kind: FailureKind
    http_status: int | None = None
    message: str
    retry_after_raw: str | None = None
    retry_count: int
    retry_count_bumped: bool


@frozen(kw_only=True)
class UploadOutcomeUnknown(WalEvent):
    """The request may have reached the server but no answer came (or the process died)."""

    TRIGGER: ClassVar[str] = "upload_outcome_unknown"
    attempt_id: str
    detail: str
