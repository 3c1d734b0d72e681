"""The list of recordings retention archived, kept small in the live log (issue 17).

A cut archives every recording finished before it and not spoken of since: their rows leave
the live tables and their history lies in the segments. Whether a recording is listed is all
that is asked (`is_archived`: `why` and `timeline` read its segment; a registration of its id
again is a duplicate). A row per recording (`archived_wals`, written before this release)
took about 26 bytes and its B-tree's share a recording: 8.9 MB of a year's live log for
some 340k recordings. Here a cut's recordings are stored sorted, in chunks of up to CHUNK ids,
each one row (`archived_chunks`): the cut's first seq, the chunk's lowest and highest id, how
many, and the ids joined by newlines, zlib-compressed (about 3 bytes a recording). A look-up
reads the chunks whose range holds the id (one per cut at most: a cut's chunks do not
overlap) and decompresses only those: about a millisecond, however long the history.

A list an earlier walsync wrote is converted in the transaction of the first rows this
walsync appends (an append or a compaction), never before: an earlier walsync reads only that
list, and would read a converted log's as empty (`why` of an archived recording: unknown; its
file registered again). With the conversion, it finds rows of schema version 5, which it
refuses. Until then the list is read as it is.
"""

from __future__ import annotations

import re
import sqlite3
import zlib
from bisect import bisect_left
from collections.abc import Collection, Iterable, Sequence
from typing import Any, Final

__all__ = ["CHUNK", "archive", "archived_ids", "archived_rows", "archived_total",
           "convert_legacy", "is_listed", "put_rows"]

CHUNK: Final = 1000  # ids a row: bounds what one look-up decompresses
_LEGACY: Final = "archived_wals"
_CHUNKS: Final = "archived_chunks"
_FIRST_SEQ: Final = re.compile(r"\.seg-0*(\d+)-\d+")  # an earlier list named the segment's file
_COVERING: Final = ("SELECT segment, low, ids FROM archived_chunks "
                    "WHERE low <= ?1 AND high >= ?1")


def _has(conn: sqlite3.Connection, table: str) -> bool:
    return conn.execute("SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = ?",
                        (table,)).fetchone() is not None


def _pack(ids: Sequence[str]) -> bytes:
    return zlib.compress("\n".join(ids).encode(), 9)


def _unpack(blob: bytes) -> list[str]:
    return zlib.decompress(blob).decode().split("\n")


def _rows(segment: int, ids: Iterable[str]) -> list[tuple[int, str, str, int, bytes]]:
    """The chunk rows of one cut's recordings, sorted."""
    ordered = sorted(set(ids))
    return [(segment, part[0], part[-1], len(part), _pack(part))
            for part in (ordered[i:i + CHUNK] for i in range(0, len(ordered), CHUNK))]


def _insert(conn: sqlite3.Connection, rows: Iterable[tuple[Any, ...]]) -> None:
    conn.executemany("INSERT INTO archived_chunks (segment, low, high, count, ids) "
                     "VALUES (?, ?, ?, ?, ?)", rows)


def is_listed(conn: sqlite3.Connection, wal_id: str) -> bool:
    """Is the recording in the list (either form)?"""
    if _has(conn, _CHUNKS):
        for _segment, _low, blob in conn.execute(_COVERING, (wal_id,)):
            ids = _unpack(blob)
            at = bisect_left(ids, wal_id)
            if at < len(ids) and ids[at] == wal_id:
                return True
    return _has(conn, _LEGACY) and conn.execute(
        "SELECT 1 FROM archived_wals WHERE wal_id = ?", (wal_id,)).fetchone() is not None


def archived_total(conn: sqlite3.Connection) -> int:
    """How many recordings the list holds (a row per chunk read)."""
    total = conn.execute("SELECT coalesce(sum(count), 0) FROM archived_chunks").fetchone()[0] if (
        _has(conn, _CHUNKS)) else 0
    if _has(conn, _LEGACY):
        total += conn.execute("SELECT count(*) FROM archived_wals").fetchone()[0]
    return int(total)


def archived_ids(conn: sqlite3.Connection) -> set[str]:
    """Every recording listed (tests and checks: a row per chunk, all decompressed)."""
    found = {wal_id for (blob,) in conn.execute("SELECT ids FROM archived_chunks")
             for wal_id in _unpack(blob)} if _has(conn, _CHUNKS) else set()
    if _has(conn, _LEGACY):
        found |= {str(w) for (w,) in conn.execute("SELECT wal_id FROM archived_wals")}
    return found


def _drop(conn: sqlite3.Connection, gone: Collection[str]) -> None:
    """Take these recordings out of the chunks that list them (a chunk left empty goes)."""
    if not gone:
        return
    ordered = sorted(gone)
    for segment, low, high in conn.execute(
            "SELECT segment, low, high FROM archived_chunks").fetchall():
        start = bisect_left(ordered, low)
        if start == len(ordered) or ordered[start] > high:
            continue  # none of them in this chunk's range
        (blob,) = conn.execute("SELECT ids FROM archived_chunks WHERE segment = ? AND low = ?",
                               (segment, low)).fetchone()
        ids = _unpack(blob)
        kept = [w for w in ids if w not in gone]
        if len(kept) == len(ids):
            continue
        conn.execute("DELETE FROM archived_chunks WHERE segment = ? AND low = ?", (segment, low))
        if kept:
            _insert(conn, [(segment, kept[0], kept[-1], len(kept), _pack(kept))])


def archive(conn: sqlite3.Connection, segment: int, ids: Collection[str],
            keep: Collection[str]) -> None:
    """List `ids` under the cut whose segment starts at `segment`, each moved from any earlier
    cut that listed it, and take `keep` (carried on by this cut, spoken of again) out. In the
    compaction's transaction, which appends rows of today's version: a list an earlier walsync
    wrote is converted first."""
    convert_legacy(conn)
    _drop(conn, {*ids, *keep})
    _insert(conn, _rows(segment, ids))


def archived_rows(conn: sqlite3.Connection) -> tuple[tuple[Any, ...], ...]:
    """The list as stored, chunk by chunk (salvage carries it into the new log); a list in the
    earlier form comes as chunks."""
    rows = [tuple(r) for r in conn.execute(
        "SELECT segment, low, high, count, ids FROM archived_chunks ORDER BY segment, low")
    ] if _has(conn, _CHUNKS) else []
    if _has(conn, _LEGACY):
        rows += _legacy_chunks(conn)
    return tuple(rows)


def put_rows(conn: sqlite3.Connection, rows: Iterable[tuple[Any, ...]]) -> None:
    """Insert chunk rows as archived_rows gave them."""
    _insert(conn, rows)


def _legacy_chunks(conn: sqlite3.Connection) -> list[tuple[Any, ...]]:
    """An earlier list's rows as chunks, under each cut's first seq (its segment column holds
    it as text, or, written earlier still, the segment's file name)."""
    by_cut: dict[int, list[str]] = {}
    for wal_id, segment in conn.execute("SELECT wal_id, segment FROM archived_wals"):
        named = _FIRST_SEQ.search(str(segment))
        text = named.group(1) if named else str(segment)
        by_cut.setdefault(int(text) if text.isdigit() else 0, []).append(str(wal_id))
    return [row for cut, ids in sorted(by_cut.items()) for row in _rows(cut, ids)]


def convert_legacy(conn: sqlite3.Connection) -> None:
    """Convert a list an earlier walsync wrote (a row per recording) into chunks and drop it:
    inside the caller's write transaction, which appends rows of today's schema version."""
    if not _has(conn, _LEGACY):
        return
    _insert(conn, _legacy_chunks(conn))
    conn.execute("DROP TABLE archived_wals")
