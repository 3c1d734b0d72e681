"""Retry-After parsing: never raises, always within [0, cap] or None.

Two readings. The app's (`seed`): the header trimmed and given to Dart's `int.tryParse`,
whatever that accepts (a sign, a `0x` hexadecimal literal, any 64-bit value) and nothing else
(not an HTTP-date, not "120, 60"). walsync's (RFC 9110 §10.2.3): ASCII delta-seconds or an
HTTP-date, the first element of a comma-joined value that parses.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Final

from walsync.core.policy import RetryAfterMode

__all__ = ["MAX_RETRY_AFTER_SECONDS", "dart_try_parse_int", "parse_retry_after"]

MAX_RETRY_AFTER_SECONDS: Final = 86_400
# ASCII digits only: int() would also take "+120", "1_000", "١٢٠" and full-width digits.
_DELTA = re.compile(r"[ \t]*([0-9]+)[ \t]*")
_MAX_DIGITS = 12
# Dart's String.trim (and int.parse's own trimming): Unicode White_Space and the BOM. Python's
# str.strip() differs (it also strips U+001C-U+001F and keeps U+FEFF).
_DART_WHITESPACE: Final = ("\t\n\x0b\x0c\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005"
                           "\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000\ufeff")
_DART_DECIMAL: Final = re.compile(r"([+-]?)([0-9]+)")
_DART_HEX: Final = re.compile(r"([+-]?)0[xX]([0-9a-fA-F]+)")
_INT64_MAX: Final = 2**63 - 1


def _delta_seconds(text: str, cap: int) -> int | None:
    match = _DELTA.fullmatch(text)
    if match is None:
        return None
    digits = match.group(1).lstrip("0") or "0"
    if len(digits) > _MAX_DIGITS:  # cap before int arithmetic can overflow a timedelta
        return cap
    return min(int(digits), cap)


def dart_try_parse_int(text: str) -> int | None:
    """Dart's `int.tryParse(text)` on the VM (64-bit ints): surrounding whitespace ignored, an
    optional sign, then ASCII decimal digits, or a `0x` hexadecimal literal (a positive one
    above 2^63-1 and below 2^64 wraps to the negative int of its bits); out of range or
    anything else is null."""
    body = text.strip(_DART_WHITESPACE)
    decimal = _DART_DECIMAL.fullmatch(body)
    if decimal is not None:
        digits = decimal.group(2).lstrip("0") or "0"
        if len(digits) > 19:  # more than int64 holds: checked before int() sees a long string
            return None
        value = int(digits) * (-1 if decimal.group(1) == "-" else 1)
        return value if -_INT64_MAX - 1 <= value <= _INT64_MAX else None
    hexadecimal = _DART_HEX.fullmatch(body)
    if hexadecimal is None:
        return None
    digits = hexadecimal.group(2).lstrip("0") or "0"
    if len(digits) > 16:
        return None
    value, negative = int(digits, 16), hexadecimal.group(1) == "-"
    if negative:
        return -value if value <= _INT64_MAX + 1 else None
    if value <= _INT64_MAX:
        return value
    return value - 2**64 if value < 2**64 else None  # unsigned 64-bit literal, as the VM allows


def _app_seconds(raw: str, cap: int) -> int | None:
    """The app: `int.tryParse(header.trim())`, then markLimited takes a value > 0, capped, and
    treats anything else as absent (the default pause): None here."""
    value = dart_try_parse_int(raw)
    return None if value is None or value <= 0 else min(value, cap)


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

    `app` reads the header as the app does (`int.tryParse` of the trimmed value; None when
    that is not a positive integer, which the app's gate takes as absent); `delta_or_date` reads ASCII
    delta-seconds or the HTTP-date form, using the first element of comma-joined duplicate
    headers that parses.
    """
    if raw is None or mode == "ignore":
        return None
    if mode == "app":
        return _app_seconds(raw, cap)
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    # An HTTP-date holds a comma itself ("Sun, 06 Nov 1994 ..."), so the whole value goes first.
    for candidate in [raw, *raw.split(",")]:
        seconds = _delta_seconds(candidate, cap)
        if seconds is None:
            seconds = _date_seconds(candidate, now, cap)
        if seconds is not None:
            return seconds
    return None
