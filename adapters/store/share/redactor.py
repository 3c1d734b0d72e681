"""An export's redaction: stable pseudonyms for the identifiers in structured fields, and free
text scrubbed of those identifiers, of tokens and of secrets and personal data.

Every identifier learnt (a device, a recording, a path, a conversation) is looked for in every
string. A loop over all of them per string cost a year's log (about four identifiers per
recording) its recordings times its strings; instead each identifier is filed under one of its
four-character pieces, the rarest, and a string is checked only against the identifiers filed
under a piece it contains. Which ones replace what, and in which order, stays as the loop had
it: every identifier present, the longest first, each on the text the longer ones left.
"""

from __future__ import annotations

import functools
import hashlib
import heapq
import hmac
import re
import secrets
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any, Final

from walsync.core.redaction import TokenScrubber

__all__ = ["REDACTED_FIELDS", "Redactor"]

_DEVICE_FIELDS: Final = ("device",)
_WAL_FIELDS: Final = ("wal_id", "batch", "member_wal_ids", "cause_wal_id", "wal_ids")
_PATH_FIELDS: Final = ("file_path",)
_CONVERSATION_FIELDS: Final = ("conversation_id", "new_conversations", "updated_conversations")
REDACTED_FIELDS: Final = tuple(sorted(
    (*_DEVICE_FIELDS, *_WAL_FIELDS, *_PATH_FIELDS, *_CONVERSATION_FIELDS, "stream",
     "bearer_token", "cookie", "url_query", "email", "ip_address", "home_path")))
_TOKEN: Final = re.compile(r"\bbearer\s+[A-Za-z0-9\-._~+/]+=*|\beyJ[\w-]+\.[\w-]+\.[\w-]*", re.I)
# Secrets and personal data in free text (server messages, transport errors), each replaced by a
# pseudonym of its kind: cookies, URL query values, e-mail addresses, IP addresses, home paths.
_FREE_TEXT: Final = (
    ("cookie", re.compile(r"\b(?:set-)?cookie\s*[:=]\s*[^\r\n]*", re.I)),
    # A value after a credential's label (`token=`, `auth: `, `api_key=`, URL-encoded `=` too):
    # a server that echoes the credential it was sent (older logs may hold one). The label stays.
    ("secret", re.compile(r"(?P<label>\b(?:token|auth|authorization|access_token|api_key"
                          r"|apikey|secret|password|passwd)(?:\s*[=:]\s*|%3d))(?!bearer\b)"
                          r"[^\s\"'&,;]+", re.I)),
    ("query", re.compile(r"(?<=[?&])[^=&\s#]+=[^&\s#\"']*")),
    ("email", re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")),
    ("ip", re.compile(r"\b(?:\d{1,3}\.){3}\d{1,3}\b|\b(?:[0-9A-Fa-f]{1,4}:){2,7}[0-9A-Fa-f]{1,4}\b")),
    ("path", re.compile(r"(?:/home/|/Users/|[A-Z]:\\+Users\\+)[^\s\"']+", re.I)),
)
# A character each pattern above cannot match without (a space after `bearer`, the `=` or `:`
# after a label, `@`, a dot, a slash...): a text holding none of them (most identifiers, counts,
# states) skips their seven passes.
_MAYBE: Final = re.compile(r"[\s.:=%@/\\]")
_MEMO: Final = 20_000  # texts remembered with what they became (ids, states repeat per row)
_EXTENSION: Final = re.compile(r"\.[A-Za-z0-9]{1,8}$")
_PIECE: Final = 4  # identifiers shorter than this are not looked for in free text


def _pieces(text: str) -> set[str]:
    return {text[i:i + _PIECE] for i in range(len(text) - _PIECE + 1)}


class _Index:
    """The identifiers looked for in free text (_PIECE characters or more), in the order they
    are replaced (the longest first; equal lengths in the order learnt), each filed under its
    rarest piece."""

    def __init__(self, known: Sequence[str]) -> None:
        ordered = [k for k in sorted(known, key=len, reverse=True) if len(k) >= _PIECE]
        self.rank = {k: i for i, k in enumerate(ordered)}
        counts = Counter(piece for k in ordered for piece in _pieces(k))
        self.filed: dict[str, list[str]] = {}
        for k in ordered:
            self.filed.setdefault(min(_pieces(k), key=counts.__getitem__), []).append(k)

    def present(self, text: str) -> list[str]:
        """The identifiers `text` holds."""
        filed = self.filed
        return [k for piece in _pieces(text) for k in filed.get(piece, ()) if k in text]


class Redactor:
    """Stable per-export pseudonyms: HMAC-SHA256 with a random salt, so equal inputs stay equal."""

    def __init__(self, tokens: Sequence[str] = ()) -> None:
        self._salt = secrets.token_bytes(32)
        self._mac = hmac.new(self._salt, digestmod=hashlib.sha256)  # copied per pseudonym
        self._known: dict[str, str] = {}
        self._index: _Index | None = None
        self._memo: dict[str, str] = {}
        self._tokens = [TokenScrubber(token) for token in tokens if token]

    def pseudonym(self, kind: str, value: str) -> str:
        mac = self._mac.copy()
        mac.update(f"{kind}\0{value}".encode())
        digest = mac.hexdigest()
        return f"{kind}-{digest[:8]}"

    def device(self, value: str) -> str:
        return self._remember(value, self.pseudonym("dev", value))

    def wal(self, value: str) -> str:
        device, sep, start = value.rpartition("_")
        fake = (f"{self.device(device)}_{start}" if sep and device and start.isdigit()
                else self.pseudonym("wal", value))
        return self._remember(value, fake)

    def path(self, value: str) -> str:
        ext = _EXTENSION.search(value)
        return self._remember(value, self.pseudonym("path", value) + (ext.group() if ext else ""))

    def conversation(self, value: str) -> str:
        return self._remember(value, self.pseudonym("conv", value))

    def _remember(self, value: str, fake: str) -> str:
        if value not in self._known:
            self._index = None  # filed again when next looked for
            self._memo.clear()
        self._known[value] = fake
        return fake

    def text(self, value: str) -> str:
        """Any free text: given tokens, known identifiers (longest first) and bearer-like tokens
        replaced."""
        done = self._memo.get(value)
        if done is None:
            if len(self._memo) >= _MEMO:
                self._memo.clear()
            done = self._memo[value] = self._scrubbed(value)
        return done

    def _scrubbed(self, value: str) -> str:
        for scrub in self._tokens:
            value = scrub(value)
        value = self._identifiers(value)
        if _MAYBE.search(value) is None:
            return value
        value = _TOKEN.sub(lambda m: "Bearer " + self.pseudonym("tok", m.group()), value)
        for kind, pattern in _FREE_TEXT:
            value = pattern.sub(functools.partial(self._replace, kind), value)
        return value

    def _identifiers(self, value: str) -> str:
        """Each known identifier the text holds replaced by its pseudonym, the longest first, as
        a loop over every one would: an identifier a replacement brings in is looked for too
        when its turn is still to come."""
        if self._index is None:
            self._index = _Index(list(self._known))
        rank = self._index.rank
        queue = [(rank[k], k) for k in set(self._index.present(value))]
        heapq.heapify(queue)
        seen = {k for _, k in queue}
        while queue:
            turn, original = heapq.heappop(queue)
            if original not in value:
                continue
            value = value.replace(original, self._known[original])
            for k in self._index.present(value):
                if k not in seen and rank[k] > turn:
                    seen.add(k)
                    heapq.heappush(queue, (rank[k], k))
        return value

    def _replace(self, kind: str, match: re.Match[str]) -> str:
        label = match.groupdict().get("label") or ""
        return label + self.pseudonym(kind, match.group()[len(label):])

    def learn(self, data: dict[str, Any]) -> None:
        """Remember the identifiers of a row's structured fields (data() without its text)."""
        for names, fn in self._structured():
            for name in (n for n in names if n in data):
                _map(data[name], fn)

    def data(self, data: dict[str, Any]) -> dict[str, Any]:
        """Structured fields first (so `_known` is filled), then every remaining string."""
        out = dict(data)
        for names, fn in self._structured():
            for name in (n for n in names if n in out):
                out[name] = _map(out[name], fn)
        return {key: _map(value, self.text) for key, value in out.items()}

    def _structured(self) -> tuple[tuple[tuple[str, ...], Callable[[str], str]], ...]:
        return ((_DEVICE_FIELDS, self.device), (_WAL_FIELDS, self.wal),
                (_PATH_FIELDS, self.path), (_CONVERSATION_FIELDS, self.conversation))

    def stream(self, stream: str) -> str:
        return "wal:" + self.wal(stream[4:]) if stream.startswith("wal:") else self.text(stream)

    def learn_stream(self, stream: str) -> None:
        """Remember a recording's stream's identifier (stream() without its text)."""
        if stream.startswith("wal:"):
            self.wal(stream[4:])


def _map(value: Any, fn: Callable[[str], str]) -> Any:
    if isinstance(value, str):
        return fn(value)
    if isinstance(value, list):
        return [_map(v, fn) for v in value]
    if isinstance(value, dict):
        return {k: _map(v, fn) for k, v in value.items()}
    return value
