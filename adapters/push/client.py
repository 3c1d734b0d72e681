"""Push a device's log tail to the fleet (`walsync fleet serve`): ask the fleet for the head it
acknowledged, check that this log holds that very row (same seq, same hash), then send the rows
after it in batches. A batch whose answer is lost is sent again: the fleet compares what it
already holds and adds the rest once. Nothing is kept locally: the fleet's head is the
bookmark, so a push is resumable from any point and a second pusher does no harm.

`push_after_pass` is what a sync loop calls after each pass: it never raises for the fleet
(a failed push is one line, and the next pass sends again).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Final

import httpx
import orjson
from attrs import asdict, frozen

from walsync.adapters.ports import StoredEvent
from walsync.adapters.store.segments.travel import history_from
from walsync.adapters.store.share.export import COLUMNS
from walsync.core.errors import WalsyncError

__all__ = ["PushFailed", "PushRefused", "PushReport", "push_after_pass", "push_log"]

_BATCH_ROWS: Final = 2000
_BATCH_BYTES: Final = 4 << 20  # half the endpoint's default cap
_MAX_ANSWER: Final = 64 << 10
_RESTARTS: Final = 3


class PushFailed(WalsyncError):
    """The fleet could not be reached or answered badly, after retries: push again later."""


class PushRefused(WalsyncError):
    """The fleet refused the push for good (token, another history, a row it will not take)."""


@frozen(kw_only=True)
class PushReport:
    """One push: rows sent, added by the fleet, already held by it, and the fleet's head."""

    device_id: str
    sent: int
    added: int
    already: int
    head_seq: int
    requests: int

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def push_log(db_path: str | Path, fleet_url: str, token: str, *,
             transport: httpx.BaseTransport | None = None, batch_rows: int = _BATCH_ROWS,
             batch_bytes: int = _BATCH_BYTES, attempts: int = 3, timeout: float = 30.0,
             sleep: Callable[[float], None] = time.sleep) -> PushReport:
    """Send the log's rows the fleet does not hold yet; PushFailed / PushRefused otherwise."""
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    with httpx.Client(base_url=fleet_url.rstrip("/") + "/", headers=headers, timeout=timeout,
                      follow_redirects=False, transport=transport) as client:
        session = _Session(client, attempts, sleep)
        answer = session.call("GET", "v1/head")
        device_id, head = str(answer["device_id"]), (int(answer["head_seq"]), str(answer["head_hash"]))
        sent = added = already = 0
        for _ in range(_RESTARTS):
            try:
                for body, count in _batches(_tail(db_path, device_id, head), batch_rows, batch_bytes):
                    answer = session.call("POST", f"v1/devices/{device_id}/events", body)
                    sent += count
                    added += int(answer["added"])
                    already += int(answer["already"])
                    head = (int(answer["head_seq"]), str(answer["head_hash"]))
            except _Moved as moved:  # another pusher moved the head meanwhile: go on from it
                head = moved.head
                continue
            return PushReport(device_id=device_id, sent=sent, added=added, already=already,
                              head_seq=head[0], requests=session.requests)
    raise PushFailed(f"the fleet's head for device {device_id} kept moving; push again later")


def push_after_pass(db_path: str | Path, fleet_url: str, token: str,
                    say: Callable[[str], None], **options: Any) -> PushReport | None:
    """Push, and tell how it went in one line; a failure is told, never raised."""
    try:
        report = push_log(db_path, fleet_url, token, **options)
    except (PushFailed, PushRefused) as error:
        say(f"fleet push failed: {error}")
        return None
    say(f"fleet push: {report.added} new event(s) for device {report.device_id}, "
        f"fleet head seq {report.head_seq}")
    return report


class _Moved(Exception):
    def __init__(self, head: tuple[int, str]) -> None:
        super().__init__(head)
        self.head = head


class _Session:
    """Requests with retries on transport errors and 5xx (a resent push lands once)."""

    def __init__(self, client: httpx.Client, attempts: int, sleep: Callable[[float], None]) -> None:
        self.client, self.attempts, self.sleep, self.requests = client, max(1, attempts), sleep, 0

    def call(self, method: str, path: str, body: bytes | None = None) -> dict[str, Any]:
        problem = ""
        for attempt in range(self.attempts):
            if attempt:
                self.sleep(min(30.0, 0.5 * 2 ** attempt))
            self.requests += 1
            try:
                response = self.client.request(method, path, content=body)
                text = response.read()[:_MAX_ANSWER + 1]
            except httpx.HTTPError as error:
                problem = f"{type(error).__name__}: {str(error)[:200]}"
                continue
            answer = _json(text)
            if response.status_code == 200 and answer is not None:
                return answer
            error_text = str((answer or {}).get("error", ""))[:300] or f"HTTP {response.status_code}"
            if response.status_code == 409 and answer is not None and answer.get("kind") == "gap":
                raise _Moved((int(answer["head_seq"]), str(answer["head_hash"])))
            if response.status_code in (400, 401, 403, 409, 413):
                raise PushRefused(f"the fleet refused the push ({response.status_code}): {error_text}")
            problem = error_text
        raise PushFailed(f"the fleet at {self.client.base_url} did not take the push after "
                         f"{self.attempts} attempt(s): {problem}")


def _json(text: bytes) -> dict[str, Any] | None:
    if len(text) > _MAX_ANSWER:
        return None
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


def _tail(db_path: str | Path, device_id: str, head: tuple[int, str]) -> Iterator[StoredEvent]:
    """The log's rows after the fleet's head, once the log proved to hold that head."""
    seq, digest = head
    rows = history_from(Path(db_path), max(seq, 1))  # from the sealed segments, if it lies there
    if seq:
        first = next(rows, None)
        if first is None or first.seq != seq or first.hash != digest:
            raise PushRefused(f"the fleet holds a log for device {device_id} that this one does "
                              f"not continue (its seq {seq} is not this log's); push the log "
                              f"this device id belongs to")
    yield from rows


def _batches(rows: Iterator[StoredEvent], most: int, size: int) -> Iterator[tuple[bytes, int]]:
    """Request bodies {"rows": [...]} of about `most` rows and `size` bytes, cut only between
    commits (the fleet takes whole commits: its head is always a state the device had)."""
    parts: list[bytes] = []
    total = 0
    for row in rows:
        part = orjson.dumps({c: orjson.Fragment(row.data) if c == "data" else getattr(row, c)
                             for c in COLUMNS})
        parts.append(part)
        total += len(part) + 1
        between = row.commit_end is None or row.commit_end == row.seq
        if between and (len(parts) >= most or total > size):
            yield b'{"rows":[' + b",".join(parts) + b"]}", len(parts)
            parts, total = [], 0
    if parts:
        yield b'{"rows":[' + b",".join(parts) + b"]}", len(parts)
