"""The SQLite event store: WAL journal, BEGIN IMMEDIATE, synchronous=FULL, projections in the same tx."""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import closing, contextmanager, suppress
from pathlib import Path
from typing import Final, Literal

import orjson

from walsync.adapters.ports import NewEvent, StoredEvent
from walsync.adapters.store import fork_guard
from walsync.adapters.store.append_plan import plan_append
from walsync.adapters.store.bulk_work import BULK_EVENTS, big_cache, bulk_work
from walsync.adapters.store.checkpoints import CheckpointPolicy, begin_immediate, enter_wal_mode
from walsync.adapters.store.errors import translate_sqlite_error
from walsync.adapters.store.feed import ChangeFeed
from walsync.adapters.store.readonly.live_view import SNAPSHOT_ERRORS, StoredRecordings, read_live_view
from walsync.adapters.store.readonly.verify_tables import fold_tables
from walsync.adapters.store.records import (
    BLOB_IDS_VERSION,
    GENESIS_HASH,
    INSERT_ROW,
    SELECT_FOLDED,
    SELECT_HEAD,
    SELECT_ROWS,
    insert_rows,
    storable,
    stored_forms,
    stored_from_row,
)
from walsync.adapters.store.schema import PROJECTION_TABLES, create_schema
from walsync.adapters.store.segments.anchors import carried_version, fold_log
from walsync.adapters.store.segments.archive_list import convert_legacy
from walsync.adapters.store.share.salvage import salvage_log
from walsync.adapters.store.startup_gate import (
    GateVerdict,
    check_log_at_open,
    gate_log_at_open,
    write_verified_head,
)
from walsync.adapters.store.tables import WRITER, full_delta, tables_differ, write_delta
from walsync.core.errors import LogFromNewerVersion, WalsyncError
from walsync.core.events import EVENT_TYPES, LogSalvaged
from walsync.core.serde import SCHEMA_VERSION, canonical_bytes, without_defaults
from walsync.core.upcast import upcast
from walsync.projections.view import Projection, StoredRow

__all__ = ["Connect", "SqliteStore", "Synchronous", "insert_event_rows"]

Synchronous = Literal["FULL", "NORMAL", "EXTRA", "OFF"]
# Opens the log file: (path, busy timeout in seconds) -> an autocommit connection. Tests pass
# one that runs SQLite through a fault-injecting VFS; the default is the stdlib module.
Connect = Callable[[str, float], sqlite3.Connection]
_WAL_SIZE_LIMIT: Final = 4 * 1024 * 1024  # a checkpoint truncates the WAL back to this


_READ_CHUNK: Final = 512  # rows read per turn of the lock by `read`
# A stored body by event id, in its one or two stored forms (records.stored_forms).
_BODY_BY_ID: Final = {1: "SELECT stream, type, at, data, schema_version FROM events "
                         "WHERE event_id = ?",
                      2: "SELECT stream, type, at, data, schema_version FROM events "
                         "WHERE event_id IN (?, ?)"}
# What folding a damaged row can raise (bad JSON, a missing field, a type no walsync wrote).
_FOLD_ERRORS: Final = (sqlite3.DatabaseError, WalsyncError, ValueError, KeyError, TypeError,
                       AttributeError)


def _connect(path: str, timeout: float) -> sqlite3.Connection:
    # Any thread may use the store: its lock serialises every use of the connection.
    return sqlite3.connect(path, isolation_level=None, timeout=timeout, check_same_thread=False)


def _unseen(_event_id: str) -> None:
    """No stored body looked up (the fast path: the UNIQUE index finds a re-used id)."""


def insert_event_rows(conn: sqlite3.Connection, rows: Sequence[StoredEvent]) -> None:
    """Insert planned log rows (of SCHEMA_VERSION), each as it is stored (records.storable).
    A list of archived recordings an earlier walsync wrote is converted in the same
    transaction (archive_list.convert_legacy): an earlier walsync, which reads only that list,
    then finds rows of a version it refuses beside the converted one, never an empty list."""
    convert_legacy(conn)
    if len(rows) == 1:
        conn.execute(INSERT_ROW, storable(rows[0]))
    else:
        insert_rows(conn, rows)


class SqliteStore:
    """One log file. Opening it checks what no open verified before and reads the live view
    from the tables committed with the events (trusted as committed: `walsync verify --full`
    compares them with the fold), folding only events after their head. The view keeps the
    live recordings in memory; a finished one is read from the log when asked for.

    Safe to use from any thread: one connection, and a lock around every use of it (an append
    with its projection change, a read, the head), so no thread ever sees another's open
    transaction."""

    def __init__(self, path: str | Path, *, synchronous: Synchronous = "FULL",
                 busy_timeout_ms: int = 5000, connect: Connect = _connect,
                 whole_check: bool = False) -> None:
        """Open (or create) the log at `path`. The start-up gate checks the rows no open
        verified before (the tail after the verified checkpoint); `whole_check` walks the whole
        chain and compares the projection tables with the fold, as `walsync verify --full
        --repair` does. A damaged log is salvaged (`salvaged` says so)."""
        self.path = str(path)
        self._pid = os.getpid()
        self._lock = threading.RLock()
        self._synchronous, self._busy_timeout_ms, self._connect_to = (
            synchronous, busy_timeout_ms, connect)
        # Set when this open found the log damaged and put its salvage in its place.
        self.salvaged: LogSalvaged | None = None
        self._data_version: int | None = None
        self._head: tuple[int, str] | None = None
        try:
            verdict = gate_log_at_open(self.path, busy_timeout_ms / 1000,  # before any write
                                       whole=whole_check)
            if verdict.problem is not None:
                self._salvage(verdict.problem)
            try:
                self._open_and_fold()
            except _FOLD_ERRORS:
                if verdict.whole or verdict.problem is not None:
                    raise
                # A row in the verified range the fold cannot read: walk the whole chain now.
                verdict = GateVerdict(problem=self._recheck_whole())
                if verdict.problem is None:
                    raise
                self._salvage(verdict.problem)
                self._open_and_fold()
        except BaseException as error:
            if hasattr(self, "_conn"):  # the log was sound (or salvaged): closing it is safe
                with suppress(sqlite3.Error):
                    self._conn.close()
            if isinstance(error, sqlite3.Error):
                raise translate_sqlite_error(error, self.path) from error
            raise
        if whole_check or verdict.whole:  # a whole walk (a log no open verified, a new log)
            self._repair_tables_if_stale()  # compares the tables too
        if verdict.head is not None and self.salvaged is None:
            write_verified_head(self._conn, verdict.head, back=verdict.whole)
        fork_guard.guard(self)

    def _open_and_fold(self) -> None:
        """Connect, make the schema, refuse rows of a newer walsync, fold the log."""
        timeout_ms, synchronous = self._busy_timeout_ms, self._synchronous
        self._conn = self._connect_to(self.path, timeout_ms / 1000)
        enter_wal_mode(self._conn, timeout_ms / 1000)
        self._conn.execute(f"PRAGMA journal_size_limit={_WAL_SIZE_LIMIT}")
        self._conn.execute(f"PRAGMA synchronous={synchronous}")
        self._conn.execute(f"PRAGMA busy_timeout={int(timeout_ms)}")
        self._conn.execute("PRAGMA foreign_keys=ON")
        self._create_schema()
        self._refuse_newer_schema()
        first = self._conn.execute("SELECT schema_version FROM events ORDER BY seq "
                                   "LIMIT 1").fetchone()
        # Rows older than BLOB_IDS_VERSION come first: while any is left, ids are looked up.
        self._text_ids = first is not None and first[0] < BLOB_IDS_VERSION
        page_size = self._conn.execute("PRAGMA page_size").fetchone()[0]
        self._checkpoints = CheckpointPolicy(page_size, timeout_ms)
        self._data_version, self._head = None, None
        self._finished = StoredRecordings(self._using)
        self._open_view()

    def _open_view(self) -> None:
        """The live view from the tables committed with the events, then the events after the
        tables' head folded into both (none, unless a writer that did not keep them appended).
        A log without them (an earlier walsync's, a new one) or with a snapshot row that does
        not decode gets them rewritten from the fold of the whole log, once."""
        try:
            view = read_live_view(self._conn, self._finished)
        except SNAPSHOT_ERRORS:
            view = None
        if view is None:
            self.projection = Projection(finished=self._finished)
            self._rewrite_tables()
            return
        self.projection = view
        if self.head()[0] != view.checkpoint:
            try:
                self._fold_tail_into_tables()
            except (WalsyncError, *SNAPSHOT_ERRORS):  # the tail does not follow the snapshot
                self._rewrite_tables()
        self._catch_up()

    def _fold_tail_into_tables(self) -> None:
        """Fold the events after the view's seq and write what they change, in one write
        transaction (so no other writer's rows fall in between)."""
        conn = self._conn
        self._begin()
        try:
            if self.head()[0] - self.projection.checkpoint >= BULK_EVENTS:
                with bulk_work(conn):
                    delta = self.projection.plan_rows(self._rows_after(self.projection.checkpoint))
            else:
                delta = self.projection.plan_rows(self._rows_after(self.projection.checkpoint))
            write_delta(conn, delta, self.projection)
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        self.projection.commit(delta)

    def _salvage(self, problem: str) -> None:
        """Put the salvage of the damaged log in its place (store/share/salvage.py)."""
        self.salvaged = salvage_log(Path(self.path), problem, lambda built: SqliteStore(
            built, synchronous=self._synchronous, busy_timeout_ms=self._busy_timeout_ms,
            connect=self._connect_to))

    def _recheck_whole(self) -> str | None:
        """Close this connection and run the whole start-up check. A read-only connection is
        held open meanwhile, so closing this one (not the last) never checkpoints a -wal into
        the file or deletes it: a damaged log keeps its exact bytes for the salvage."""
        uri = f"{Path(self.path).resolve().as_uri()}?mode=ro"
        with closing(sqlite3.connect(uri, uri=True, timeout=self._busy_timeout_ms / 1000)) as guard:
            with suppress(sqlite3.Error):
                guard.execute("SELECT count(*) FROM sqlite_master").fetchone()
            self._conn.close()
            return check_log_at_open(self.path, self._busy_timeout_ms / 1000)

    # -- reading ------------------------------------------------------------------------

    def read(self, *, after: int = 0, upto: int | None = None,
             stream: str | None = None) -> Iterator[StoredEvent]:
        """Rows in seq order within (after, upto], optionally of one stream. Read in chunks,
        each under the lock, so a caller holding the iterator blocks no other thread."""
        sql = SELECT_ROWS + " WHERE seq > ?"
        tail: list[object] = []
        if upto is not None:
            sql += " AND seq <= ?"
            tail.append(upto)
        if stream is not None:
            sql += " AND stream = ?"
            tail.append(stream)
        sql += f" ORDER BY seq LIMIT {_READ_CHUNK}"
        last = after
        while True:
            try:
                with self._lock:
                    chunk = self._conn.execute(sql, [last, *tail]).fetchall()
            except sqlite3.Error as error:
                raise translate_sqlite_error(error, self.path) from error
            for values in chunk:
                yield stored_from_row(values)
            if len(chunk) < _READ_CHUNK:
                return
            last = int(chunk[-1][0])

    @contextmanager
    def _using(self) -> Iterator[sqlite3.Connection]:
        """The connection under the lock, SQLite's errors typed (a read by id, see _finished)."""
        with self._lock:
            try:
                yield self._conn
            except sqlite3.Error as error:
                raise translate_sqlite_error(error, self.path) from error

    def head(self) -> tuple[int, str]:
        """(last seq, its hash)."""
        with self._lock:
            found = self._conn.execute(SELECT_HEAD).fetchone()
        return (int(found[0]), str(found[1])) if found else (0, GENESIS_HASH)

    def refresh(self) -> int:
        """Fold what other connections (other engines, other processes) committed since this
        view last looked; the last seq of the view. One pragma when nothing changed."""
        try:
            with self._lock:
                return self._catch_up()[0]
        except sqlite3.Error as error:
            raise translate_sqlite_error(error, self.path) from error

    def changes(self, *, after: int, interval: float = 0.05) -> ChangeFeed:
        """A feed of what any connection or process commits to this log after seq `after`."""
        return ChangeFeed(self.path, after=after, interval=interval)

    @property
    def connection(self) -> sqlite3.Connection:
        """The raw connection, for read-only audit queries."""
        return self._conn

    # -- writing ------------------------------------------------------------------------

    def append(self, events: Sequence[NewEvent],
               expected: Mapping[str, int] | None = None) -> list[StoredEvent]:
        """Append atomically with the projection rows; typed errors, nothing kept on failure."""
        with self._lock:
            if len(events) >= BULK_EVENTS:
                with bulk_work(self._conn):
                    return self._append(events, expected)
            return self._append(events, expected)

    def _append(self, events: Sequence[NewEvent],
                expected: Mapping[str, int] | None) -> list[StoredEvent]:
        conn = self._conn
        try:
            self._begin()
        except sqlite3.Error as error:
            raise translate_sqlite_error(error, self.path) from error
        try:
            rows = self._insert(events, expected)
            if not rows:
                conn.execute("ROLLBACK")
                return []
            # Fold the events as given (they round-trip through the log exactly; the replay
            # property test holds that): decoding what was just encoded is pure overhead.
            given = {n.event_id: n.event for n in events}
            delta = self.projection.plan((r.seq, given[r.event_id]) for r in rows)
            write_delta(conn, delta, self.projection)
            conn.execute("COMMIT")
        except (sqlite3.Error, WalsyncError, KeyError, ValueError, TypeError) as error:
            self._rollback_and_resync()
            if isinstance(error, sqlite3.Error):
                raise translate_sqlite_error(error, self.path) from error
            raise
        self.projection.commit(delta)
        self._head = (rows[-1].seq, rows[-1].hash)
        # readers can neither grow the WAL nor stall it
        self._checkpoints.after_commit(self._conn, len(rows))
        return rows

    def rebuild_projections(self, *, bounded: bool = False) -> None:
        """Refold every event from seq 0 and rewrite all projection tables in one transaction.

        The fold reads inside the write transaction: folding first and writing after would let
        another writer commit in between, and its rows would be overwritten by a stale fold.
        `bounded`: a chunk at a time with only live recordings in memory and the connection's
        own cache (a redacted `.db` export of a year's log), slower than the whole fold.
        """
        with self._lock:
            self._rewrite_tables(bounded)

    def _rewrite_tables(self, bounded: bool = False) -> None:
        """Rewrite every projection table from the fold of the whole log, folded inside the
        write transaction, then read the live view back from them."""
        conn = self._conn
        self._begin()
        try:
            # Let the current view go first: a rebuild holds one view in memory, not two.
            self.projection, self._head = Projection(finished=self._finished), None
            if bounded:  # readonly/verify_tables.py: the whole fold held every recording
                for table in PROJECTION_TABLES:
                    conn.execute(f"DELETE FROM {table}")  # noqa: S608 (fixed names)
                fold_tables(conn, conn, commits=False)
                conn.execute("COMMIT")
            else:
                fresh = fold_log(conn)  # from the view carried at the last cut, if compacted
                # The big cache is for rewriting the tables; the fold's scan reads each page
                # once, and with the big cache it only filled 64 MB of memory with pages never
                # read again.
                with big_cache(conn):
                    for table in PROJECTION_TABLES:
                        conn.execute(f"DELETE FROM {table}")  # noqa: S608 (fixed names)
                    write_delta(conn, full_delta(fresh))
                    conn.execute("COMMIT")
                del fresh  # the whole fold: the live view read back holds only what can move
        except BaseException as error:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            with suppress(sqlite3.Error, WalsyncError, *SNAPSHOT_ERRORS):  # the tables as they were
                self.projection = (read_live_view(conn, self._finished)
                                   or Projection(finished=self._finished))
                self._head = None
                self._catch_up()
            if isinstance(error, sqlite3.Error):
                raise translate_sqlite_error(error, self.path) from error
            raise
        view = read_live_view(conn, self._finished)
        if view is None:  # just written
            raise AssertionError("the projection tables were rewritten without their head")
        self.projection, self._head = view, None
        self._catch_up()

    def close(self) -> None:
        """Checkpoint (emptying the WAL file) and close the connection. Readers that keep taking
        snapshots can outlast one busy timeout (T31, long tier), so it tries three times."""
        with self._lock:
            with suppress(sqlite3.Error):  # a reader elsewhere may hold the WAL; closing is safe
                for _ in range(3):
                    if not self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]:
                        break
            self._conn.close()

    def _invalidate_after_fork(self) -> None:
        """In a forked child: swap the parent's connection for one that raises on use (and the
        lock for a fresh one: a thread of the parent may have held it at the fork)."""
        self._lock = threading.RLock()
        fork_guard.keep_alive(self._conn)
        self._conn = fork_guard.ForkedConnection(self.path, self._pid)  # type: ignore[assignment]  # a stand-in that raises on use

    # -- internals ----------------------------------------------------------------------

    def _begin(self) -> None:
        """BEGIN IMMEDIATE, waiting for another writer's lock without being starved by its
        back-to-back commits (store/checkpoints.py), up to the busy timeout."""
        begin_immediate(self._conn, self._busy_timeout_ms / 1000)

    def _insert(self, events: Sequence[NewEvent],
                expected: Mapping[str, int] | None) -> list[StoredEvent]:
        """Plan and insert the rows, inside the append's write transaction.

        Fast path: the head comes from this connection's cache, valid while no other
        connection committed (PRAGMA data_version unchanged), stream versions from the
        caught-up view, and a re-used event id
        is left to the UNIQUE index. When that index fires, the transaction is restarted and
        planned again with the lookups that tell a re-append (skipped) from a conflict.
        While the log holds rows of a version that stored event ids as text, the index cannot
        see an id stored so again as bytes: every id is looked up then (both forms).
        """
        conn = self._conn
        head = self._catch_up()
        rows = plan_append(events, expected, head=head, stream_version=self._stream_version,
                           stored_body=self._stored_body if self._text_ids else _unseen)
        try:
            insert_event_rows(conn, rows)
        except sqlite3.IntegrityError:
            conn.execute("ROLLBACK")
            self._begin()
            rows = plan_append(events, expected, head=self._catch_up(),
                               stream_version=self._stored_version,
                               stored_body=self._stored_body)
            insert_event_rows(conn, rows)
        return rows

    def _stream_version(self, stream: str) -> int:
        """A stream's version from the caught-up view where it keeps one (a WAL's version and
        the gate's count their streams' events), else from the log."""
        if stream.startswith("wal:"):
            wal = self.projection.wals.get(stream[4:])  # live; a finished one from the log
            return wal.version if wal is not None else self._stored_version(stream)
        if stream == "gate":
            return self.projection.gate.version
        return self._stored_version(stream)

    def _stored_version(self, stream: str) -> int:
        """From the log (the slow path after a constraint fired), else as a retention cut carried it."""
        found = self._conn.execute("SELECT max(version) FROM events WHERE stream = ?",
                                   (stream,)).fetchone()
        return int(found[0]) if found and found[0] is not None else carried_version(self._conn, stream)

    def _stored_body(self, event_id: str) -> tuple[str, str, str, str] | None:
        """The body stored under `event_id`, in either form it may be stored in (as bytes from
        schema version 5 on, as text in older rows)."""
        forms = stored_forms(event_id)
        found = self._conn.execute(_BODY_BY_ID[len(forms)], forms).fetchone()
        if not found:
            return None
        data = str(found[3])
        if int(found[4]) < SCHEMA_VERSION:  # an older row is the same body in today's shape
            data = canonical_bytes(without_defaults(str(found[1]), upcast(
                str(found[1]), int(found[4]), orjson.loads(data)), str(found[0]))).decode()
        return str(found[0]), str(found[1]), str(found[2]), data

    def _catch_up(self) -> tuple[int, str]:
        """Fold events another writer appended since this view's checkpoint; the head.

        While no other connection has committed (data_version unchanged) the cached head is
        the log's head and nothing needs folding: one pragma instead of a query.
        """
        version = self._conn.execute("PRAGMA data_version").fetchone()[0]
        if version == self._data_version and self._head is not None:
            return self._head
        head = self.head()
        after = self.projection.checkpoint
        if head[0] != after:
            self.projection.commit(self.projection.plan_rows(self._rows_after(after)))
        self._data_version, self._head = version, head
        return head

    def _rows_after(self, seq: int) -> Iterator[StoredRow]:
        """Stored rows after `seq` as the fold takes them."""
        cursor: Iterator[StoredRow] = self._conn.execute(
            f"{SELECT_FOLDED} WHERE seq > ? ORDER BY seq", (seq,))
        return cursor

    def _rollback_and_resync(self) -> None:
        """A failed COMMIT is indeterminate: roll back if still open, then re-read the log."""
        if self._conn.in_transaction:
            with suppress(sqlite3.Error):  # it may already be gone; the re-read below decides
                self._conn.execute("ROLLBACK")
        self._head = None
        with suppress(sqlite3.Error, WalsyncError):  # still faulty: the next append re-reads
            self._catch_up()

    def _repair_tables_if_stale(self) -> None:
        """Rewrite the tables when they differ from the fold of the whole log (see
        tables_differ; the log decides): on a whole walk only (a log no open verified,
        `verify --full --repair`), since the live view is read from them."""
        with self._lock:
            whole = fold_log(self._conn)
            if tables_differ(self._conn, whole):
                del whole  # refolded inside the write transaction
                self._rewrite_tables()

    def _create_schema(self) -> None:
        """The schema, in one write transaction: processes opening a new log at once would
        otherwise both find a view (or a column) missing and both create it (T34)."""
        self._begin()
        try:
            create_schema(self._conn)
            self._conn.execute("COMMIT")
        except BaseException:
            if self._conn.in_transaction:
                self._conn.execute("ROLLBACK")
            raise

    def _folded_by_us(self) -> int:
        """The tables' head when this walsync wrote the tables, else 0 (the whole log)."""
        try:
            found = self._conn.execute("SELECT seq, json_extract(summary, '$.writer') "
                                       "FROM projection_head WHERE id = 1").fetchone()
        except sqlite3.OperationalError:  # a summary that is not JSON: damaged
            return 0
        return int(found[0]) if found is not None and found[1] == WRITER else 0

    def _refuse_newer_schema(self) -> None:
        """A newer schema version or an unknown event type: refuse to open (and so to write
        after rows this code cannot fold), never skip them. Rows up to the tables' head were
        folded by the writer of the tables: when that is this very walsync (same schema
        version and event types), only the rows after it are looked at (the scan of every
        row was most of an open's time: 0.38 of 0.55 s at 1M events)."""
        count, first = self._conn.execute(
            "SELECT count(*), min(seq) FROM events WHERE seq > ? AND (schema_version > ? OR "
            "type NOT IN (SELECT value FROM json_each(?)))",
            (self._folded_by_us(), SCHEMA_VERSION,
             orjson.dumps(sorted(EVENT_TYPES)).decode())).fetchone()
        if count:
            raise LogFromNewerVersion(
                f"{self.path} holds {count} events of unknown type/version (first at seq "
                f"{first}); this walsync writes schema version {SCHEMA_VERSION}: upgrade "
                "walsync before opening it")

