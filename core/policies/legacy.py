"""`legacy`: the app before #7451. A 429 is a generic error, with no cooldown and no gate, and
the sync loop re-fires every minute; capture auto-sync spends retry budget on it."""

from __future__ import annotations

from typing import Final

from walsync.core.policy import Policy

__all__ = ["LEGACY"]

LEGACY: Final = Policy(
    name="legacy",
    rate_limit_typed=False,
    retry_after="ignore",
    gate_batch=False,
    gate_auto=False,
    gate_single=False,
    cooldown_merge="overwrite",
    busy_rule="none",
    break_batch_on_rate_limit=False,
    resume_on_expiry=False,
    unusable_answer="error",
    refire_seconds=60,
)
