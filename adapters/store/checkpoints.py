"""The store's WAL journal: entering WAL mode, taking the write lock, and when the store
checkpoints its WAL, so that readers can neither grow it without bound nor stall the writer
(T08, T31).

Entering WAL mode converts the file's journal, which needs the file to itself, and SQLite
answers SQLITE_BUSY at once for it instead of calling the busy handler: three `walsync sync`
processes started together on a new log failed their open that way under load (T34). So
`enter_wal_mode` retries a busy conversion until the busy timeout, and a log already in WAL
mode (every open after the first) takes no conversion at all.

Taking the write lock (BEGIN IMMEDIATE) is retried by the store too, not left to SQLite's busy
handler, whose sleeps between tries grow to 100 ms. A writer in another process committing
back to back holds the lock for the milliseconds of each commit (its fsync) and leaves it
free only for the tens of microseconds between them, so a writer waiting with those sleeps
almost never found it free and got SQLITE_BUSY ("database is locked") after the whole busy
timeout: the two-writer test (T06) failed so in 3 of 30 runs on a loaded machine, at open
(the schema's transaction) and at an append. `begin_immediate` tries the lock at short
random pauses (at most `MAX_PAUSE_S`) until the busy timeout has passed; an uncontended write
takes it at the first try as before.

A RESTART checkpoint copies the WAL into the database and then waits, through the busy
handler, until no reader still uses the WAL, so that the next write starts it over. Measured
on this machine with two readers taking snapshots in a loop:

* waiting the store's whole busy timeout (5 s) every 100th commit stalled the writer: a
  10,000-event burst took 130 s instead of 10 s;
* waiting 20 ms every 100th commit let the readers keep the WAL from ever starting over:
  it grew to 149 MB over 200,000 commits.

So a RESTART is tried every 100th commit (or after 2,000 events, for big commits) with a
20 ms wait; when one finds a reader still in the WAL and the WAL holding more than 16 MiB of
frames, it is tried again at once with the whole busy timeout. A forced RESTART that still
finds a reader is not forced again for the next 100 commits, so a reader holding one snapshot
for a long time costs the writer at most one full wait per 100 commits.

The WAL's size is the frame count the RESTART itself reports, never a stat of the file: on
this machine (ext4) a stat of the WAL file after each commit made every next COMMIT's fsync
slower: raw sqlite3 made 0.79x the commits per second (bench/bench_walstat.py).
"""

from __future__ import annotations

import random
import sqlite3
import time
from collections.abc import Callable
from contextlib import suppress
from typing import Final

__all__ = ["MAX_PAUSE_S", "CheckpointPolicy", "begin_immediate", "enter_wal_mode"]

_FIRST_PAUSE_S: Final = 0.002  # between tries of a busy conversion, doubling up to the last
_LAST_PAUSE_S: Final = 0.05
MAX_PAUSE_S: Final = 0.001  # the longest pause between two tries of a held write lock

EVERY: Final = 100  # commits between routine RESTART attempts
EVERY_EVENTS: Final = 2_000  # or events, whichever comes first (a bulk commit is big)
BRIEF_WAIT_MS: Final = 20  # how long a routine RESTART waits for readers
FORCE_BYTES: Final = 16 * 1024 * 1024  # a WAL this big is restarted with the whole timeout
_FRAME_HEADER: Final = 24  # bytes before each page in the WAL file


def enter_wal_mode(conn: sqlite3.Connection, timeout_s: float, *,
                   sleep: Callable[[float], None] = time.sleep,
                   clock: Callable[[], float] = time.monotonic) -> None:
    """Put the log in WAL mode, retrying a conversion another connection's lock makes busy
    until `timeout_s` has passed (then its SQLITE_BUSY is raised). A file system without WAL
    leaves the mode SQLite answers, as before."""
    deadline: float | None = None  # the clock is read only once a try was busy (T13)
    pause = _FIRST_PAUSE_S
    while True:
        try:
            if str(conn.execute("PRAGMA journal_mode").fetchone()[0]).lower() != "wal":
                conn.execute("PRAGMA journal_mode=WAL").fetchone()
            return
        except sqlite3.OperationalError as error:
            if getattr(error, "sqlite_errorcode", 0) & 0xFF != sqlite3.SQLITE_BUSY:
                raise
            deadline = clock() + timeout_s if deadline is None else deadline
            if clock() >= deadline:
                raise
        sleep(pause)
        pause = min(pause * 2, _LAST_PAUSE_S)


def begin_immediate(conn: sqlite3.Connection, timeout_s: float, *,
                    sleep: Callable[[float], None] = time.sleep,
                    clock: Callable[[], float] = time.monotonic,
                    pause: Callable[[], float] = lambda: random.uniform(0.0, MAX_PAUSE_S),
                    ) -> None:
    """BEGIN IMMEDIATE on `conn`, trying again after `pause()` while another connection holds
    the write lock, until `timeout_s` has passed (then its SQLITE_BUSY is raised). SQLite's
    busy handler is off meanwhile and the connection's busy timeout (`timeout_s`) is set back
    after, whatever happens."""
    conn.execute("PRAGMA busy_timeout=0")
    try:
        deadline: float | None = None  # the clock is read only once a try was busy
        while True:
            try:
                conn.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as error:
                if getattr(error, "sqlite_errorcode", 0) & 0xFF != sqlite3.SQLITE_BUSY:
                    raise
                now = clock()
                deadline = now + timeout_s if deadline is None else deadline
                if now >= deadline:
                    raise
            sleep(pause())
    finally:
        conn.execute(f"PRAGMA busy_timeout={int(timeout_s * 1000)}")


class CheckpointPolicy:
    """Counts a store's commits and runs its RESTART checkpoints (see the module docstring)."""

    def __init__(self, page_size: int, busy_timeout_ms: int) -> None:
        self._force_frames = FORCE_BYTES // (int(page_size) + _FRAME_HEADER)
        self._busy_timeout_ms = int(busy_timeout_ms)
        self._commits = 0
        self._events = 0  # since the last attempt
        self._no_force_until = 0

    def after_commit(self, conn: sqlite3.Connection, events: int) -> None:
        """Called after each COMMIT on the store's connection, with how many events it held."""
        self._commits += 1
        self._events += events
        if self._commits % EVERY and self._events < EVERY_EVENTS:
            return
        self._events = 0
        with suppress(sqlite3.Error):  # a failed checkpoint is retried later; the commit stands
            busy, frames = self._restart(conn, BRIEF_WAIT_MS)
            if busy and frames >= self._force_frames and self._commits >= self._no_force_until:
                busy, _ = self._restart(conn, self._busy_timeout_ms)
                if busy:
                    self._no_force_until = self._commits + EVERY

    def _restart(self, conn: sqlite3.Connection, wait_ms: int) -> tuple[int, int]:
        """One RESTART waiting at most `wait_ms` for readers: (busy, frames in the WAL)."""
        conn.execute(f"PRAGMA busy_timeout={int(wait_ms)}")
        try:
            busy, frames, _ = conn.execute("PRAGMA wal_checkpoint(RESTART)").fetchone()
        finally:
            conn.execute(f"PRAGMA busy_timeout={int(self._busy_timeout_ms)}")
        return int(busy), int(frames)
