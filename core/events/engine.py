"""The engine's own events: the policy in force, sync runs, answers ignored as stale (stream
`engine`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from attrs import field, frozen

from walsync.core.events.base import EngineEvent, GateReason, UploadPath, strs

__all__ = ["AnswerIgnored", "FileSkipped", "LogSalvaged", "PolicyApplied", "SyncRunFinished",
           "SyncRunStarted", "UploadsHeld"]


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
    wal_ids: tuple[str, ...] = strs


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
    out_of_time: bool = False  # the run's time budget ended it before its next request
    cancelled: bool = False  # the user cancelled it before its next batch
    new_conversations: tuple[str, ...] = strs
    updated_conversations: tuple[str, ...] = strs


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


@frozen(kw_only=True)
class FileSkipped(EngineEvent):
    """A folder sync left a recording's file out: empty, or unreadable. Recorded once per file
    and reason (the next runs stay quiet about it); the file is registered once it is readable
    and not empty."""

    file_name: str
    wal_id: str
    reason: Literal["empty", "unreadable"]
    detail: str = ""


@frozen(kw_only=True)
class UploadsHeld(EngineEvent):
    """An entry point found uploads paused and sent nothing: one event per blocked pass, with
    how many recordings it held and why, whatever their number (logs before it hold one
    `UploadSkipped` per recording instead).

    `wal_ids` names the recordings held when the pass was for some of them (capture
    auto-sync's or a Retry's one recording, a batch sync asked for a few); empty, a batch sync
    held every recording waiting for one, which the log itself says."""

    path: UploadPath
    count: int
    gate_reason: GateReason
    gate_until: datetime
    wal_ids: tuple[str, ...] = strs


@frozen(kw_only=True)
class LogSalvaged(EngineEvent):
    """The log was found damaged at open and moved aside to `moved_to`; this log holds its
    verified prefix (`kept` events, chain intact, up to a commit's end) and then this event.
    `first_bad_seq` is where the damage began (None: every row verified, the damage lay
    elsewhere in the file), `dropped` how many events after the prefix were lost as far as the
    damaged file could still be read. `held` names the recordings whose upload may have gone out
    in what was lost: under a policy that holds them they wait for a manual Retry instead of
    being sent again (the real API merges a resent recording, but costs bandwidth, backend work
    and fair-use seconds)."""

    moved_to: str
    problem: str
    first_bad_seq: int | None = None
    kept: int = 0
    dropped: int = 0
    held: tuple[str, ...] = strs
