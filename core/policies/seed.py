"""`seed`: the app right after #7451, as merged. A typed 429 and a backend-busy job failure
pause uploads on an app-wide gate that batch and auto-sync check; the row Retry is not gated,
a new pause overwrites the old one, and nothing resumes when a pause ends."""

from __future__ import annotations

from typing import Final

from walsync.core.policy import Policy

__all__ = ["SEED"]

SEED: Final = Policy(
    name="seed",
    rate_limit_typed=True,
    retry_after="app",
    gate_batch=True,
    gate_auto=True,
    gate_single=False,
    cooldown_merge="overwrite",
    busy_rule="structural",
    break_batch_on_rate_limit=True,
    resume_on_expiry=False,
    unusable_answer="error",
)
