"""Every event walsync records: frozen, past-tense, carrying what each decision was made from.

Streams: `wal:<id>` (one per recording), `gate` (the app-wide cooldown), `engine`
(policy in force and sync runs). `at` is the aware UTC wall time supplied by the caller.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar, Final, Literal

from attrs import field, frozen

__all__ = [
    "EVENT_TYPES",
    "GATE_STREAM",
    "AnswerIgnored",
    "CooldownCleared",
    "CooldownExpired",
    "CooldownStarted",
    "EngineEvent",
    "Event",
    "GateEvent",
    "JobCompleted",
    "JobFailed",
    "JobNotFound",
    "JobPolled",
    "PolicyApplied",
    "SyncRunFinished",
    "SyncRunStarted",
    "UploadAccepted",
    "UploadFailed",
    "UploadOutcomeUnknown",
    "UploadPath",
    "UploadRateLimited",
    "UploadSkipped",
    "UploadStarted",
    "UploadSynced",
    "UploadsResumed",
    "WalCorrupted",
    "WalDeleted",
    "WalEvent",
    "WalRegistered",
]

UploadPath = Literal["auto", "batch", "single"]
FailureKind = Literal[
    "bad_request", "too_large", "server_error", "unexpected", "network", "rate_limited"
]
GateReason = Literal["rateLimit", "backendBusy"]
JobFailureClass = Literal["backend_busy", "content", "fair_use_budget"]

_strs = field(default=(), converter=tuple)


@frozen(kw_only=True)
class Event:
    """Base of all events: the wall time it happened."""

    at: datetime

    @property
    def stream(self) -> str:
        raise NotImplementedError


@frozen(kw_only=True)
class WalEvent(Event):
    """An event of one recording's stream; `trigger` names its edge in the transition table."""

    TRIGGER: ClassVar[str] = ""
    wal_id: str

    @property
    def stream(self) -> str:
        return f"wal:{self.wal_id}"

    @property
    def trigger(self) -> str:
        return self.TRIGGER


GATE_STREAM: Final = "gate"


@frozen(kw_only=True)
class GateEvent(Event):
    """An event of the app-wide cooldown gate."""

    @property
    def stream(self) -> str:
        return GATE_STREAM


@frozen(kw_only=True)
class EngineEvent(Event):
    """An event about the engine itself: the policy in force, sync runs."""

    @property
    def stream(self) -> str:
        return "engine"


# --- recording lifecycle -------------------------------------------------------------


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
    """An uploader picked the WAL up; committed before the request (its idempotency key)."""

    TRIGGER: ClassVar[str] = "start_upload"
    attempt_id: str
    path: UploadPath
    batch: tuple[str, ...] = _strs
    conversation_id: str | None = None


@frozen(kw_only=True)
class UploadSkipped(WalEvent):
    """An entry point refused to upload because the cooldown gate was closed."""

    TRIGGER: ClassVar[str] = "skip_upload"
    path: UploadPath
    gate_reason: GateReason
    gate_until: datetime


@frozen(kw_only=True)
class UploadSynced(WalEvent):
    """The upload was answered 200 (fast path): done."""

    TRIGGER: ClassVar[str] = "upload_synced"
    attempt_id: str
    http_status: int = 200
    new_conversations: tuple[str, ...] = _strs
    updated_conversations: tuple[str, ...] = _strs


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


# --- reconciler ------------------------------------------------------------------------


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
    member_wal_ids: tuple[str, ...] = _strs
    detail: str | None = None


@frozen(kw_only=True)
class JobCompleted(WalEvent):
    """The server job completed: the recording is synced."""

    TRIGGER: ClassVar[str] = "job_completed"
    job_id: str
    total_segments: int = 0
    successful_segments: int = 0
    new_conversations: tuple[str, ...] = _strs
    updated_conversations: tuple[str, ...] = _strs


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
    new_conversations: tuple[str, ...] = _strs
    updated_conversations: tuple[str, ...] = _strs
    member_wal_ids: tuple[str, ...] = _strs


@frozen(kw_only=True)
class JobNotFound(WalEvent):
    """The server no longer knows the job (404/403) and the file exists: revert and bump."""

    TRIGGER: ClassVar[str] = "job_not_found"
    job_id: str
    http_status: int
    retry_count: int
    retry_count_bumped: bool


# --- gate ------------------------------------------------------------------------------


@frozen(kw_only=True)
class CooldownStarted(GateEvent):
    """The gate was marked: uploads pause until `until` because of `reason`.

    `requested_*` is what the mark asked for; `until`/`reason` is what the merge rule of the
    policy made of it given the cooldown already in force (`previous_*`).
    """

    reason: GateReason
    until: datetime
    seconds: int
    requested_reason: GateReason
    requested_seconds: int
    retry_after_raw: str | None = None
    default_applied: bool = False
    merge_rule: Literal["overwrite", "keep_later"]
    previous_until: datetime | None = None
    previous_reason: GateReason | None = None
    cause_wal_id: str | None = None
    cause_job_id: str | None = None
    rate_limit_streak: int = 0
    backoff_applied: bool = False


@frozen(kw_only=True)
class CooldownCleared(GateEvent):
    """A successful upload reopened the gate."""

    cause_wal_id: str
    http_status: int
    previous_until: datetime
    previous_reason: GateReason


@frozen(kw_only=True)
class CooldownExpired(GateEvent):
    """The first tick past the deadline (or a wall clock that went back before it was set)."""

    reason: GateReason
    deadline: datetime
    clock_went_back: bool = False
    resume_at: datetime | None = None


@frozen(kw_only=True)
class UploadsResumed(GateEvent):
    """After an expiry, the jittered resume point was reached and a batch sync was started."""

    resume_at: datetime


# --- engine ----------------------------------------------------------------------------


@frozen(kw_only=True)
class PolicyApplied(EngineEvent):
    """An engine opened the log under this policy (its full rule set, for replay)."""

    policy: str
    rules: dict[str, Any] = field(factory=dict)


@frozen(kw_only=True)
class SyncRunStarted(EngineEvent):
    """An upload entry point started (the app's `local_upload_started`)."""

    run_id: str
    path: UploadPath
    wal_ids: tuple[str, ...] = _strs


@frozen(kw_only=True)
class SyncRunFinished(EngineEvent):
    """An upload entry point finished (the app's `local_upload_finished`)."""

    run_id: str
    path: UploadPath
    batches_uploaded: int = 0
    batches_failed: int = 0
    corrupted: int = 0
    stopped_by_rate_limit: bool = False
    gated: bool = False
    interrupted: bool = False
    new_conversations: tuple[str, ...] = _strs
    updated_conversations: tuple[str, ...] = _strs


@frozen(kw_only=True)
class AnswerIgnored(EngineEvent):
    """A server answer for an attempt or job the recording has already moved past (T18).

    Audit only: it changes no recording and no gate. `answer` names the endpoint.
    """

    wal_id: str
    answer: Literal["upload", "job_status"]
    attempt_id: str | None = None
    job_id: str | None = None
    server_status: str | None = None
    reason: str


EVENT_TYPES: dict[str, type[Event]] = {
    cls.__name__: cls
    for cls in (
        WalRegistered,
        WalDeleted,
        WalCorrupted,
        UploadStarted,
        UploadSkipped,
        UploadSynced,
        UploadAccepted,
        UploadRateLimited,
        UploadFailed,
        UploadOutcomeUnknown,
        JobPolled,
        JobCompleted,
        JobFailed,
        JobNotFound,
        CooldownStarted,
        CooldownCleared,
        CooldownExpired,
        UploadsResumed,
        PolicyApplied,
        SyncRunStarted,
        SyncRunFinished,
        AnswerIgnored,
    )
}
