"""`walsync compact`: history older than a horizon moved out of the live log into sealed
segment files beside it, in an order a crash at any point survives. Each segment holds at most
SEGMENT_EVENTS events, cut one after the other (steps 2-4 for each).

1. The store opens the log once (the start-up gate checks it, its tables reach its head).
2. The cut: the rows from the live log's first seq up to the last whole commit before the
   first row at or after the horizon. The view as of the cut is folded.
3. Those rows are written to the segment file, fsynced, renamed into place, the folder fsynced.
4. One transaction appends `SegmentSealed` (range, count, hashes, the file's sha256) and
   `StateCarried` (the view at the cut, for every recording the live log still speaks of),
   deletes the rows, drops the status rows of the archived recordings (finished before the cut,
   not spoken of since) and lists them (`archived_chunks`, store/segments/archive_list.py).
A crash before 4 commits leaves the old log whole (and at most a segment file no seal names,
replaced by the next compaction); after, the new one. Then VACUUM gives the pages back.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import closing
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Final

import attrs

from walsync.adapters.ports import NewEvent
from walsync.adapters.store.append_plan import plan_append
from walsync.adapters.store.checkpoints import enter_wal_mode
from walsync.adapters.store.errors import translate_sqlite_error
from walsync.adapters.store.readonly.queries import connect_readonly
from walsync.adapters.store.records import SELECT_HEAD, hex_of, keep_prev_hash, select_rows
from walsync.adapters.store.segments.anchors import carried_state
from walsync.adapters.store.segments.archive_list import archive, archived_total
from walsync.adapters.store.segments.cut_view import carried_at_cut, view_at_cut
from walsync.adapters.store.segments.files import segment_name, write_segment
from walsync.adapters.store.sqlite import SqliteStore, insert_event_rows
from walsync.core.errors import StoreError
from walsync.core.events import SegmentSealed, StateCarried
from walsync.core.serde import format_time, parse_time
from walsync.core.states import FINISHED_STATES
from walsync.projections.carried import carry_state
from walsync.projections.view import Projection

__all__ = ["SEGMENT_EVENTS", "CompactReport", "compact_log", "oldest_live_at"]

# Called with the name of each step reached (tests inject a crash there).
Fault = Callable[[str], None]
_CARRIED_STREAMS: Final = ("gate", "engine")
_HASH_AT: Final = f"SELECT {hex_of('hash')} FROM events WHERE seq = ?"  # noqa: S608 (fixed terms)
# Events per sealed segment: an archived recording's history is read back (`why`, `timeline`,
# the report) by reading its whole segment, so a segment's size bounds what that costs; a year's
# log compacted at once made one segment of 2.4M events (238.6 MB; bench/bench_lifetime.py).
SEGMENT_EVENTS: Final = 100_000


@attrs.frozen(kw_only=True)
class CompactReport:
    """What a compaction did (`segment` None: nothing was older than the horizon)."""

    log: str
    horizon: str
    segment: str | None = None
    first_seq: int = 0
    last_seq: int = 0
    events: int = 0
    carried: int = 0
    archived: int = 0
    sha256: str | None = None
    segment_bytes: int = 0
    log_bytes_before: int = 0
    log_bytes_after: int = 0
    vacuumed: bool = False
    segments: int = 0

    def to_json(self) -> dict[str, Any]:
        """The report as JSON data."""
        return attrs.asdict(self)


def _no_fault(_step: str) -> None:
    return None


def compact_log(path: str | Path, *, older_than: timedelta, now: datetime,
                vacuum: bool = True, fault: Fault = _no_fault,
                segment_events: int = SEGMENT_EVENTS,
                max_segments: int | None = None) -> CompactReport:
    """Move the live log's history from before `now - older_than` into sealed segments of at
    most `segment_events` events each (more only where one commit is longer), one after the
    other, at most `max_segments` of them (None: all; a background step seals one, the rest
    waits for the next). The report adds the segments up (`segment` and `sha256` name the
    last). SQLite's and
    the file system's errors are typed (StoreError): the log is then as it was up to the last
    segment sealed, or compacted when only the VACUUM failed (`vacuumed` False)."""
    log = Path(path)
    # Only a walsync log is compacted: opening a text file or an empty one for writing would
    # move it aside as a damaged log, or make it a new log, and report nothing to compact (T84).
    connect_readonly(log).close()
    try:
        return _compact(log, older_than=older_than, now=now, vacuum=vacuum, fault=fault,
                        segment_events=segment_events, max_segments=max_segments)
    except sqlite3.Error as error:
        raise translate_sqlite_error(error, str(log)) from error
    except OSError as error:  # writing a segment (a full disk): its rows were not moved
        raise StoreError(f"compacting {log} failed writing its segment: {error}; the rows "
                         "it would have held were left in the log") from error


def _compact(log: Path, *, older_than: timedelta, now: datetime, vacuum: bool,
             fault: Fault, segment_events: int, max_segments: int | None) -> CompactReport:
    horizon = format_time(now - older_than)
    before = _size(log)
    SqliteStore(log).close()
    report = CompactReport(log=str(log), horizon=horizon, log_bytes_before=before,
                           log_bytes_after=before)
    with closing(sqlite3.connect(log, isolation_level=None, timeout=5.0)) as conn:
        enter_wal_mode(conn, 5.0)
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA busy_timeout=5000")
        while (max_segments is None or report.segments < max_segments) and (
                cut := _cut(conn, horizon, segment_events)) is not None:
            report = _compact_once(conn, log, cut, report, now=now, fault=fault)
        if report.segment is None:
            return report
        if vacuum:  # the deleted rows' pages back to the file system
            try:
                conn.execute("VACUUM")
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            except sqlite3.OperationalError:  # busy: compacted all the same, pages kept
                vacuum = False
    return attrs.evolve(report, log_bytes_after=_size(log), vacuumed=vacuum)


def _compact_once(conn: sqlite3.Connection, log: Path, cut: tuple[int, int],
                  report: CompactReport, *, now: datetime, fault: Fault) -> CompactReport:
    """Seal the rows `cut` (first, last seq) into one segment; the report with it added."""
    first, last = cut
    view = view_at_cut(conn, last)
    name = segment_name(log, first, last)
    ends: dict[str, tuple[Any, ...]] = {}
    digest = write_segment(log.with_name(name), _rows(conn, first, last, ends), first, last)
    fault("segment_written")
    conn.execute("BEGIN IMMEDIATE")
    try:
        carried, archived = _seal(conn, view, name, digest, ends, horizon=report.horizon, now=now)
        fault("sealed_uncommitted")
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    fault("committed")
    return attrs.evolve(
        report, segment=name, first_seq=report.first_seq or first, last_seq=last,
        events=report.events + last - first + 1, carried=carried,
        archived=report.archived + archived, sha256=digest,
        segment_bytes=report.segment_bytes + _size(log.with_name(name)), log_bytes_after=_size(log),
        segments=report.segments + 1)


def oldest_live_at(path: str | Path) -> datetime | None:
    """When the live log's first row was written (None: an empty log), by the seq index alone:
    what a background step reads to know whether anything has aged past the horizon."""
    try:
        with closing(connect_readonly(path)) as conn:
            found = conn.execute("SELECT at FROM events ORDER BY seq LIMIT 1").fetchone()
    except sqlite3.Error as error:
        raise translate_sqlite_error(error, str(path)) from error
    return None if found is None else parse_time(str(found[0]))


def _size(log: Path) -> int:
    """The log's bytes on disk, its -wal included."""
    wal = Path(f"{log}-wal")
    return log.stat().st_size + (wal.stat().st_size if wal.exists() else 0)


def _cut(conn: sqlite3.Connection, horizon: str, most: int) -> tuple[int, int] | None:
    """(first, last seq) to move next: from the live log's first row up to the end of the last
    whole commit before the first row at or after the horizon, and no further than `most` rows
    (to the end of the commit holding the row `most` rows on, when that commit begins at the
    first row); None when there is none."""
    first, head = conn.execute("SELECT min(seq), max(seq) FROM events").fetchone()
    if first is None:
        return None
    found = conn.execute("SELECT min(seq) FROM events WHERE at >= ?", (horizon,)).fetchone()[0]
    last = _whole(conn, int(head) if found is None else int(found) - 1)
    if last < int(first):
        return None
    if last - int(first) + 1 > most:
        bounded = _whole(conn, int(first) + most - 1)
        if bounded < int(first):  # one commit longer than `most`: the whole commit
            end = conn.execute("SELECT commit_end FROM events WHERE seq = ?",
                               (int(first) + most - 1,)).fetchone()[0]
            bounded = int(end)
        last = min(last, bounded)
    return int(first), last


def _whole(conn: sqlite3.Connection, last: int) -> int:
    """`last`, or the seq before the commit holding it when a commit runs on past it."""
    end = conn.execute("SELECT commit_end FROM events WHERE seq = ?", (last,)).fetchone()
    if end is not None and end[0] is not None and int(end[0]) > last:  # inside a commit
        return int(conn.execute("SELECT min(seq) FROM events WHERE commit_end = ?",
                                (end[0],)).fetchone()[0]) - 1
    return last


def _rows(conn: sqlite3.Connection, first: int, last: int,
          ends: dict[str, tuple[Any, ...]]) -> Iterator[tuple[Any, ...]]:
    """The rows to move, noting the first and the last in `ends`."""
    for row in conn.execute(select_rows(conn) + " WHERE seq >= ? AND seq <= ? ORDER BY seq",
                            (first, last)):
        ends.setdefault("first", row)
        ends["last"] = row
        yield row


def _seal(conn: sqlite3.Connection, view: Projection, name: str, digest: str,
          ends: dict[str, tuple[Any, ...]], *, horizon: str, now: datetime) -> tuple[int, int]:
    """Inside the write transaction: anchor the segment, carry the view, delete the rows,
    archive the finished recordings. (carried, archived) recordings."""
    first_row, last_row = ends["first"], ends["last"]
    first, last = int(first_row[0]), int(last_row[0])
    found = conn.execute("SELECT min(seq) FROM events").fetchone()[0]
    if found != first or conn.execute(_HASH_AT, (last,)).fetchone() != (last_row[9],):
        raise StoreError("another compaction moved these rows first; nothing was changed")
    head = conn.execute(SELECT_HEAD).fetchone()
    tables = conn.execute("SELECT seq FROM projection_head WHERE id = 1").fetchone()
    if tables is None or tables[0] != head[0]:
        raise StoreError("the projection tables do not stand at the log's head (a writer "
                         "appended without them meanwhile): open the log and compact again")
    previous = carried_state(conn)
    spoken = _spoken_after(conn, last, previous)
    live = {wal_id for wal_id, wal in view.wals.items() if wal.status not in FINISHED_STATES}
    wals, wal_rows = carried_at_cut(conn, view, sorted(live | spoken))
    archived = _archive(conn, view, set(wals), first, last)
    versions = {stream: _version_at(conn, stream, last, previous) for stream in _CARRIED_STREAMS}
    seal = SegmentSealed(at=now, file=name, first_seq=first, last_seq=last,
                         count=last - first + 1, prev_hash=str(first_row[8]),
                         first_hash=str(first_row[9]), last_hash=str(last_row[9]),
                         sha256=digest, horizon=parse_time(horizon))
    # Every recording archived so far (`status` reads this number, not the list).
    total = archived_total(conn)
    carried = carry_state(view, wals, wal_rows, versions=versions, at=now, archived=total)
    engine = max(_version_at(conn, "engine", int(head[0]), previous), 0)
    rows = plan_append([NewEvent(event_id=f"seal-{first}-{last}", event=seal),
                        *(NewEvent(event_id=f"carried-{first}-{last}" + (f"-{p.part}" if p.part else ""),
                                   event=p) for p in carried)], None,
                       head=(int(head[0]), str(head[1])), stream_version=lambda _s: engine,
                       stored_body=lambda _event_id: None)
    insert_event_rows(conn, rows)
    keep_prev_hash(conn, last + 1)
    conn.execute("DELETE FROM events WHERE seq <= ?", (last,))
    conn.execute("UPDATE projection_head SET seq = ? WHERE id = 1", (rows[-1].seq,))
    sealed = rows[0]  # the SegmentSealed row, as committed
    conn.execute("INSERT INTO sealed_segments (first_seq, sealed_seq, at, data) "
                 "VALUES (?, ?, ?, ?)", (first, sealed.seq, sealed.at, sealed.data))
    return len(wals), archived


def _spoken_after(conn: sqlite3.Connection, last: int, previous: StateCarried | None) -> set[str]:
    """The recordings that existed at the cut (rows up to it, or carried by the last cut) and
    are spoken of after it. Only those can be carried: one registered after the cut has no
    state there. Asked per recording by the stream index, not by reading every row after the
    cut (a background step took its lock for 1.1 s on a 35-day log doing that, and read the
    stream of each of 29k recordings registered since)."""
    existed = {stream for (stream,) in conn.execute(
        "SELECT DISTINCT stream FROM events WHERE seq <= ? AND stream LIKE 'wal:%'", (last,))}
    if previous is not None:
        existed |= {f"wal:{wal['wal_id']}" for wal in previous.wals}
    ended_later = {f"wal:{wal_id}" for (wal_id,) in conn.execute(_JOB_MEMBERS_AFTER, (last,))}
    return {stream[4:] for stream in existed if stream in ended_later or conn.execute(
        "SELECT 1 FROM events WHERE stream = ? AND seq > ? LIMIT 1", (stream, last)).fetchone()}


# The members of the jobs whose end the cut holds (stored once, on the job's stream): a
# recording carried by the last cut while it waited on its job has no row of its own after
# that, its job's end is its last word. Those the cut carries on are taken off again.
_JOB_MEMBERS_UPTO: Final = (
    "SELECT DISTINCT member.value FROM events, json_each(events.data, '$.wal_ids') AS member "
    "WHERE events.seq <= ? AND events.stream >= 'job:' AND events.stream < 'job;'")
_JOB_MEMBERS_AFTER: Final = (
    "SELECT DISTINCT member.value FROM events, json_each(events.data, '$.wal_ids') AS member "
    "WHERE events.seq > ? AND events.stream >= 'job:' AND events.stream < 'job;'")


def _archive(conn: sqlite3.Connection, view: Projection, keep: set[str], first: int,
             last: int) -> int:
    """List the recordings the cut archives (every one with rows up to it, or carried by the
    last cut, but those it carries on) under the segment's first seq (the cut
    `first`..`last`; store/segments/archive_list.py), and drop their status rows. How many."""
    ids = {stream[4:] for (stream,) in conn.execute(
        "SELECT DISTINCT stream FROM events WHERE seq <= ? AND stream LIKE 'wal:%'", (last,))}
    ids |= {wal_id for (wal_id,) in conn.execute(_JOB_MEMBERS_UPTO, (last,))}
    ids = (ids | set(view.wals)) - keep
    archive(conn, first, ids, keep)
    conn.executemany("DELETE FROM wal_rows WHERE wal_id = ?", [(w,) for w in sorted(ids)])
    return len(ids)


def _version_at(conn: sqlite3.Connection, stream: str, seq: int,
                previous: Any) -> int:
    """A stream's version at `seq`: from its rows in the live log, else as the last cut
    carried it (its rows all moved), else 0."""
    found = conn.execute("SELECT max(version) FROM events WHERE stream = ? AND seq <= ?",
                         (stream, seq)).fetchone()[0]
    if found is not None:
        return int(found)
    return int(previous.versions.get(stream, 0)) if previous is not None else 0
