"""The credential never lands anywhere: a token checked before it is used, and scrubbed from any
text wherever it stands whole, in the forms a server or a library may echo it in.

Pure string work: the HTTP client scrubs every server-provided text before it becomes an event,
`walsync sync` scrubs what it prints, and `walsync export` scrubs a token it is given.
"""

from __future__ import annotations

import html
import json
import re
from typing import Final
from urllib.parse import quote, quote_plus

from walsync.core.errors import InvalidToken

__all__ = ["REDACTED", "SHORT_TOKEN", "TokenScrubber", "check_token", "token_warning"]

REDACTED: Final = "[redacted]"
# Shorter than this, a token is more likely a placeholder than a secret, and its text can stand
# whole inside ordinary output ("t", "test"): `walsync sync` warns.
SHORT_TOKEN: Final = 16
_HEADER_SAFE: Final = re.compile(r"[\x21-\x7e]+")
_WORD: Final = re.compile(r"[A-Za-z0-9]")


def check_token(token: str) -> None:
    """Refuse a token that cannot travel in an `Authorization` header, before any request:
    HTTP libraries refuse it mid-request with a message that quotes it (escaped), and that
    message would be stored. The error says where and what, never the token itself."""
    if not token:
        raise InvalidToken("the token is empty")
    if _HEADER_SAFE.fullmatch(token):
        return
    at = next(i for i, ch in enumerate(token) if not _HEADER_SAFE.fullmatch(ch))
    found = token[at]
    what = {"\r": "a carriage return (a token file saved with Windows line endings?)",
            "\n": "a line break", " ": "a space", "\t": "a tab"}.get(
        found, "a control character" if ord(found) < 0x20 or ord(found) == 0x7f
        else "a non-ASCII character")
    raise InvalidToken(f"the token contains {what} at position {at + 1} of {len(token)}; a "
                       "token is printable ASCII without spaces: remove it and try again")


def token_warning(token: str) -> str | None:
    """A warning for a token too short to be a secret, or None."""
    if len(token) >= SHORT_TOKEN:
        return None
    return (f"the token is only {len(token)} character(s) long: too short to be a secret "
            f"(output redacts it only where it stands as a whole word)")


def _forms(token: str) -> set[str]:
    """The token raw, JSON- and backslash-escaped, HTML-escaped and URL-encoded (any case of
    the percent escapes, `/` kept or encoded, `+` for a space)."""
    forms = {token, json.dumps(token)[1:-1], json.dumps(token)[1:-1].replace("/", "\\/"),
             token.encode("unicode_escape").decode("ascii"), html.escape(token)}
    for encoded in (quote(token, safe=""), quote(token), quote_plus(token)):
        forms.update({encoded, re.sub(r"%[0-9A-F]{2}", lambda m: m[0].lower(), encoded)})
    return {form for form in forms if form}


def _whole(form: str) -> str:
    """`form` where it stands whole: not preceded or followed by a letter or digit that would
    make it part of a longer word (a label before it, `token=`, `Bearer `, is no letter)."""
    before = r"(?<![A-Za-z0-9])" if _WORD.match(form[0]) else ""
    after = r"(?![A-Za-z0-9])" if _WORD.match(form[-1]) else ""
    return before + re.escape(form) + after


class TokenScrubber:
    """Replaces every whole occurrence of one token, in every form `_forms` lists, by
    `[redacted]`; the longest forms first, so an encoded form is not left half-replaced."""

    def __init__(self, token: str) -> None:
        forms = sorted(_forms(token), key=len, reverse=True) if token else []
        self._pattern = re.compile("|".join(_whole(f) for f in forms)) if forms else None

    def scrub(self, text: str) -> str:
        """`text` without the token."""
        return self._pattern.sub(REDACTED, text) if self._pattern is not None else text

    def __call__(self, text: str) -> str:
        return self.scrub(text)
