"""What every event is: frozen, past tense, with the wall time it happened, on one stream;
and the small vocabularies the events share."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar, Final, Literal

from attrs import field, frozen

__all__ = ["DEFAULT_FROM", "ENGINE_STREAM", "GATE_STREAM", "AutoSyncSetting", "EngineEvent", "Event",
           "FailureKind", "GateEvent", "GateReason", "JobEvent", "JobFailureClass", "UploadPath",
           "WalEvent", "strs"]

UploadPath = Literal["auto", "batch", "single"]
FailureKind = Literal[
    "bad_request", "too_large", "server_error", "unexpected", "network", "rate_limited",
    "file_changed", "auth"
]
# `auth`: the backend refused the credentials (401/403) and no fresh token helped (walsync).
GateReason = Literal["rateLimit", "backendBusy", "auth"]
JobFailureClass = Literal["backend_busy", "content", "fair_use_budget"]
# A setting of the app that rules capture auto-sync out (spec section 7, path 3).
AutoSyncSetting = Literal["custom_stt", "auto_sync_disabled"]

# A field of strings given as any iterable and stored as a tuple (events are hashable data).
strs = field(default=(), converter=tuple)
# A field's metadata key: its default is the value of the field it names (a poll span's last
# time, its first), which a stored record leaves out where they are equal (core/serde.py).
DEFAULT_FROM: Final = "default_from"


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


@frozen(kw_only=True)
class JobEvent(Event):
    """An event of one server job, stored once for all its member recordings: a reader of a
    recording reads the streams of the jobs it was accepted into. The stream is named by the
    upload request that made the job (`job:<attempt_id>`, the request's Idempotency-Key, which
    its members' `UploadAccepted` rows hold), not by the server's job id, which need not be
    unique over a log's life (a restarted server may count its jobs from 1 again)."""

    job_id: str
    attempt_id: str

    @property
    def stream(self) -> str:
        return f"job:{self.attempt_id}"


GATE_STREAM: Final = "gate"
ENGINE_STREAM: Final = "engine"


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
        return ENGINE_STREAM
