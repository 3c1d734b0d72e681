"""SQLite's errors in walsync's terms: what a driver error says about the log file, mapped to
the error family the rest of walsync handles (the seam where foreign exceptions stop)."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path
from typing import Final

from walsync.core.errors import LogCorrupt, StorageFull, StorageIOError, StoreError

__all__ = ["CORRUPT_ERRORS", "is_corruption", "is_undecodable", "translate_sqlite_error"]

# SQLite's primary result codes that mean "these bytes are not a sound database".
CORRUPT_ERRORS: Final = ("SQLITE_CORRUPT", "SQLITE_NOTADB")
# Growing the shared-memory index failed: the disk has no room for the log's `-shm` (seen at
# open on a full disk). Any I/O error while the log's disk has less than this free is the same.
_FULL_IO_ERRORS: Final = ("SQLITE_IOERR_SHMSIZE",)
_NEARLY_FULL: Final = 64 * 1024
# What the stdlib raises (no SQLite code) when a text cell's bytes are not UTF-8: a damaged row.
_UNDECODABLE: Final = "Could not decode to UTF-8"
# What the stdlib raises on a connection used after its close() (an engine used after close()).
_CLOSED: Final = "Cannot operate on a closed database"


def is_corruption(error: sqlite3.Error) -> bool:
    """Whether a driver error says the file itself is damaged (not busy, full or I/O)."""
    name = str(getattr(error, "sqlite_errorname", ""))
    return name.startswith(CORRUPT_ERRORS)


def is_undecodable(error: sqlite3.Error) -> bool:
    """Whether a driver error says a text cell it read is not UTF-8 (a damaged row)."""
    return _UNDECODABLE in str(error)


def translate_sqlite_error(error: sqlite3.Error, path: str | None = None) -> StoreError:
    """Map a driver error to our family (SQLITE_FULL gets its own type, and so does an I/O
    error that comes from a full disk under the log at `path`)."""
    name = str(getattr(error, "sqlite_errorname", ""))
    if name == "SQLITE_FULL" or (name.startswith("SQLITE_IOERR") and (
            name in _FULL_IO_ERRORS or _disk_full(path))):
        return StorageFull(f"the log's disk or page limit is full ({name}: {error})")
    if name.startswith("SQLITE_IOERR"):
        return StorageIOError(f"the disk failed under the log ({name}: {error}); the last "
                              "write may or may not have landed, and the log is re-read")
    if is_corruption(error):
        return LogCorrupt(f"SQLite reports the log damaged ({name}: {error})")
    if isinstance(error, sqlite3.ProgrammingError) and _CLOSED in str(error):
        return StoreError(f"the log {path or ''} is closed (the engine or store was closed): "
                          "open it again (open_engine) to go on")
    if _a_file(path) and name.startswith(("SQLITE_CANTOPEN", "SQLITE_READONLY")):
        return StoreError(f"cannot write the log {path} ({name}: {error}): its folder must "
                          "exist and both it and the folder be writable by this user")
    return StoreError(f"SQLite error {name or type(error).__name__}: {error}")


def _a_file(path: str | None) -> bool:
    """Whether `path` names a file on disk (not SQLite's in-memory or URI forms)."""
    return path is not None and path != ":memory:" and not path.startswith("file:")


def _disk_full(path: str | None) -> bool:
    """Whether the disk holding the log at `path` has (next to) no room left."""
    if path is None or not _a_file(path):
        return False
    try:
        return shutil.disk_usage(Path(path).resolve().parent).free < _NEARLY_FULL
    except OSError:
        return False
