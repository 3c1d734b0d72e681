"""The SQLite event store: WAL journal, BEGIN IMMEDIATE, synchronous=FULL, projections in the same tx."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import suppress
from pathlib import Path
from typing import Final, Literal

from walsync.adapters import fork_guard
from walsync.adapters.append_plan import plan_append
from walsync.adapters.log_gate import check_log_at_open, is_corruption
from walsync.adapters.log_records import (
    EVENT_COLUMNS_SQL,
    GENESIS_HASH,
    NewEvent,
    StoredEvent,
    stored_from_row,
)
from walsync.adapters.log_schema import create_schema
from walsync.adapters.projection_tables import dump_projection_tables, full_delta, write_delta
from walsync.core.errors import (
    LogCorrupt,
    LogFromNewerVersion,
    StorageFull,
    StorageIOError,
    StoreError,
    WalsyncError,
)
from walsync.core.serde import SCHEMA_VERSION
from walsync.projections.view import Projection

__all__ = ["Connect", "SqliteStore", "translate_sqlite_error"]

Synchronous = Literal["FULL", "NORMAL", "EXTRA", "OFF"]
# Opens the log file: (path, busy timeout in seconds) -> an autocommit connection. Tests pass
# one that runs SQLite through a fault-injecting VFS; the default is the stdlib module.
Connect = Callable[[str, float], sqlite3.Connection]
_COLUMNS: Final = EVENT_COLUMNS_SQL
_INSERT: Final = f"INSERT INTO events ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"  # noqa: S608
_CHECKPOINT_EVERY: Final = 100  # a RESTART every 100 commits bounds the WAL beside readers (T08)
_WAL_SIZE_LIMIT: Final = 4 * 1024 * 1024  # a checkpoint truncates the WAL back to this


def _connect(path: str, timeout: float) -> sqlite3.Connection:
    return sqlite3.connect(path, isolation_level=None, timeout=timeout)


def translate_sqlite_error(error: sqlite3.Error) -> StoreError:
    """Map a driver error to our family (SQLITE_FULL gets its own type)."""
    name = str(getattr(error, "sqlite_errorname", ""))
    if name == "SQLITE_FULL":
        return StorageFull(f"the log's disk or page limit is full ({error})")
    if name.startswith("SQLITE_IOERR"):
        return StorageIOError(f"the disk failed under the log ({name}: {error}); the last "
                              "write may or may not have landed, and the log is re-read")
    if is_corruption(error):
        return LogCorrupt(f"SQLite reports the log damaged ({name}: {error})")
    return StoreError(f"SQLite error {name or type(error).__name__}: {error}")


class SqliteStore:
    """One log file. Opening it folds the log into the projection (and repairs stale tables)."""

    def __init__(self, path: str | Path, *, synchronous: Synchronous = "FULL",
                 busy_timeout_ms: int = 5000, connect: Connect = _connect) -> None:
        self.path = str(path)
        self._pid = os.getpid()
        try:
            check_log_at_open(self.path, busy_timeout_ms / 1000)  # before anything writes to it
            self._conn = connect(self.path, busy_timeout_ms / 1000)
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute(f"PRAGMA journal_size_limit={_WAL_SIZE_LIMIT}")
            self._conn.execute(f"PRAGMA synchronous={synchronous}")
            self._conn.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
            self._conn.execute("PRAGMA foreign_keys=ON")
            create_schema(self._conn)
            self._refuse_newer_schema()
        except sqlite3.Error as error:
            raise translate_sqlite_error(error) from error
        self._commits = 0
        self.projection = Projection()
        self._catch_up()
        self._repair_tables_if_stale()
        fork_guard.guard(self)

    # -- reading ------------------------------------------------------------------------

    def read(self, *, after: int = 0, upto: int | None = None,
             stream: str | None = None) -> Iterator[StoredEvent]:
        """Rows in seq order within (after, upto], optionally of one stream."""
        sql = f"SELECT {_COLUMNS} FROM events WHERE seq > ?"  # noqa: S608 (fixed columns)
        params: list[object] = [after]
        if upto is not None:
            sql += " AND seq <= ?"
            params.append(upto)
        if stream is not None:
            sql += " AND stream = ?"
            params.append(stream)
        try:
            cursor = self._conn.execute(sql + " ORDER BY seq", params)
            for values in cursor:
                yield stored_from_row(values)
        except sqlite3.Error as error:
            raise translate_sqlite_error(error) from error

    def head(self) -> tuple[int, str]:
        """(last seq, its hash)."""
        found = self._conn.execute(
            "SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1").fetchone()
        return (int(found[0]), str(found[1])) if found else (0, GENESIS_HASH)

    @property
    def connection(self) -> sqlite3.Connection:
        """The raw connection, for read-only audit queries."""
        return self._conn

    # -- writing ------------------------------------------------------------------------

    def append(self, events: Sequence[NewEvent],
               expected: Mapping[str, int] | None = None) -> list[StoredEvent]:
        """Append atomically with the projection rows; typed errors, nothing kept on failure."""
        conn = self._conn
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as error:
            raise translate_sqlite_error(error) from error
        try:
            head = self._catch_up()
            rows = plan_append(events, expected, head=head,
                               stream_version=self._stream_version,
                               stored_body=self._stored_body)
            if not rows:
                conn.execute("ROLLBACK")
                return []
            conn.executemany(_INSERT, [
                (r.seq, r.event_id, r.stream, r.version, r.type, r.schema_version, r.at, r.data,
                 r.prev_hash, r.hash) for r in rows])
            # Fold the events as given (they round-trip through the log exactly; the replay
            # property test holds that): decoding what was just encoded is pure overhead.
            given = {n.event_id: n.event for n in events}
            delta = self.projection.plan((r.seq, given[r.event_id]) for r in rows)
            write_delta(conn, delta, self.projection)
            conn.execute("COMMIT")
        except (sqlite3.Error, WalsyncError, KeyError, ValueError, TypeError) as error:
            self._rollback_and_resync()
            if isinstance(error, sqlite3.Error):
                raise translate_sqlite_error(error) from error
            raise
        self.projection.commit(delta)
        self._after_commit()
        return rows

    def rebuild_projections(self) -> None:
        """Refold every event from seq 0 and rewrite all projection tables in one transaction.

        The fold reads inside the write transaction: folding first and writing after would let
        another writer commit in between, and its rows would be overwritten by a stale fold.
        """
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            fresh = Projection()
            fresh.apply((r.seq, r.event) for r in self.read())
            for table in ("wal_rows", "gate_state", "sync_card", "projection_checkpoint"):
                conn.execute(f"DELETE FROM {table}")  # noqa: S608 (fixed names)
            write_delta(conn, full_delta(fresh))
            conn.execute("COMMIT")
        except BaseException as error:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            if isinstance(error, sqlite3.Error):
                raise translate_sqlite_error(error) from error
            raise
        self.projection = fresh

    def close(self) -> None:
        """Checkpoint and close the connection."""
        with suppress(sqlite3.Error):  # a reader elsewhere may hold the WAL; closing is still safe
            self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        self._conn.close()

    def _invalidate_after_fork(self) -> None:
        """In a forked child: swap the parent's connection for one that raises on use."""
        fork_guard.keep_alive(self._conn)
        self._conn = fork_guard.ForkedConnection(self.path, self._pid)  # type: ignore[assignment]

    # -- internals ----------------------------------------------------------------------

    def _stream_version(self, stream: str) -> int:
        found = self._conn.execute("SELECT max(version) FROM events WHERE stream = ?",
                                   (stream,)).fetchone()
        return int(found[0]) if found and found[0] is not None else 0

    def _stored_body(self, event_id: str) -> tuple[str, str, str, str] | None:
        found = self._conn.execute("SELECT stream, type, at, data FROM events WHERE event_id = ?",
                                   (event_id,)).fetchone()
        return (str(found[0]), str(found[1]), str(found[2]), str(found[3])) if found else None

    def _catch_up(self) -> tuple[int, str]:
        """Fold events another writer appended since this view's checkpoint; the head."""
        head = self.head()
        if head[0] != self.projection.checkpoint:
            self.projection.apply(
                (r.seq, r.event) for r in self.read(after=self.projection.checkpoint))
        return head

    def _rollback_and_resync(self) -> None:
        """A failed COMMIT is indeterminate: roll back if still open, then re-read the log."""
        if self._conn.in_transaction:
            with suppress(sqlite3.Error):  # it may already be gone; the re-read below decides
                self._conn.execute("ROLLBACK")
        with suppress(sqlite3.Error, WalsyncError):  # still faulty: the next append re-reads
            self._catch_up()

    def _repair_tables_if_stale(self) -> None:
        """Rebuild the tables when they differ from the fold of the log: behind it (a log
        imported without them), or damaged inside a row, which neither SQLite's integrity check
        nor the hash chain covers (a bit flip in T05). The tables are derived: the log decides."""
        expected = sqlite3.connect(":memory:")
        try:
            create_schema(expected)
            write_delta(expected, full_delta(self.projection))
            stale = dump_projection_tables(expected) != dump_projection_tables(self._conn)
        finally:
            expected.close()
        if stale:
            self.rebuild_projections()

    def _refuse_newer_schema(self) -> None:
        found = self._conn.execute("SELECT max(schema_version) FROM events").fetchone()
        if found and found[0] is not None and int(found[0]) > SCHEMA_VERSION:
            raise LogFromNewerVersion(
                f"{self.path} holds events of schema version {found[0]}; this walsync writes "
                f"version {SCHEMA_VERSION}: upgrade walsync before opening it")

    def _after_commit(self) -> None:
        """Checkpoint on a policy so a long-lived reader cannot grow the WAL without bound."""
        self._commits += 1
        if self._commits % _CHECKPOINT_EVERY == 0:
            with suppress(sqlite3.Error):  # a busy checkpoint is retried at the next interval
                self._conn.execute("PRAGMA wal_checkpoint(RESTART)")
