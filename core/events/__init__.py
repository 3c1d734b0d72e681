"""Every event walsync records: frozen, past-tense, carrying what each decision was made from.

Streams: `wal:<id>` (one per recording), `gate` (the app-wide cooldown), `engine`
(policy in force and sync runs). `at` is the aware UTC wall time supplied by the caller.
One module per stream's kind of event; this face lists them all, and `EVENT_TYPES` maps each
stored type name to its class.
"""

from __future__ import annotations

from typing import Final

from walsync.core.events.base import (
    ENGINE_STREAM,
    GATE_STREAM,
    AutoSyncSetting,
    EngineEvent,
    Event,
    FailureKind,
    GateEvent,
    GateReason,
    JobEvent,
    JobFailureClass,
    UploadPath,
    WalEvent,
)
from walsync.core.events.engine import (
    AnswerIgnored,
    FileSkipped,
    LogSalvaged,
    PolicyApplied,
    SyncRunFinished,
    SyncRunStarted,
    UploadsHeld,
)
from walsync.core.events.gate import CooldownCleared, CooldownExpired, CooldownStarted, UploadsResumed
from walsync.core.events.jobs import (
    BatchJobCompleted,
    JobCompleted,
    JobFailed,
    JobNotFound,
    JobPolled,
    JobPollsRepeated,
    PollSpan,
)
from walsync.core.events.recording import (
    AutoSyncSkipped,
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
    WalRegistered,
)
from walsync.core.events.retention import SegmentSealed, StateCarried

__all__ = [
    "ENGINE_STREAM",
    "EVENT_TYPES",
    "GATE_STREAM",
    "AnswerIgnored",
    "AutoSyncSetting",
    "AutoSyncSkipped",
    "BatchJobCompleted",
    "CooldownCleared",
    "CooldownExpired",
    "CooldownStarted",
    "EngineEvent",
    "Event",
    "FailureKind",
    "FileSkipped",
    "GateEvent",
    "GateReason",
    "JobCompleted",
    "JobEvent",
    "JobFailed",
    "JobFailureClass",
    "JobNotFound",
    "JobPolled",
    "JobPollsRepeated",
    "LogSalvaged",
    "PolicyApplied",
    "PollSpan",
    "SegmentSealed",
    "StateCarried",
    "SyncRunFinished",
    "SyncRunStarted",
    "UploadAccepted",
    "UploadCancelled",
    "UploadFailed",
    "UploadOutcomeUnknown",
    "UploadPath",
    "UploadRateLimited",
    "UploadSkipped",
    "UploadStarted",
    "UploadSynced",
    "UploadsHeld",
    "UploadsResumed",
    "WalCorrupted",
    "WalDeleted",
    "WalEvent",
    "WalRegistered",
]

EVENT_TYPES: Final[dict[str, type[Event]]] = {
    cls.__name__: cls
    for cls in (
        WalRegistered,
        BatchJobCompleted,
        WalDeleted,
        WalCorrupted,
        UploadStarted,
        UploadSkipped,
        AutoSyncSkipped,
        UploadCancelled,
        UploadSynced,
        UploadAccepted,
        UploadRateLimited,
        UploadFailed,
        UploadOutcomeUnknown,
        JobPolled,
        JobPollsRepeated,
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
        FileSkipped,
        UploadsHeld,
        LogSalvaged,
        SegmentSealed,
        StateCarried,
    )
}
