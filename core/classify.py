"""Is a failed server job the backend being busy, a broken file, or a fair-use budget?"""

from __future__ import annotations

from typing import Final

from walsync.core.events import JobFailureClass
from walsync.core.policy import BusyRule

__all__ = ["BACKEND_BUSY_HINT", "classify_job_failure"]

# Tied to backend issue #7469: the stale guard's rewrite text.
BACKEND_BUSY_HINT: Final = "background worker likely died"
_CONTENT_PREFIXES: Final = ("Decode failed", "VAD failed")
_FAIR_USE_BUDGET_HINT: Final = "DG budget exhausted"


def classify_job_failure(
    server_status: str, error: str | None, total_segments: int, rule: BusyRule
) -> JobFailureClass:
    """Classify a `failed`/`partial_failure` job under the policy's busy rule.

    none (legacy): every failure is a content failure.
    structural (seed, #7451): busy if the error has the hint, or `failed` with 0 segments.
    typed (walsync): the hint is busy; a failure the server types as decode/VAD is content
    (a broken file must not loop forever); "DG budget exhausted" is fair-use, not content;
    an untyped `failed` with 0 segments is busy.
    """
    text = error or ""
    if rule == "none":
        return "content"
    if BACKEND_BUSY_HINT in text:
        return "backend_busy"
    if rule == "typed":
        if text.startswith(_CONTENT_PREFIXES):
            return "content"
        if _FAIR_USE_BUDGET_HINT in text:
            return "fair_use_budget"
    if server_status == "failed" and total_segments == 0:
        return "backend_busy"
    return "content"
