"""Ids at the API boundary: what may become part of a stream name or a row key (T28)."""

from __future__ import annotations

import unicodedata
from typing import Final

from walsync.core.errors import InvalidId

__all__ = ["MAX_ID_LENGTH", "check_id"]

MAX_ID_LENGTH: Final = 1024
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
