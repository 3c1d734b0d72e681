"""Taking the log's write lock (BEGIN IMMEDIATE) without being starved by another writer.

SQLite's own busy handler sleeps between its tries, longer each time, up to 100 ms. A writer
in another process committing back to back holds the lock for the milliseconds of each commit
(its fsync) and leaves it free only for the tens of microseconds between them, so a writer
waiting with those sleeps almost never finds it free and got SQLITE_BUSY ("database is
locked") after the whole busy timeout: the two-writer test (T06) failed so in 3 of 30 runs
on a loaded machine, at open (the schema's transaction) and at an append. So the store tries
the lock itself, at short random intervals (at most `MAX_PAUSE_S`), until the busy timeout
has passed; an uncontended write takes it at the first try as before.
"""

from __future__ import annotations

import random
import sqlite3
import time
from collections.abc import Callable
from typing import Final

__all__ = ["MAX_PAUSE_S", "begin_immediate"]

MAX_PAUSE_S: Final = 0.001  # the longest pause between two tries of a held lock


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
