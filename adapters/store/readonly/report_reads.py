"""What the HTML report reads from a log, in memory that does not grow with it: the rows every
recording's story shares (the gate's, the policies recorded, the passes a pause held), the time
of the first and last event, every recording's stream one recording at a time, and the streams
of the few recordings it draws.

A compacted log's older history lies in its sealed segments: their shared rows are read with
the live ones, and their recordings' rows go to a scratch database (a temporary file SQLite
deletes on close) so each recording's rows are met together, segments first.
"""

from __future__ import annotations

import heapq
import sqlite3
from collections.abc import Collection, Iterator
from contextlib import closing, contextmanager
from itertools import chain, groupby
from pathlib import Path
from typing import Final

from attrs import frozen

from walsync.adapters.ports import StoredEvent
from walsync.adapters.store.readonly.job_rows import JOB_STREAMS_OF_ANY, as_member_rows, job_streams
from walsync.adapters.store.readonly.queries import connect_readonly, rows_of
from walsync.adapters.store.records import EVENT_COLUMNS, EVENT_COLUMNS_SQL, select_rows
from walsync.adapters.store.schema import of_types
from walsync.adapters.store.segments.anchors import carried_state
from walsync.adapters.store.segments.history import segment_history
from walsync.adapters.store.segments.travel import raw_sealed_rows

__all__ = ["LogSpan", "chosen_streams", "log_span", "recording_count", "recording_streams"]

_SHARED: Final = f"stream = 'gate' OR ({of_types('PolicyApplied', 'UploadsHeld')})"
_RECORDINGS: Final = " WHERE stream >= 'wal:' AND stream < 'wal;' ORDER BY stream, version"
_IDS_PER_QUERY: Final = 500  # well under SQLite's limit on bound parameters


@frozen(kw_only=True)
class LogSpan:
    """The shared rows of the whole history in seq order, and its first and last event's time
    (None: an empty log)."""

    shared: list[StoredEvent]
    first_at: str | None
    last_at: str | None


def _compacted(conn: sqlite3.Connection) -> bool:
    return carried_state(conn) is not None


def log_span(path: str | Path) -> LogSpan:
    """The shared rows and the span of the whole history (segments included)."""
    with closing(connect_readonly(path)) as conn:
        select = select_rows(conn)
        live = list(rows_of(conn, f"{select} WHERE {_SHARED} ORDER BY seq", []))
        ends = [next(rows_of(conn, f"{select} ORDER BY seq {way} LIMIT 1", []), None)
                for way in ("ASC", "DESC")]
        shared: list[StoredEvent] = []
        first = ends[0].at if ends[0] is not None else None
        if _compacted(conn):
            for row in segment_history(Path(path), conn, (), 2**63 - 1):
                shared.append(row)
            segment_first = next(raw_sealed_rows(Path(path), conn), None)
            first = str(segment_first[6]) if segment_first is not None else first
    return LogSpan(shared=shared + live, first_at=first,
                   last_at=ends[1].at if ends[1] is not None else None)


@contextmanager
def _with_segments(path: str | Path) -> Iterator[list[sqlite3.Connection]]:
    """The connections holding recordings' rows: the live log, and for a compacted log first
    a scratch database of its segments' recording rows (an `events` table, indexed alike)."""
    with closing(connect_readonly(path)) as conn, closing(sqlite3.connect("")) as scratch:
        if not _compacted(conn):
            yield [conn]
            return
        scratch.execute(f"CREATE TABLE events ({EVENT_COLUMNS_SQL})")
        scratch.executemany(
            f"INSERT INTO events VALUES ({', '.join('?' * len(EVENT_COLUMNS))})",  # noqa: S608 (fixed count)
            (row for row in raw_sealed_rows(Path(path), conn)
             if str(row[2]).startswith(("wal:", "job:"))))
        scratch.execute("CREATE INDEX events_stream ON events (stream, version)")
        yield [scratch, conn]


@contextmanager
def recording_streams(path: str | Path) -> Iterator[Iterator[tuple[str, list[StoredEvent]]]]:
    """Each recording's rows in seq order, one recording at a time (in the order of their
    ids), the segments' first when the log was compacted."""
    with _with_segments(path) as conns:
        sources = [rows_of(c, select_rows(c) + _RECORDINGS, []) for c in conns]
        merged = heapq.merge(*sources, key=lambda row: (row.stream, row.seq))
        yield ((stream[4:], _with_jobs(conns, stream[4:], list(rows)))
               for stream, rows in groupby(merged, lambda r: r.stream))


def _with_jobs(conns: list[sqlite3.Connection], wal_id: str,
               rows: list[StoredEvent]) -> list[StoredEvent]:
    """A recording's rows and the ends of the jobs it was accepted into (stored once per job,
    on the job's stream), each read as its own `JobCompleted`, in seq order."""
    jobs = job_streams(rows)
    if not jobs:
        return rows
    marks = ", ".join("?" * len(jobs))
    found = [row for c in conns for row in rows_of(
        c, select_rows(c) + f" WHERE stream IN ({marks})", list[object](jobs))]
    return sorted([*rows, *as_member_rows(found, {wal_id})], key=lambda row: row.seq)


def recording_count(path: str | Path) -> int:
    """How many recordings the whole history speaks of (by the stream index, nothing decoded)."""
    with _with_segments(path) as conns:
        ids = [c.execute("SELECT DISTINCT stream FROM events WHERE stream >= 'wal:' "
                         "AND stream < 'wal;' ORDER BY stream") for c in conns]
        return sum(1 for _ in groupby(heapq.merge(*ids)))


def chosen_streams(path: str | Path, wal_ids: Collection[str]) -> dict[str, list[StoredEvent]]:
    """These recordings' rows in seq order (segments first), by recording; one with no row is
    left out."""
    ids = list(wal_ids)
    found: dict[str, list[StoredEvent]] = {}
    with closing(connect_readonly(path)) as conn:
        older = (segment_history(Path(path), conn, ids, 2**63 - 1) if _compacted(conn) and ids
                 else [])
        live = as_member_rows({row.seq: row for row in chain.from_iterable(
            rows_of(conn, select_rows(conn) + " WHERE stream IN (" + marks + ") OR stream IN ("
                    + JOB_STREAMS_OF_ANY + "(" + marks + ")) ORDER BY seq",
                    list[object]([f"wal:{w}" for w in chunk] * 2))
            for chunk in (ids[i:i + _IDS_PER_QUERY] for i in range(0, len(ids), _IDS_PER_QUERY))
            for marks in [", ".join("?" * len(chunk))])}.values(), set(ids))
        # A job a recording was accepted into before a cut may end after it (in the live log).
        sealed_jobs = job_streams(older)
        ends = as_member_rows(chain.from_iterable(
            rows_of(conn, select_rows(conn) + " WHERE stream IN ("
                    + ", ".join("?" * len(chunk)) + ")", list[object](chunk))
            for chunk in (sealed_jobs[i:i + _IDS_PER_QUERY]
                          for i in range(0, len(sealed_jobs), _IDS_PER_QUERY))), set(ids))
        seen: set[tuple[int, str]] = set()
        for row in chain(older, live, ends):
            if row.stream.startswith("wal:") and (row.seq, row.stream) not in seen:
                seen.add((row.seq, row.stream))
                found.setdefault(row.stream[4:], []).append(row)
    return {wal_id: sorted(rows, key=lambda r: r.seq) for wal_id, rows in found.items()}
