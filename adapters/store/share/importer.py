"""Import a shared log as hostile input (contract C8): private copy, hardened read-only open, checks.
A compacted log is read whole: the sealed segments beside it first (share/whole.py)."""

from __future__ import annotations

import gzip
import os
import shutil
import sqlite3
import stat
import tempfile
import time
import zlib
from collections.abc import Iterator
from contextlib import closing, contextmanager
from functools import cache
from pathlib import Path
from typing import IO, Any, Final

from walsync.adapters.ports import StoredEvent
from walsync.adapters.store.readonly.verify import out_of_time, verify_log
from walsync.adapters.store.records import (
    has_commit_column,
    insert_rows,
    select_rows,
    stored_from_row,
)
from walsync.adapters.store.schema import create_schema, earlier_definitions, schema_of
from walsync.adapters.store.share.export import COLUMNS, EXPORT_FORMAT, MANIFEST_DDL, ROW_TYPES, strict_json
from walsync.adapters.store.share.limits import DEADLINE_S, MAX_BYTES, MIB
from walsync.adapters.store.share.replay import replay_into
from walsync.adapters.store.share.whole import CompactedWithoutSegments, needs_sealed_rows, whole_log
from walsync.core.errors import StoreError
from walsync.core.events import EVENT_TYPES, Event
from walsync.core.serde import SCHEMA_VERSION, canonical_bytes
from walsync.projections.view import Projection

__all__ = ["DEADLINE_S", "MAX_BYTES", "ImportRejected", "ImportTooLarge", "checked_copy",
           "checked_rows", "import_log", "open_shared_log", "replay_shared_log"]

_MAX_LINE: Final = MIB
_MAX_CELL: Final = 2 * MIB
_RAISE_LIMITS: Final = ("A log you trust can be imported with higher limits: walsync import "
                        "--max-mb N --max-seconds S.")


class ImportRejected(StoreError):
    """A shared log failed a check; `reason` is one plain sentence for the user."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class ImportTooLarge(ImportRejected):
    """A shared log over the size or time limit (a year of a device's history is): the
    reason says how to import it with higher limits."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"{reason} {_RAISE_LIMITS}")


@contextmanager
def open_shared_log(path: str | Path, *, max_bytes: int = MAX_BYTES,
                    deadline_s: float = DEADLINE_S, diagnosis: bool = False,
                    rows_after: int | None = None) -> Iterator[sqlite3.Connection]:
    """A hardened read-only connection to a checked private copy of `path` (.db or .jsonl).

    `diagnosis` (read-only replay) lets rows of an unknown type or a newer schema version
    through; the caller must leave them out of its fold and report them (store/readonly/unreadable.py).
    `rows_after` (the fleet's incremental ingest): the file is checked whole, but the rows only
    after that seq, and the hash chain not at all: the caller verifies the rows it takes,
    chained to a head it already verified.
    """
    with _checked(path, max_bytes=max_bytes, deadline_s=deadline_s, diagnosis=diagnosis,
                  rows_after=rows_after) as (conn, _):
        yield conn


def checked_rows(conn: sqlite3.Connection, after: int, checked_after: int) -> list[StoredEvent]:
    """The rows after `after`, in seq order, of a file `open_shared_log(rows_after=
    checked_after)` opened: rows it checked (every column's SQLite type) are taken as SQLite
    returns them, without converting each value again; earlier ones are converted."""
    cursor = conn.execute(select_rows(conn) + " WHERE seq > ? ORDER BY seq", [after])
    if after >= checked_after:
        return list(map(StoredEvent._make, cursor))
    return [stored_from_row(values) for values in cursor]


@contextmanager
def checked_copy(path: str | Path, *, max_bytes: int = MAX_BYTES,
                 deadline_s: float = DEADLINE_S) -> Iterator[Path]:
    """The private copy of a shared log as a SQLite file, once it passed every check (diagnosis
    mode, as `open_shared_log`): the read-only commands open it as they open a live log. It is
    deleted when the block ends."""
    with _checked(path, max_bytes=max_bytes, deadline_s=deadline_s, diagnosis=True) as (_, db):
        yield db


@contextmanager
def _checked(path: str | Path, *, max_bytes: int, deadline_s: float, diagnosis: bool,
             rows_after: int | None = None) -> Iterator[tuple[sqlite3.Connection, Path]]:
    work = Path(tempfile.mkdtemp(prefix="walsync-import-"))
    conn: sqlite3.Connection | None = None
    try:
        copy = _private_copy(Path(path), work, max_bytes)
        db = _jsonl_to_db(copy, work / "from_jsonl.db") if copy.suffix == ".jsonl" else copy
        try:
            conn = _open_hardened(db, deadline_s)
            _check(conn, diagnosis=diagnosis, after=rows_after or 0)
            if needs_sealed_rows(conn, rows_after):  # compacted: its older rows lie beside it
                db = whole_log(Path(path), conn, work / "whole.db", max_bytes=max_bytes,
                               deadline_s=deadline_s)
                conn.close()
                conn = _open_hardened(db, deadline_s)
                _check(conn, diagnosis=diagnosis, after=rows_after or 0)
        except CompactedWithoutSegments as refused:
            raise (ImportTooLarge if refused.over_limit else ImportRejected)(
                f"{path}: {refused}") from None
        except (sqlite3.Error, UnicodeDecodeError) as error:  # damaged text decodes badly too
            raise _sql_rejection(error, deadline_s) from None
        # The private copy: hash chain and order (unless the caller verifies the rows it takes).
        chain = verify_log(db, timeout=deadline_s) if rows_after is None else None
        if chain is not None and not chain.ok:
            raise (ImportTooLarge if out_of_time(chain) else ImportRejected)(
                f"the log fails verification at seq {chain.first_bad_seq}: {chain.problem}")
        yield conn, db
    finally:
        if conn is not None:
            conn.close()
        shutil.rmtree(work, ignore_errors=True)


def replay_shared_log(path: str | Path, *, max_bytes: int = MAX_BYTES,
                      deadline_s: float = DEADLINE_S) -> Projection:
    """Every projection folded from a checked shared log, in memory only."""
    with open_shared_log(path, max_bytes=max_bytes, deadline_s=deadline_s) as conn:
        return _fold(conn, deadline_s)[0]


def import_log(path: str | Path, target_db: str | Path, *, max_bytes: int = MAX_BYTES,
               deadline_s: float = DEADLINE_S) -> int:
    """Copy a checked shared log into a NEW database file (no other file is written); its rows.
    `max_bytes` caps the file (uncompressed) and its segments, `deadline_s` each read of it."""
    target = Path(target_db)
    if os.path.lexists(target):
        raise ImportRejected(f"{target} already exists; import only writes a new database.")
    with open_shared_log(path, max_bytes=max_bytes, deadline_s=deadline_s) as conn:
        count = _fold(conn, deadline_s)[1]
        checked = Path(conn.execute("PRAGMA database_list").fetchone()[2])
        built = checked.with_name("imported.db")
        try:
            replay_into(checked, built)  # every row and cell is checked: a plain read is safe now
            with built.open("rb") as src, target.open("xb") as dst:
                shutil.copyfileobj(src, dst)
        except (OSError, StoreError) as error:
            raise ImportRejected(f"the log could not be written to {target} ({error}).") from None
    return count


def _fold(conn: sqlite3.Connection, deadline_s: float) -> tuple[Projection, int]:
    """Fold every row; any read, decoding or fold failure is a rejection, never a crash."""
    projection, seq, count = Projection(), 0, 0

    def decoded() -> Iterator[tuple[int, Event]]:
        nonlocal seq, count
        for values in conn.execute(select_rows(conn) + " ORDER BY seq"):
            row = StoredEvent(**dict(zip(COLUMNS, values, strict=True)))
            seq, count = row.seq, count + 1
            yield seq, row.event  # every row decoded in full: a malformed body is refused

    try:
        projection.apply(decoded())  # one batch: each recording's row is built once
    except (sqlite3.Error, UnicodeDecodeError) as error:
        raise _sql_rejection(error, deadline_s) from None
    except Exception as error:  # hostile data: cattrs, KeyError, IllegalTransition, ...
        raise ImportRejected(f"the event at seq {seq} cannot be replayed ({type(error).__name__}).") from None
    return projection, count


def _gunzipped_copy(path: Path, work: Path, max_bytes: int) -> Path:
    """A .jsonl.gz export, decompressed with the same byte cap on the OUTPUT (a gzip bomb is
    refused at the cap, never inflated whole)."""
    packed = work / "shared.jsonl.gz.raw"
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        with os.fdopen(fd, "rb") as src:
            if not stat.S_ISREG(os.fstat(src.fileno()).st_mode):
                raise ImportRejected(f"{path} is not a regular file.")
            with packed.open("xb") as dst:
                _capped_copy(src, dst, max_bytes, path)
        target = work / "shared.jsonl"
        with gzip.open(packed, "rb") as src, target.open("xb") as dst:
            _capped_copy(src, dst, max_bytes, path)
    except (OSError, EOFError, gzip.BadGzipFile, zlib.error) as error:
        raise ImportRejected(f"{path} is not a readable gzip file ({type(error).__name__}).") from None
    return target


def _capped_copy(src: IO[bytes] | gzip.GzipFile, dst: IO[bytes], max_bytes: int, path: Path,
                 *, limit: str = "byte limit (uncompressed)") -> None:
    """Copy in 1 MiB chunks, refusing the file once more than max_bytes came through."""
    copied = 0
    while chunk := src.read(MIB):
        copied += len(chunk)
        if copied > max_bytes:
            raise ImportTooLarge(f"{path} is larger than the {max_bytes} {limit}.")
        dst.write(chunk)


def _private_copy(path: Path, work: Path, max_bytes: int) -> Path:
    """Copy a regular file (never a link, pipe, device or directory) with a size cap."""
    try:
        mode = os.lstat(path).st_mode
    except OSError:
        raise ImportRejected(f"there is no file at {path}.") from None
    if stat.S_ISLNK(mode):
        raise ImportRejected(f"{path} is a symbolic link; import reads regular files only.")
    if not stat.S_ISREG(mode):
        raise ImportRejected(f"{path} is not a regular file (a directory, device or pipe).")
    if path.name.lower().endswith(".jsonl.gz"):
        return _gunzipped_copy(path, work, max_bytes)
    target = work / ("shared.jsonl" if path.suffix == ".jsonl" else "shared.db")
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        with os.fdopen(fd, "rb") as src, target.open("xb") as dst:
            if not stat.S_ISREG(os.fstat(src.fileno()).st_mode):
                raise ImportRejected(f"{path} is not a regular file.")
            _capped_copy(src, dst, max_bytes, path, limit="byte limit")
        if target.suffix == ".db":  # a WAL-mode copy becomes rollback mode: no sidecar is copied
            with target.open("r+b") as file:
                if not file.read(20).startswith(b"SQLite format 3\x00"):
                    raise ImportRejected("the file is neither a SQLite database nor a JSONL export.")
                file.seek(18)
                file.write(b"\x01\x01")
    except OSError as error:
        raise ImportRejected(f"{path} could not be read ({error.strerror}).") from None
    return target


def _open_hardened(db: Path, deadline_s: float) -> sqlite3.Connection:
    conn = sqlite3.connect(f"{db.as_uri()}?mode=ro", uri=True, isolation_level=None)
    conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, _MAX_CELL)
    deadline = time.monotonic() + deadline_s
    conn.set_progress_handler(lambda: int(time.monotonic() > deadline), 1000)
    for pragma in ("trusted_schema=OFF", "cell_size_check=ON", "mmap_size=0", "query_only=ON"):
        conn.execute(f"PRAGMA {pragma}")
    return conn


def _sql_rejection(error: Exception, deadline_s: float) -> ImportRejected:
    if isinstance(error, sqlite3.DataError) or "too big" in str(error):
        return ImportRejected(f"the file holds a value larger than the {_MAX_CELL} byte limit.")
    if "interrupted" in str(error):
        return ImportTooLarge(f"reading the file took longer than the {deadline_s:g} s limit.")
    return ImportRejected("the file is not a readable SQLite database (it is damaged or "
                          "truncated).")


@cache
def _reference() -> dict[tuple[str, str], str | None]:
    """A fresh log's schema plus the export manifest: the only objects a shared file may hold."""
    with closing(sqlite3.connect(":memory:")) as conn:
        create_schema(conn)
        conn.execute(MANIFEST_DDL)
        return schema_of(conn)


def _check(conn: sqlite3.Connection, *, diagnosis: bool = False, after: int = 0) -> None:
    """quick_check, then the exact schema, then every row's type and schema version."""
    if conn.execute("PRAGMA quick_check").fetchall() != [("ok",)]:
        raise ImportRejected("the file failed SQLite's integrity check (quick_check).")
    reference, found = _reference(), schema_of(conn)
    for (kind, name), sql in found.items():  # exact DDL: P12 shows quick_check passes a hostile file
        label = repr(name[:40])
        if kind == "trigger":
            raise ImportRejected(f"the file contains a trigger ({label}), which import never runs.")
        if sql in earlier_definitions().get((kind, name), ()):
            continue  # a projection table (or its index) as earlier versions defined it
        if (kind, name) not in reference:
            what = "a name of ours as a" if name in {n for _, n in reference} else "an unknown"
            raise ImportRejected(f"the file contains {what} {kind} {label}, so it is not a walsync log.")
        if sql != reference[(kind, name)]:
            raise ImportRejected(f"the {kind} {label} does not have the expected definition.")
    if ("table", "events") not in found:
        raise ImportRejected("the file is not a walsync log (it has no events table).")
    _check_rows(conn, diagnosis=diagnosis, after=after)


def _check_rows(conn: sqlite3.Connection, *, diagnosis: bool = False, after: int = 0) -> None:
    known = sorted(EVENT_TYPES)
    # (where, params, message, also in diagnosis): read-only diagnosis lets rows of an unknown
    # type or a newer schema version through, to be counted and reported instead of refused.
    checks: tuple[tuple[str, list[Any], str, bool], ...] = (
        ("typeof(version) != 'integer' OR typeof(schema_version) != 'integer' OR "
         + " OR ".join(f"typeof({c}) != 'text'" for c in ("stream", "type", "at", "data",
                                                          "prev_hash"))
         + " OR ".join(("", *(f"typeof({c}) NOT IN ('text', 'blob')" for c in ("event_id", "hash"))))
         + " OR json_valid(data) = 0 OR json_type(data) != 'object'", [],
         "{n} rows of the events table have values of the wrong type (first at seq {s}).", True),
        (f"type NOT IN ({', '.join('?' * len(known))})", known,
         "{n} events have a type this walsync does not know (first at seq {s}).", False),
        ("schema_version > ?", [SCHEMA_VERSION],
         "{n} events were written by a newer schema version than " + str(SCHEMA_VERSION)
         + " (first at seq {s}); upgrade walsync to read this log.", False),
        ("max(" + ", ".join(f"length(CAST({c} AS BLOB))" for c in COLUMNS
                            if c not in ("seq", "commit_end"))
         + ") > ?", [_MAX_CELL], "{n} events hold a value over the size limit (first at seq {s}).",
         True),
    )
    if has_commit_column(conn):
        checks += (("typeof(commit_end) NOT IN ('integer', 'null')", [],
                    "{n} rows of the events table have values of the wrong type (first at seq "
                    "{s}).", True),)
    for where, params, message, always in checks:
        if diagnosis and not always:
            continue
        n, s = conn.execute(f"SELECT count(*), min(seq) FROM events WHERE seq > ? AND ({where})",  # noqa: S608 (fixed checks)
                            [after, *params]).fetchone()
        if n:
            raise ImportRejected(message.format(n=n, s=s))


def _jsonl_to_db(copy: Path, db: Path) -> Path:
    """Parse the export line by line with strict JSON into a fresh database built by create_schema."""
    with copy.open("rb") as file, closing(sqlite3.connect(db, isolation_level=None)) as conn:
        create_schema(conn)
        manifest = _json_line(file, 1)
        if not isinstance(manifest, dict) or manifest.get("walsync_export") != EXPORT_FORMAT:
            raise ImportRejected("the first line is not a walsync export manifest.")
        conn.execute("BEGIN")
        count, head = 0, "0:" + "0" * 64
        while (row := _json_line(file, count + 2)) is not None:
            if not isinstance(row, dict) or set(row) - {"commit_end"} != set(ROW_TYPES) or any(
                    not isinstance(row[k], t) or isinstance(row[k], bool)
                    for k, t in ROW_TYPES.items()) or not (
                    row.get("commit_end") is None or type(row["commit_end"]) is int):
                raise ImportRejected(f"line {count + 2} is not a walsync event row.")
            try:
                insert_rows(conn, [tuple(canonical_bytes(row[c]).decode() if c == "data"
                                         else row.get(c) for c in COLUMNS)])
            except (sqlite3.Error, TypeError, OverflowError):
                raise ImportRejected(f"line {count + 2} cannot be stored as an event row.") from None
            count, head = count + 1, f"{row['seq']}:{row['hash']}"
        conn.execute("COMMIT")
    if manifest.get("events") != count or manifest.get("head") != head:
        raise ImportRejected(f"the export is incomplete or altered: its manifest does not match "
                             f"its {count} event rows.")
    return db


def _json_line(file: IO[bytes], number: int) -> Any:
    """One strict JSON value, or None at the end of the file."""
    line = file.readline(_MAX_LINE + 1)
    if len(line) > _MAX_LINE:
        raise ImportRejected(f"line {number} is longer than the {_MAX_LINE} byte limit.")
    try:
        return strict_json(line) if line else None
    except ValueError as error:
        raise ImportRejected(f"line {number} is not strict JSON ({error}).") from None
