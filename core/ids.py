"""Ids at the API boundary: what may become part of a stream name or a row key (T28)."""

from __future__ import annotations

import unicodedata
from typing import Final

from walsync.core.errors import InvalidId

__all__ = ["MAX_ID_LENGTH", "check_count", "check_id"]

MAX_ID_LENGTH: Final = 1024
_FITS: Final = 1 << 63  # a number in an event is stored as a signed 64-bit integer
# Control characters (NUL stops SQL length(); CR/LF forge log lines), surrogates (no UTF-8),
# and line/paragraph separators. Format characters such as U+202E stay: they round-trip.
_REFUSED: Final = frozenset({"Cc", "Cs", "Zl", "Zp"})


def check_id(kind: str, value: str) -> str:
    """`value` unchanged when it can be an id; InvalidId (a ValueError) naming the problem."""
    if not isinstance(value, str) or not value:
        raise InvalidId(f"{kind} must be a non-empty string")
    if len(value) > MAX_ID_LENGTH:
        raise InvalidId(f"{kind} is longer than {MAX_ID_LENGTH} characters")
    if value.isascii() and value.isprintable():  # the usual id: no character to look up
        return value
    for index, ch in enumerate(value):
        if unicodedata.category(ch) in _REFUSED:
            raise InvalidId(f"{kind} holds a control character (U+{ord(ch):04X}) at {index}")
    return value


def check_count(kind: str, value: int) -> int:
    """`value` unchanged when it is a whole number from 0 that fits in 64 bits (a timer, a
    sample rate); InvalidId naming the problem otherwise (the log could not store it)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidId(f"{kind} must be a whole number")
    if not 0 <= value < _FITS:
        raise InvalidId(f"{kind} must be from 0 to 2**63-1")
    return value
