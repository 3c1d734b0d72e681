"""The app-wide cooldown gate (the app's SyncRateLimiter) as arithmetic over a given `now`."""

from __future__ import annotations

from datetime import datetime, timedelta

from attrs import define, evolve, frozen

from walsync.core.events import (
    CooldownCleared,
    CooldownExpired,
    CooldownStarted,
    GateEvent,
    GateReason,
    UploadsResumed,
)
from walsync.core.policy import Policy

__all__ = ["Gate", "GateCountdown", "clear", "evolve_gate", "expire_if_due", "mark", "remaining_seconds",
           "resume_due"]


@frozen(kw_only=True)
class Gate:
    """The gate as the log leaves it: closed until `until` for `reason`, or open."""

    limited: bool = False
    reason: GateReason | None = None
    until: datetime | None = None
    set_at: datetime | None = None
    resume_at: datetime | None = None
    rate_limit_streak: int = 0

    def blocks(self, now: datetime) -> bool:
        """Closed right now: marked, not past its deadline, and the clock not gone back before it."""
        if not self.limited or self.until is None or self.set_at is None:
            return False
        return self.set_at <= now < self.until


def remaining_seconds(gate: Gate, now: datetime, cap: int) -> float:
    """The cooldown left by the wall clock, in [0, min(set duration, cap)] (T20).

    A clock gone back never makes it longer than it was set for; the engine counts it down
    on a monotonic clock from there, so no later jump moves it either way.
    """
    if not gate.limited or gate.until is None or gate.set_at is None:
        return 0.0
    original = min((gate.until - gate.set_at).total_seconds(), float(cap))
    return max(0.0, min((gate.until - now).total_seconds(), original))


@define
class GateCountdown:
    """A pause counted down on monotonic time (T20): the time left is read off the wall clock
    once, when a pause is first seen, and from then on only monotonic seconds move it, so
    wall-clock jumps neither stretch a pause nor cut it short."""

    _anchor: tuple[Gate, float, float] | None = None

    def gate_now(self, gate: Gate, now: datetime, monotonic: float | None, cap: int) -> datetime:
        """The moment gate checks are judged at. Without a monotonic reading, the wall clock."""
        if not gate.limited or gate.until is None or monotonic is None:
            return now
        if self._anchor is None or self._anchor[0] != gate:
            self._anchor = (gate, monotonic, remaining_seconds(gate, now, cap))
        _, start, left = self._anchor
        return gate.until - timedelta(seconds=max(0.0, left - (monotonic - start)))


def mark(
    gate: Gate,
    *,
    now: datetime,
    reason: GateReason,
    requested_seconds: int | None,
    policy: Policy,
    retry_after_raw: str | None = None,
    cause_wal_id: str | None = None,
    cause_job_id: str | None = None,
) -> CooldownStarted:
    """markLimited: take the request if > 0 else the default, cap it, merge per the policy."""
    default_applied = requested_seconds is None or requested_seconds <= 0
    seconds = policy.default_cooldown_seconds if default_applied else int(requested_seconds or 0)
    backoff = policy.rate_limit_backoff and reason == "rateLimit" and default_applied
    if backoff:  # walsync: each 429 in a row without Retry-After doubles the default pause
        doubled = seconds * 2 ** min(gate.rate_limit_streak, 16)
        seconds = max(seconds, min(doubled, policy.rate_limit_backoff_max_seconds))
    seconds = min(seconds, policy.max_cooldown_seconds)
    streak = gate.rate_limit_streak + 1 if reason == "rateLimit" else gate.rate_limit_streak
    requested_until = now + timedelta(seconds=seconds)
    until, effective_reason = requested_until, reason
    active = gate.blocks(now)
    if policy.cooldown_merge == "keep_later" and active and gate.until and gate.until > until:
        until, effective_reason = gate.until, gate.reason or reason
    return CooldownStarted(
        at=now,
        reason=effective_reason,
        until=until,
        seconds=int((until - now).total_seconds()),
        requested_reason=reason,
        requested_seconds=seconds,
        retry_after_raw=retry_after_raw,
        default_applied=default_applied,
        merge_rule=policy.cooldown_merge,
        previous_until=gate.until if active else None,
        previous_reason=gate.reason if active else None,
        cause_wal_id=cause_wal_id,
        cause_job_id=cause_job_id,
        rate_limit_streak=streak,
        backoff_applied=backoff and seconds != policy.default_cooldown_seconds,
    )


def clear(gate: Gate, *, now: datetime, wal_id: str, http_status: int) -> CooldownCleared | None:
    """clear() after a successful upload; nothing to record when the gate is already open."""
    if not gate.limited or gate.until is None or gate.reason is None:
        return None
    return CooldownCleared(
        at=now,
        cause_wal_id=wal_id,
        http_status=http_status,
        previous_until=gate.until,
        previous_reason=gate.reason,
    )


def expire_if_due(
    gate: Gate, *, now: datetime, policy: Policy, jitter_seconds: float = 0.0,
    gate_now: datetime | None = None,
) -> CooldownExpired | None:
    """The expiry event at the first tick past the deadline (or before `set_at`: clock went back).

    Under a policy that resumes on expiry, `resume_at` is the deadline-independent tick time
    plus the caller's jitter, so a fleet of apps does not come back in the same second.
    `gate_now` is the moment the deadline is judged at when the caller corrects the wall
    clock with a monotonic one (default: `now`).
    """
    judged = now if gate_now is None else gate_now
    if not gate.limited or gate.until is None or gate.reason is None or gate.blocks(judged):
        return None
    resume_at = None
    if policy.resume_on_expiry:
        jitter = max(0.0, min(jitter_seconds, float(policy.resume_jitter_max_seconds)))
        resume_at = now + timedelta(seconds=jitter)
    went_back = gate.set_at is not None and now < gate.set_at
    return CooldownExpired(
        at=now, reason=gate.reason, deadline=gate.until, clock_went_back=went_back,
        resume_at=resume_at,
    )


def resume_due(gate: Gate, now: datetime) -> UploadsResumed | None:
    """The resume event once the jittered resume point is reached (walsync policy)."""
    if gate.limited or gate.resume_at is None or now < gate.resume_at:
        return None
    return UploadsResumed(at=now, resume_at=gate.resume_at)


def evolve_gate(gate: Gate, event: GateEvent) -> Gate:
    """Fold one gate event."""
    if isinstance(event, CooldownStarted):
        return Gate(limited=True, reason=event.reason, until=event.until, set_at=event.at,
                    rate_limit_streak=event.rate_limit_streak)
    if isinstance(event, CooldownCleared):
        return Gate()
    if isinstance(event, CooldownExpired):
        return Gate(resume_at=event.resume_at, rate_limit_streak=gate.rate_limit_streak)
    if isinstance(event, UploadsResumed):
        return evolve(gate, resume_at=None)
    raise TypeError(f"not a gate event: {type(event).__name__}")
