"""`walsync` (the default): seed's gate on every entry point, with what #7451 left open fixed.
Retry-After also as an HTTP-date, the later of two pauses kept, content failures counted,
uploads resumed with jitter at a pause's end, repeated 429s backed off, a shared batch's
failure retried alone, spent or refused rows left to a manual Retry, and a recording whose
uploads keep ending without a known outcome backed off, and a device that finds the backend
unreachable backing off as a whole; credentials the backend refuses pause uploads (reason
`auth`) instead of spending the retry budget."""

from __future__ import annotations

from typing import Final

from walsync.core.policy import Policy

__all__ = ["WALSYNC"]

WALSYNC: Final = Policy(
    name="walsync",
    rate_limit_typed=True,
    retry_after="delta_or_date",
    gate_batch=True,
    gate_auto=True,
    gate_single=True,
    cooldown_merge="keep_later",
    busy_rule="typed",
    break_batch_on_rate_limit=True,
    resume_on_expiry=True,
    rate_limit_backoff=True,
    isolate_shared_failures=True,
    batch_respects_budget=True,
    reuse_unsettled_key=True,
    resume_jitter_max_seconds=120,
    unknown_outcome_backoff_seconds=60,
    offline_backoff_seconds=30,
    hold_lost_history=True,
    auth_pause_seconds=600,
)
