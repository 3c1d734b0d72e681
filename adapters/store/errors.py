"""SQLite's errors in walsync's terms: what a driver error says about the log file, mapped to
the error family the rest of walsync handles (the seam where foreign exceptions stop)."""

from __future__ import annotations

import sqlite3
from typing import Final

from walsync.core.errors import LogCorrupt, StorageFull, StorageIOError, StoreError

__all__ = ["CORRUPT_ERRORS", "is_corruption", "translate_sqlite_error"]

# SQLite's primary result codes that mean "these bytes are not a sound database".
CORRUPT_ERRORS: Final = ("SQLITE_CORRUPT", "SQLITE_NOTADB")


def is_corruption(error: sqlite3.Error) -> bool:
    """Whether a driver error says the file itself is damaged (not busy, full or I/O)."""
    name = str(getattr(error, "sqlite_errorname", ""))
    return name.startswith(CORRUPT_ERRORS)


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
