"""`walsync ingest`: load device logs into the fleet database, checked as hostile input (C8),
in bulk (COPY), idempotently: what the database already holds of a device is compared by hash,
and only the events after it are added; a log that differs from it is refused.

A log does not name its device (the engine's `device` field is a device type, shared by a
whole fleet), so the device id is given: `--device ID` for one log, else the file's stem
(`phone-42.db` and `phone-42.jsonl` are both device `phone-42`).
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

from attrs import asdict, frozen

from walsync.adapters.fleet.projection import refresh_device
from walsync.adapters.fleet.store import PgConnection, insert_rows, lock_device
from walsync.adapters.ports import StoredEvent
from walsync.adapters.store.readonly.queries import all_rows
from walsync.adapters.store.share.importer import MAX_BYTES, ImportRejected, open_shared_log
from walsync.core.events import Event
from walsync.projections.view import Projection

__all__ = ["IngestRefused", "IngestResult", "device_id_for", "ingest_log", "read_checked_log"]

_DEVICE_ID: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@+-]{0,127}")


class IngestRefused(ImportRejected):
    """A log was not ingested; the message names the device, the file and, if any, the seq."""

    def __init__(self, device_id: str, path: str, reason: str, seq: int | None = None) -> None:
        super().__init__(f"device {device_id} ({path}): {reason}")
        self.device_id, self.path, self.seq = device_id, path, seq


@frozen(kw_only=True)
class IngestResult:
    """What one log added: `added` new events after `already` ones the database held."""

    device_id: str
    path: str
    log_events: int
    already: int
    added: int
    head_seq: int
    head_hash: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def device_id_for(path: str | Path, given: str | None = None) -> str:
    """The device id: `given`, else the file name without its .db/.jsonl suffix; checked."""
    name = given if given is not None else Path(path).name.removesuffix(".jsonl").removesuffix(".db")
    if not _DEVICE_ID.fullmatch(name):
        raise ImportRejected(f"{name!r} is not a usable device id (letters, digits and ._:@+- "
                             f"only, at most 128); name the file after the device or pass --device.")
    return name


def read_checked_log(path: str | Path, device_id: str, *,
                     max_bytes: int = MAX_BYTES) -> list[StoredEvent]:
    """Every row of a log that passed the C8 checks (schema, rows, hash chain) and replays."""
    try:
        with open_shared_log(path, max_bytes=max_bytes) as conn:
            rows = list(all_rows(conn))
    except ImportRejected as rejected:
        raise IngestRefused(device_id, str(path), rejected.reason) from None
    except (sqlite3.Error, UnicodeDecodeError):
        raise IngestRefused(device_id, str(path), "the file cannot be read.") from None
    at = [0]

    def events() -> Iterator[tuple[int, Event]]:
        for row in rows:
            at[0] = row.seq  # the seq being decoded or folded, for the refusal
            yield row.seq, row.event

    try:
        Projection().apply(events())
    except Exception as error:  # hostile data: cattrs, KeyError, IllegalTransition, ...
        raise IngestRefused(device_id, str(path), f"the event at seq {at[0]} cannot be replayed "
                            f"({type(error).__name__}).", at[0]) from None
    return rows


def ingest_log(conn: PgConnection, path: str | Path, device_id: str, *,
               rows: list[StoredEvent] | None = None) -> IngestResult:
    """Ingest one checked log as `device_id` in one transaction; refused if it contradicts
    what the database holds. `rows` (already checked) skips reading the file again."""
    rows = read_checked_log(path, device_id) if rows is None else rows
    with conn.transaction():
        head_seq, head_hash = lock_device(conn, device_id)
        common = min(head_seq, len(rows))
        if common and rows[common - 1].hash != (head_hash if common == head_seq else
                                                _stored_hash(conn, device_id, common)):
            seq = _first_difference(conn, device_id, rows[:common])
            raise IngestRefused(device_id, str(path), f"the log differs from the one already "
                                f"ingested at seq {seq} (rewritten, or another device's log); "
                                f"nothing was added.", seq)
        new = rows[head_seq:]
        insert_rows(conn, device_id, new)
        if new:
            refresh_device(conn, device_id, rows)
    top = new[-1] if new else (rows[common - 1] if common else None)
    return IngestResult(device_id=device_id, path=str(path), log_events=len(rows),
                        already=common, added=len(new), head_seq=top.seq if top else 0,
                        head_hash=top.hash if top else "")


def _stored_hash(conn: PgConnection, device_id: str, seq: int) -> str:
    found = conn.execute("SELECT hash FROM events WHERE device_id = %s AND seq = %s",
                         (device_id, seq)).fetchone()
    return str(found[0]) if found else ""


def _first_difference(conn: PgConnection, device_id: str, rows: list[StoredEvent]) -> int:
    """The first seq whose hash differs (the chain makes every later one differ too)."""
    stored: dict[int, str] = dict(conn.execute(
        "SELECT seq, hash FROM events WHERE device_id = %s AND seq <= %s",
        (device_id, len(rows))).fetchall())
    return next(r.seq for r in rows if stored.get(r.seq) != r.hash)
