"""`walsync ingest`: load device log files into the fleet database. The file is hostile input
(contract C8: private copy, size cap, hardened open, quick_check, exact schema); of its rows,
only those from the device's stored head on are read, checked and added (tail.py), so a log
that grew by one event costs one event's work beside the file checks.

A log does not name its device (the engine's `device` field is a device type, shared by a
whole fleet), so the device id is given: `--device ID` for one log, else the file's name
without .db, .jsonl or .jsonl.gz (`phone-42.db` and `phone-42.jsonl.gz` are both `phone-42`).
"""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path
from typing import Any, Final

from attrs import asdict, frozen

from walsync.adapters.fleet.store import PgConnection
from walsync.adapters.fleet.tail import TailRefused, add_tail, first_difference
from walsync.adapters.ports import StoredEvent
from walsync.adapters.store.readonly.queries import resolve_cut
from walsync.adapters.store.share.importer import (
    MAX_BYTES,
    ImportRejected,
    checked_rows,
    open_shared_log,
)

__all__ = ["DEVICE_ID", "IngestRefused", "IngestResult", "device_id_for", "ingest_log",
           "read_log_tail"]

DEVICE_ID: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9.:@+-]{0,127}")
_SUFFIXES: Final = (".jsonl.gz", ".jsonl", ".db")


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
    """The device id: `given`, else the file name without its suffix; checked."""
    name = Path(path).name
    if given is None:
        lower = name.lower()
        suffix = next((s for s in _SUFFIXES if lower.endswith(s)), "")
        name = name[:len(name) - len(suffix)]
    else:
        name = given
    if not DEVICE_ID.fullmatch(name):
        raise ImportRejected(f"{name!r} is not a usable device id (letters, digits and .:@+- "
                             f"only, at most 128); name the file after the device or pass --device.")
    return name


def read_log_tail(path: str | Path, device_id: str, head_seq: int, *,
                  max_bytes: int = MAX_BYTES) -> tuple[int, list[StoredEvent]]:
    """(the log's last seq, its rows from `head_seq` on, or its last row when it ends before
    it): what an ingest compares with the head and adds. An empty log is refused."""
    try:
        checked = max(head_seq - 1, 0)
        with open_shared_log(path, max_bytes=max_bytes, rows_after=checked) as conn:
            top = resolve_cut(conn).seq
            if top == 0:
                raise ImportRejected("the log holds no events; there is nothing to ingest.")
            rows = checked_rows(conn, min(head_seq, top) - 1 if head_seq else 0, checked)
    except ImportRejected as rejected:
        raise IngestRefused(device_id, str(path), rejected.reason) from None
    except (sqlite3.Error, UnicodeDecodeError):
        raise IngestRefused(device_id, str(path), "the file cannot be read.") from None
    return top, rows


def ingest_log(conn: PgConnection, path: str | Path, device_id: str) -> IngestResult:
    """Ingest one log as `device_id` in one transaction; refused (nothing added) if it is
    hostile or contradicts what the database holds."""
    found = conn.execute("SELECT head_seq FROM devices WHERE device_id = %s", (device_id,)).fetchone()
    top, rows = read_log_tail(path, device_id, int(found[0]) if found else 0)
    try:
        done = add_tail(conn, device_id, rows)
    except TailRefused as refused:
        reason, seq = refused.reason, refused.seq
        if refused.kind == "conflict" and rows and rows[0].seq > 1:  # name the first seq apart
            seq = first_difference(conn, device_id, read_log_tail(path, device_id, 0)[1])
            reason = reason.replace(f"at seq {refused.seq}", f"at seq {seq}")
        raise IngestRefused(device_id, str(path), reason, seq) from None
    return IngestResult(device_id=device_id, path=str(path), log_events=top,
                        already=top - done.added, added=done.added,
                        head_seq=done.head_seq, head_hash=done.head_hash)
