"""Time travel into the sealed history: a cut that lies before a compacted live log starts
(`--at` a time, or `--seq` a row the segments hold), and every row up to it, read back from
the segments in seq order, each segment checked against the digest its seal anchored.

A fold from seq 1 over these rows and then the live log's is the whole history's fold: the
retention anchors (`SegmentSealed`, `StateCarried`) change no projection, so folding over
them is folding past them. A cut by seq reads the segments up to it; a cut by time reads
every segment (a clock that jumped back can put an earlier time after a later one), so it
costs what the sealed history is, where a cut in the live log costs what the live log is.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any, Final

from walsync.adapters.ports import StoredEvent
from walsync.adapters.store.readonly.queries import Cut, connect_readonly, read_log, resolve_cut
from walsync.adapters.store.records import stored_from_row
from walsync.adapters.store.segments.anchors import carried_state, live_start, seals
from walsync.adapters.store.segments.files import read_segment
from walsync.core.errors import LogCompacted
from walsync.core.serde import format_time, parse_time

__all__ = ["history_cut", "history_from", "log_of", "raw_sealed_rows", "sealed_cut", "sealed_rows"]

_SEQ, _AT, _COMMIT_END = 0, 6, 10  # a segment row's columns (records.EVENT_COLUMNS)
EVERY: Final = 2**63 - 1


def log_of(conn: sqlite3.Connection) -> Path:
    """The log file a connection reads (its segments lie beside it)."""
    return Path(str(conn.execute("PRAGMA database_list").fetchone()[2]))


def sealed_rows(log: Path, conn: sqlite3.Connection, upto: int = EVERY, *,
                from_seq: int = 1) -> Iterator[StoredEvent]:
    """The rows the sealed segments hold from seq `from_seq` up to seq `upto`, in seq order,
    streamed."""
    for row in raw_sealed_rows(log, conn, upto, from_seq=from_seq):
        if int(row[_SEQ]) >= from_seq:
            yield stored_from_row(row)


def history_from(log: Path, from_seq: int) -> Iterator[StoredEvent]:
    """The log's whole history from seq `from_seq` on: what the sealed segments hold of it
    first (when the live log of a compacted log starts after it), then the live log's rows."""
    with closing(connect_readonly(log)) as conn:
        start = live_start(conn)
        if start is not None and from_seq <= start.seq:
            yield from sealed_rows(log, conn, start.seq, from_seq=from_seq)
    yield from read_log(log, from_seq=max(from_seq, start.seq + 1 if start is not None else 1))


def raw_sealed_rows(log: Path, conn: sqlite3.Connection, upto: int = EVERY, *,
                    from_seq: int = 1) -> Iterator[tuple[Any, ...]]:
    """The segments' rows as stored, up to seq `upto` (a segment ending before `from_seq` is
    not read). LogCompacted when a segment is gone, SegmentAltered when its bytes are not
    those its seal anchored."""
    for *_, seal in seals(conn):
        if seal.first_seq > upto:
            return
        if seal.last_seq < from_seq:
            continue
        file = log.with_name(seal.file)
        if not file.is_file():
            raise LogCompacted(
                f"history before seq {seal.last_seq + 1} was removed by retention on "
                f"{seal.at.date().isoformat()}: the segment {seal.file} is not beside the log, "
                "so what it held cannot be read")
        for row in read_segment(file, seal.sha256):
            if int(row[_SEQ]) > upto:
                return
            yield row


def sealed_cut(log: Path, conn: sqlite3.Connection, *, at: str | None = None,
               seq: int | None = None) -> Cut:
    """What `resolve_cut` answers, for a cut the segments hold: `--seq N` at the end of the
    commit holding N, `--at T` after the last commit made by then (a commit that ended after
    T is left out whole, and the note says so)."""
    if at is None:
        return _cut_at_seq(log, conn, max(int(seq or 0), 0))
    bound = format_time(parse_time(at))
    last = start = 0
    end: int | None = None
    for row, commit_start in _with_commit_starts(raw_sealed_rows(log, conn)):
        if str(row[_AT]) <= bound:
            last, start, end = int(row[_SEQ]), commit_start, _later_end(row)
    moment = parse_time(at)
    if end is None:
        return Cut(seq=last, moment=moment)
    return Cut(seq=start - 1, moment=moment, asked=at,
               note=f"seq {start}-{end} were written in one commit that ended after {at}")


def _cut_at_seq(log: Path, conn: sqlite3.Connection, seq: int) -> Cut:
    """The end of the commit holding `seq` (in the segments), with the time of its last row.
    Only the segments from the one holding `seq` are read: a segment ends between commits."""
    if seq == 0:
        return Cut(seq=0, moment=None)
    end = seq
    for row, start in _with_commit_starts(raw_sealed_rows(log, conn, from_seq=seq)):
        row_seq = int(row[_SEQ])
        if row_seq == seq:
            end = _later_end(row) or seq
        if row_seq == end:
            note = None if end == seq else (
                f"seq {seq} is inside the commit of seq {start}-{end}: shown as of its end, "
                "the first state a reader could see")
            return Cut(seq=end, moment=parse_time(str(row[_AT])),
                       asked=seq if end != seq else None, note=note)
    return Cut(seq=seq, moment=None)


def _with_commit_starts(rows: Iterator[tuple[Any, ...]]) -> Iterator[tuple[tuple[Any, ...], int]]:
    """Each row with the first seq of the commit holding it (the rows of one commit share its
    commit_end; a row written before commit boundaries were recorded is a commit alone)."""
    start, commit_end = 0, None
    for row in rows:
        if row[_COMMIT_END] is None or row[_COMMIT_END] != commit_end or start == 0:
            start, commit_end = int(row[_SEQ]), row[_COMMIT_END]
        yield row, start


def _later_end(row: tuple[Any, ...]) -> int | None:
    """The last seq of the row's commit when the commit runs on past it, else None."""
    end = row[_COMMIT_END]
    return end if isinstance(end, int) and end > int(row[_SEQ]) else None


def history_cut(conn: sqlite3.Connection, *, at: str | None = None,
                seq: int | None = None) -> Cut:
    """`resolve_cut` over the whole history: in the live log, or in the sealed segments when
    the cut lies before a compacted live log starts."""
    cut = resolve_cut(conn, at=at, seq=seq)
    carried = carried_state(conn)
    if carried is None or cut.seq > carried.cut_seq:
        return cut
    return sealed_cut(log_of(conn), conn, at=at, seq=seq)
