"""When the store checkpoints its WAL, so that readers can neither grow it without bound nor
stall the writer (T08, T31).

A RESTART checkpoint copies the WAL into the database and then waits, through the busy
handler, until no reader still uses the WAL, so that the next write starts it over. Measured
on this machine with two readers taking snapshots in a loop:

* waiting the store's whole busy timeout (5 s) every 100th commit stalled the writer: a
  10,000-event burst took 130 s instead of 10 s;
* waiting 20 ms every 100th commit let the readers keep the WAL from ever starting over:
  it grew to 149 MB over 200,000 commits.

So a RESTART is tried every 100th commit with a 20 ms wait, and after any commit that leaves
the WAL file past 16 MiB with the whole busy timeout. A forced RESTART that still finds a
reader is not forced again for the next 100 commits, so a reader holding one snapshot for a
long time costs the writer at most one full wait per 100 commits.
"""

from __future__ import annotations

import os
import sqlite3
from contextlib import suppress
from typing import Final

__all__ = ["CheckpointPolicy"]

EVERY: Final = 100  # commits between routine RESTART attempts
BRIEF_WAIT_MS: Final = 20  # how long a routine RESTART waits for readers
FORCE_BYTES: Final = 16 * 1024 * 1024  # a WAL file this big is restarted with the whole timeout


class CheckpointPolicy:
    """Counts a store's commits and runs its RESTART checkpoints (see the module docstring)."""

    def __init__(self, wal_path: str, busy_timeout_ms: int) -> None:
        self._wal_path = wal_path
        self._busy_timeout_ms = int(busy_timeout_ms)
        self._commits = 0
        self._no_force_until = 0

    def after_commit(self, conn: sqlite3.Connection) -> None:
        """Called after each COMMIT on the store's connection."""
        self._commits += 1
        forced = self._commits >= self._no_force_until and self._wal_bytes() >= FORCE_BYTES
        if not forced and self._commits % EVERY:
            return
        wait = self._busy_timeout_ms if forced else BRIEF_WAIT_MS
        with suppress(sqlite3.Error):  # a failed checkpoint is retried later; the commit stands
            conn.execute(f"PRAGMA busy_timeout={int(wait)}")
            try:
                busy = conn.execute("PRAGMA wal_checkpoint(RESTART)").fetchone()[0]
            finally:
                conn.execute(f"PRAGMA busy_timeout={int(self._busy_timeout_ms)}")
            if forced and busy:
                self._no_force_until = self._commits + EVERY

    def _wal_bytes(self) -> int:
        try:
            return os.stat(self._wal_path).st_size
        except OSError:
            return 0
