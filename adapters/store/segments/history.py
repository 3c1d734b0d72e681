"""A recording's history read back from the sealed segments, for `why`: its own stream (an
archived recording's whole history, or the start of a carried one's) and the rows `why` reads
besides (the gate's, the policies, held passes, salvages), each segment checked against the
digest its seal anchored."""

from __future__ import annotations

import sqlite3
from collections.abc import Collection
from pathlib import Path
from typing import Final

import orjson

from walsync.adapters.ports import StoredEvent
from walsync.adapters.store.readonly.job_rows import as_member_rows
from walsync.adapters.store.records import stored_from_row
from walsync.adapters.store.segments.anchors import carried_wal, is_archived
from walsync.adapters.store.segments.travel import raw_sealed_rows

__all__ = ["SHARED_TYPES", "needs_segments", "segment_history"]

# The rows `why` reads besides a recording's own stream (store/readonly/queries.py's as well).
SHARED_TYPES: Final = frozenset({"PolicyApplied", "UploadsHeld", "LogSalvaged"})


def needs_segments(conn: sqlite3.Connection, wal_id: str) -> bool:
    """Whether the start of the recording's history lies in the segments (it was archived, or
    the last cut carried it)."""
    return is_archived(conn, wal_id) or carried_wal(conn, wal_id) is not None


def segment_history(log: Path, conn: sqlite3.Connection, wal_ids: Collection[str] | None,
                    upto: int) -> list[StoredEvent]:
    """The rows up to seq `upto` of these recordings' streams (every recording's: None) and
    the shared ones, from every segment in seq order. LogCompacted when a segment is gone
    (history removed by retention), SegmentAltered when one's bytes are not those its seal
    anchored."""
    raw = list(raw_sealed_rows(log, conn, upto))
    if wal_ids is None:
        return list(as_member_rows(stored_from_row(row) for row in raw if row[2] == "gate" or (
            row[4] in SHARED_TYPES or row[2].startswith(("wal:", "job:")))))
    streams = {f"wal:{wal_id}" for wal_id in wal_ids}
    # and the streams of the jobs they were accepted into (a job's end is stored once there)
    streams |= {"job:" + str(orjson.loads(row[7])["attempt_id"]) for row in raw
                if row[4] == "UploadAccepted" and row[2] in streams}
    return list(as_member_rows((stored_from_row(row) for row in raw if row[2] == "gate" or (
        row[4] in SHARED_TYPES or row[2] in streams)), set(wal_ids)))
