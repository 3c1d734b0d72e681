"""Retry-After parsing (RFC 9110 §10.2.3): never raises, always within [0, cap] or None."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Final

from walsync.core.policy import RetryAfterMode

__all__ = ["MAX_RETRY_AFTER_SECONDS", "parse_retry_after"]

MAX_RETRY_AFTER_SECONDS: Final = 86_400
# ASCII digits only: int() would also take "+120", "1_000", "١٢٠" and full-width digits.
_DELTA = re.compile(r"[ \t]*([0-9]+)[ \t]*")
_MAX_DIGITS = 12


def _delta_seconds(text: str, cap: int) -> int | None:
    match = _DELTA.fullmatch(text)
    if match is None:
        return None
    digits = match.group(1).lstrip("0") or "0"
    if len(digits) > _MAX_DIGITS:  # cap before int arithmetic can overflow a timedelta
        return cap
    return min(int(digits), cap)


def _date_seconds(text: str, now: datetime, cap: int) -> int | None:
    try:
        when = parsedate_to_datetime(text.strip())
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:  # asctime and "-0000" forms parse naive: they mean UTC
        when = when.replace(tzinfo=UTC)
    delta = (when - now).total_seconds()
    return int(max(0.0, min(delta, float(cap))))


def parse_retry_after(
    raw: str | None,
    now: datetime,
    mode: RetryAfterMode = "delta_or_date",
    cap: int = MAX_RETRY_AFTER_SECONDS,
) -> int | None:
    """Seconds to wait, in [0, cap], or None when absent, unparseable or ignored by `mode`.

    `seed` mode reads delta-seconds only (an HTTP-date falls back to the default like the
    app did); `delta_or_date` also reads the HTTP-date form. Comma-joined duplicate headers
    use the first element that parses.
    """
    if raw is None or mode == "ignore":
        return None
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    # An HTTP-date holds a comma itself ("Sun, 06 Nov 1994 ..."), so the whole value goes first.
    candidates = [raw, *raw.split(",")] if mode == "delta_or_date" else raw.split(",")
    for candidate in candidates:
        seconds = _delta_seconds(candidate, cap)
        if seconds is None and mode == "delta_or_date":
            seconds = _date_seconds(candidate, now, cap)
        if seconds is not None:
            return seconds
    return None
