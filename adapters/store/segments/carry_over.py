"""What the salvage of a damaged compacted log carries into the log it builds: where the live
log starts (the last `SegmentSealed` and `StateCarried`, the seq and chain hash its first row
continues, each carried stream's version), the list of sealed segments and of archived
recordings. The segments themselves stay beside the log, untouched: the new log still anchors
them, so `verify`, `why` and time travel read them as before.

The anchors were appended at the head when the log was compacted, so damage in the rows
written before that drops them from the verified prefix: they are then appended again after
it, the same events (ids, times, data), so that the new log starts where the old one did.
Anchors, seals or archive list that cannot be read leave the log unsalvaged (LogCorrupt).
"""

from __future__ import annotations

import glob
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson
from attrs import frozen

from walsync.adapters.ports import NewEvent
from walsync.adapters.store.append_plan import plan_append
from walsync.adapters.store.records import insert_rows, select_rows
from walsync.adapters.store.schema import RARE_TYPE
from walsync.adapters.store.segments.anchors import LiveStart, live_start
from walsync.adapters.store.segments.archive_list import archived_rows, put_rows
from walsync.core.errors import LogCorrupt, WalsyncError
from walsync.core.serde import event_from_data

__all__ = ["Retention", "carry_retention", "compacted", "read_retention"]

_SEQ, _EVENT_ID, _STREAM, _VERSION, _TYPE, _AT, _DATA, _HASH = 0, 1, 2, 3, 4, 6, 7, 9
_ANCHOR = f"SELECT seq FROM events WHERE type = ? AND {RARE_TYPE} ORDER BY seq DESC LIMIT 1"  # noqa: S608 (fixed terms)


@frozen
class Retention:
    """A compacted log's retention state, as read from the damaged log."""

    start: LiveStart
    anchors: tuple[tuple[Any, ...], ...]  # the rows of its last SegmentSealed and StateCarried(s)
    sealed: tuple[tuple[Any, ...], ...]  # sealed_segments, row for row
    archived: tuple[tuple[Any, ...], ...]  # the archived list's chunks (archive_list.py)


def compacted(log: Path) -> bool:
    """Whether sealed segments lie beside the log (it was compacted)."""
    return any(log.parent.glob(f"{glob.escape(log.name)}.seg-*.jsonl.gz"))


def read_retention(source: sqlite3.Connection, log: Path, problem: str) -> Retention | None:
    """The retention state of the damaged log at `log` (None: never compacted: no segment
    beside it). LogCorrupt when it cannot be read: nothing is salvaged then."""
    if not compacted(log):
        return None
    try:
        start = live_start(source)
        # The last seal and its StateCarried parts, all committed together right after it.
        (sealed_at,) = source.execute(_ANCHOR, ("SegmentSealed",)).fetchone()
        (carried_at,) = source.execute(_ANCHOR, ("StateCarried",)).fetchone()
        anchors = [tuple(row) for row in source.execute(
            select_rows(source) + " WHERE seq BETWEEN ? AND ? ORDER BY seq",
            (sealed_at, carried_at))]
        sealed = tuple(map(tuple, source.execute("SELECT * FROM sealed_segments ORDER BY first_seq")))
        archived = archived_rows(source)
    except (sqlite3.Error, UnicodeDecodeError, WalsyncError, ValueError, KeyError,
            TypeError) as error:
        raise LogCorrupt(f"the log {log} is damaged ({problem}); it was compacted (sealed "
                         f"segments lie beside it) and where its live log starts cannot be read "
                         f"({error}): it was left untouched") from error
    if start is None or not sealed:
        raise LogCorrupt(f"the log {log} is damaged ({problem}); sealed segments lie beside it "
                         "but it names none: it was left untouched")
    return Retention(start, tuple(anchors), sealed, archived)


def carry_retention(conn: sqlite3.Connection, retention: Retention,
                    kept: Sequence[tuple[Any, ...]]) -> None:
    """Inside the new log's first transaction, after its `kept` rows: the seals, the archive
    list, and the anchors again when the kept rows stop before them."""
    conn.executemany("INSERT INTO sealed_segments VALUES (?, ?, ?, ?)", retention.sealed)
    put_rows(conn, retention.archived)
    end = (kept[-1][_SEQ], kept[-1][_HASH]) if kept else (retention.start.seq,
                                                          retention.start.hash)
    missing = [row for row in retention.anchors if row[_SEQ] > end[0]]
    if not missing:
        return
    versions = dict(retention.start.versions)
    for row in kept:
        versions[row[_STREAM]] = row[_VERSION]
    events = [NewEvent(event_id=row[_EVENT_ID],
                       event=event_from_data(row[_TYPE], row[_AT], orjson.loads(row[_DATA])))
              for row in missing]
    rows = plan_append(events, None, head=(int(end[0]), str(end[1])),
                       stream_version=lambda stream: versions.get(stream, 0),
                       stored_body=lambda _event_id: None)
    insert_rows(conn, rows)
    for old, new in zip(missing, rows, strict=True):
        if old[_TYPE] == "SegmentSealed":  # the list names the seq its seal now stands at
            conn.execute("UPDATE sealed_segments SET sealed_seq = ? WHERE sealed_seq = ?",
                         (new.seq, old[_SEQ]))
