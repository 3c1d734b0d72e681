"""The append rules both stores share: idempotent ids, optimistic versions, the hash chain."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from walsync.adapters.log_records import NewEvent, StoredEvent, body_of, make_stored
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
    `expected` raises ConcurrencyConflict. Nothing is written here.
    """
    seq, prev_hash = head
    versions: dict[str, int] = {}
    seen: dict[str, tuple[str, str, str, str]] = {}
    rows: list[StoredEvent] = []
    for new in events:
        body = body_of(new)
        earlier = seen.get(new.event_id) or stored_body(new.event_id)
        if earlier is not None:
            if earlier != body:
                raise IdempotencyConflict(
                    f"event id {new.event_id!r} was already appended with a different body")
            continue
        stream = body[0]
        if stream not in versions:
            versions[stream] = stream_version(stream)
            if expected is not None and stream in expected and expected[stream] != versions[stream]:
                raise ConcurrencyConflict(stream, expected[stream], versions[stream])
        versions[stream] += 1
        seq += 1
        row = make_stored(new, seq=seq, version=versions[stream], prev_hash=prev_hash, body=body)
        prev_hash = row.hash
        seen[new.event_id] = body
        rows.append(row)
    return rows
