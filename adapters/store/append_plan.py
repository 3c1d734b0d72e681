"""The append rules both stores share: idempotent ids, optimistic versions, the hash chain."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from walsync.adapters.ports import NewEvent, StoredEvent
from walsync.adapters.store.records import body_of, make_stored
from walsync.core.errors import ConcurrencyConflict, IdempotencyConflict

__all__ = ["plan_append"]


def plan_append(
    events: Sequence[NewEvent],
    expected: Mapping[str, int] | None,
    *,
    head: tuple[int, str],
    stream_version: Callable[[str], int],
    stored_body: Callable[[str], tuple[str, str, str, str] | None],
) -> list[StoredEvent]:
    """The rows to insert for `events`, given the log's head and lookups into it.

    An event id already stored with the same body is skipped (already appended); with a
    different body it raises IdempotencyConflict. A stream whose version differs from
    `expected` raises ConcurrencyConflict. Every row records the seq of the batch's last row
    (`commit_end`): the batch is one commit. Nothing is written here.
    """
    seq, prev_hash = head
    # First which events are new (so the commit's last seq is known before any row is hashed:
    # every row records it), then their rows.
    kept: list[tuple[str, tuple[str, str, str, str]]] = []
    seen: dict[str, tuple[str, str, str, str]] = {}  # ids appended earlier in this batch
    for new in events:
        body = body_of(new)
        event_id = new.event_id
        earlier = seen.get(event_id)
        if earlier is None:
            earlier = stored_body(event_id)
        if earlier is not None:
            if earlier != body:
                raise IdempotencyConflict(
                    f"event id {event_id!r} was already appended with a different body")
            continue
        seen[event_id] = body
        kept.append((event_id, body))
    commit_end = seq + len(kept)
    written = {body[0] for _, body in kept}
    for standing, wanted in (expected or {}).items():  # streams the batch stands on, unwritten
        if standing not in written and stream_version(standing) != wanted:
            raise ConcurrencyConflict(standing, wanted, stream_version(standing))
    versions: dict[str, int] = {}
    rows: list[StoredEvent] = []
    for event_id, body in kept:
        stream = body[0]
        version = versions.get(stream)
        if version is None:
            version = stream_version(stream)
            if expected is not None and stream in expected and expected[stream] != version:
                raise ConcurrencyConflict(stream, expected[stream], version)
        versions[stream] = version = version + 1
        seq += 1
        row = make_stored(event_id, seq, version, prev_hash, body, commit_end)
        prev_hash = row.hash
        rows.append(row)
    return rows
