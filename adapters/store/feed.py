"""The change feed: every commit made on a log file, by any connection or any process, heard in
seq order, each event once.

A read-only connection of the feed's own asks SQLite's `PRAGMA data_version` every `interval`
seconds: the number changes whenever another connection commits to the file, so a look costs
one pragma while nothing happens. When it changed, the rows after the last seq delivered are
read (each read is one snapshot, so a commit arrives whole, never in part). Seqs are gapless
and committed in order (C2), so reading "after the last seq delivered" misses none and repeats
none, whoever wrote them.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Final

from walsync.adapters.ports import StoredEvent
from walsync.adapters.store.errors import translate_sqlite_error
from walsync.adapters.store.records import select_rows, stored_from_row
from walsync.core.errors import StoreError

__all__ = ["ChangeFeed"]

_CHUNK: Final = 512


class ChangeFeed:
    """The events committed on the log at `path` after seq `after`, batch by batch."""

    def __init__(self, path: str | Path, *, after: int = 0, interval: float = 0.05) -> None:
        if not Path(path).is_file():
            raise StoreError(f"no log at {path}")
        self.path = str(path)
        self.last_seq = after
        self.interval = interval
        self._version: int | None = None
        self._closed = threading.Event()
        self._lock = threading.Lock()
        try:
            self._conn = sqlite3.connect(f"{Path(path).resolve().as_uri()}?mode=ro", uri=True,
                                         isolation_level=None, check_same_thread=False)
            self._select = select_rows(self._conn) + " WHERE seq > ? ORDER BY seq LIMIT ?"
        except sqlite3.Error as error:
            raise translate_sqlite_error(error, self.path) from error

    def poll(self) -> list[StoredEvent]:
        """What was committed since the last look, in seq order ([] when nothing was)."""
        with self._lock:
            if self._closed.is_set():
                return []
            try:
                version = int(self._conn.execute("PRAGMA data_version").fetchone()[0])
                if version == self._version:
                    return []
                found: list[StoredEvent] = []
                while True:
                    chunk = self._conn.execute(self._select, (self.last_seq, _CHUNK)).fetchall()
                    found += [stored_from_row(row) for row in chunk]
                    if chunk:
                        self.last_seq = found[-1].seq
                    if len(chunk) < _CHUNK:
                        break
            except sqlite3.Error as error:
                raise translate_sqlite_error(error, self.path) from error
            # Noted only after the read: a commit landing meanwhile changes the number again,
            # so the next look reads after it; nothing is skipped.
            self._version = version
            return found

    def wait(self, timeout: float | None = None) -> list[StoredEvent]:
        """The next batch, waiting up to `timeout` seconds (None: until one comes or the feed
        is closed); [] on timeout or close."""
        waited = 0.0
        while not self._closed.is_set():
            found = self.poll()
            if found:
                return found
            if timeout is not None and waited >= timeout:
                return []
            step = self.interval if timeout is None else min(self.interval, timeout - waited)
            self._closed.wait(max(step, 0.0))
            waited += step
        return []

    def __iter__(self) -> Iterator[list[StoredEvent]]:
        """Batch after batch until the feed is closed."""
        while not self._closed.is_set():
            found = self.wait(None)
            if found:
                yield found

    def close(self) -> None:
        """Stop looking (a waiting `wait` returns at once) and close the connection."""
        self._closed.set()
        with self._lock:
            self._conn.close()
