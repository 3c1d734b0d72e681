"""The app-wide cooldown gate's events: a pause started, cleared, expired, uploads resumed
(stream `gate`)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from attrs import frozen

from walsync.core.events.base import GateEvent, GateReason

__all__ = ["CooldownCleared", "CooldownExpired", "CooldownStarted", "UploadsResumed"]


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
    """A successful upload reopened the gate (`cause_wal_id`, `http_status`), or, for a pause
    of reason `auth`, the token provider handed over a new token (`credentials_renewed`)."""

    cause_wal_id: str | None = None
    http_status: int | None = None
    previous_until: datetime
    previous_reason: GateReason
    credentials_renewed: bool = False


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
