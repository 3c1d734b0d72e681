"""A compacted log shared as a file (its live part, its older history in sealed segment files
beside it) made whole for import, replay and the fleet's ingest: the segments' rows, then the
live rows, written into a fresh log file that then goes through every check a shared file does.

The segments are hostile input too: only regular files (never a link, pipe or device) named
by the log's own list of seals, each read only if its bytes hash to the digest its seal
anchored; the file they make is capped at the same byte limit and deadline as any import.
"""

from __future__ import annotations

import os
import sqlite3
import stat
import time
from collections.abc import Iterator
from contextlib import closing
from itertools import chain
from pathlib import Path
from typing import Any, Final

from walsync.adapters.store.records import insert_rows, select_rows
from walsync.adapters.store.schema import create_schema, of_types
from walsync.adapters.store.segments.anchors import seals
from walsync.adapters.store.segments.travel import raw_sealed_rows
from walsync.core.errors import LogCompacted, SegmentAltered, StoreError

__all__ = ["CompactedWithoutSegments", "needs_sealed_rows", "whole_log"]

_A_SEAL: Final = f"SELECT 1 FROM events WHERE {of_types('SegmentSealed')} LIMIT 1"  # noqa: S608 (fixed terms)


class CompactedWithoutSegments(StoreError):
    """The sealed history a compacted shared log needs cannot be read; one sentence.
    `over_limit`: it could, but it is over the reader's byte or time limit."""

    def __init__(self, reason: str, *, over_limit: bool = False) -> None:
        super().__init__(reason)
        self.over_limit = over_limit


def needs_sealed_rows(conn: sqlite3.Connection, rows_after: int | None) -> bool:
    """Whether the checked copy is a compacted live log (its rows start after seq 1 and it
    anchors sealed segments) whose rows the reader needs lie before it: every row (`rows_after`
    None), or the rows after `rows_after` when the live log starts later than that."""
    first = conn.execute("SELECT min(seq) FROM events").fetchone()[0]
    if first is None or int(first) <= (rows_after or 0) + 1:
        return False
    return conn.execute(_A_SEAL).fetchone() is not None


def whole_log(shared: Path, conn: sqlite3.Connection, target: Path, *, max_bytes: int,
              deadline_s: float) -> Path:
    """Write `target`: the rows of the segments beside `shared` that `conn` (its checked copy)
    anchors, then its own rows. CompactedWithoutSegments when a segment is gone, altered,
    not a regular file, or the whole is over `max_bytes`."""
    _refuse_odd_files(shared, conn, max_bytes)
    with closing(sqlite3.connect(target, isolation_level=None)) as out:
        create_schema(out)
        page = int(out.execute("PRAGMA page_size").fetchone()[0])
        pages = max(max_bytes // page, 16)
        out.execute(f"PRAGMA max_page_count = {int(pages)}")
        deadline = time.monotonic() + deadline_s
        out.set_progress_handler(lambda: int(time.monotonic() > deadline), 1000)
        rows = chain(_sealed(shared, conn), conn.execute(select_rows(conn) + " ORDER BY seq"))
        try:
            out.execute("BEGIN")
            insert_rows(out, rows)
            out.execute("COMMIT")
        except sqlite3.Error as error:
            if "full" in str(error):
                raise CompactedWithoutSegments(
                    f"its whole history (the sealed segments beside it and its live log) is "
                    f"larger than the {max_bytes} byte limit.", over_limit=True) from None
            raise
    return target


def _sealed(shared: Path, conn: sqlite3.Connection) -> Iterator[tuple[Any, ...]]:
    """The segments' rows as stored, each segment checked against its seal's digest."""
    try:
        yield from raw_sealed_rows(shared, conn)
    except LogCompacted as gone:
        raise CompactedWithoutSegments(f"it was compacted and {gone}.") from None
    except SegmentAltered as altered:
        raise CompactedWithoutSegments(
            f"it was compacted and its sealed history cannot be trusted: {altered}.") from None
    except (ValueError, KeyError, TypeError) as error:
        raise CompactedWithoutSegments(
            f"it was compacted and its list of sealed segments cannot be read "
            f"({type(error).__name__}).") from None


def _refuse_odd_files(shared: Path, conn: sqlite3.Connection, max_bytes: int) -> None:
    """Every segment the log names is a regular file (a link, pipe or device is refused,
    before any is read) and together they are within the byte limit."""
    total = 0
    try:
        named = [seal.file for *_, seal in seals(conn)]
        for name in named:
            mode_size = os.lstat(shared.with_name(name))
            if not stat.S_ISREG(mode_size.st_mode):
                raise CompactedWithoutSegments(
                    f"it was compacted and its segment {name[:80]!r} is not a regular file.")
            total += mode_size.st_size
    except FileNotFoundError:
        return  # read in turn: the first one missing is named with its seal's date
    except (ValueError, KeyError, TypeError, OSError) as error:
        raise CompactedWithoutSegments(
            f"it was compacted and its list of sealed segments cannot be read "
            f"({type(error).__name__}).") from None
    if total > max_bytes:
        raise CompactedWithoutSegments(
            f"its sealed segments are larger than the {max_bytes} byte limit.", over_limit=True)
