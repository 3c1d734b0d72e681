"""A log on read-only media (a read-only mount, a snapshot) opened for reading (T39).

SQLite reads a WAL-mode log through its -shm file; where it can neither find nor make one it
answers "unable to open database file" (on a read-only mount) or "attempt to write a readonly
database" (in a folder this user may not write). Such a log is read as immutable when no -wal holds
commits (nothing can change it there), else from a private copy of it and its -wal, deleted
when the connection closes. The main file is copied through SQLite only (a descriptor of our
own on it, once closed, would drop every POSIX lock this process holds on it: T10); the -wal
carries no lock, so its bytes are copied as they are.
"""

from __future__ import annotations

import shutil
import sqlite3
import tempfile
from contextlib import closing
from pathlib import Path
from typing import Final

__all__ = ["open_readonly"]

# Where the -shm (or -wal) can be neither found nor made: a read-only mount answers CANTOPEN; a
# folder this user may not write, READONLY_DIRECTORY (or READONLY_CANTINIT for a -shm it may not
# write; T83). SQLite's extended codes carry the primary one in their low byte.
_NO_SHM: Final = frozenset({sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_READONLY})


class _PrivateCopy(sqlite3.Connection):
    """A connection to a private copy of a log; closing it deletes the copy."""

    folder = ""

    def close(self) -> None:
        super().close()
        shutil.rmtree(self.folder, ignore_errors=True)


def open_readonly(file: Path, timeout: float = 5.0) -> sqlite3.Connection:
    """A read-only connection to the log file at `file`, wherever it lies (see the module)."""
    uri = file.resolve().as_uri()
    conn = sqlite3.connect(f"{uri}?mode=ro", uri=True, timeout=timeout)
    try:
        conn.execute("SELECT count(*) FROM sqlite_schema").fetchone()  # opening is lazy
        return conn
    except sqlite3.OperationalError as error:
        conn.close()
        if error.sqlite_errorcode & 0xFF not in _NO_SHM or not file.is_file():
            raise
    wal = Path(f"{file}-wal")
    if not wal.exists() or wal.stat().st_size == 0:
        return sqlite3.connect(f"{uri}?mode=ro&immutable=1", uri=True, timeout=timeout)
    folder = tempfile.mkdtemp(prefix="walsync-readonly-")
    copy = Path(folder) / "log.db"
    with closing(sqlite3.connect(f"{uri}?mode=ro&immutable=1", uri=True)) as source:
        copy.write_bytes(source.serialize())  # the main file's pages, as SQLite reads them
    Path(f"{copy}-wal").write_bytes(wal.read_bytes())
    private = sqlite3.connect(f"{copy.as_uri()}?mode=ro", uri=True, timeout=timeout,
                              factory=_PrivateCopy)
    private.folder = folder
    return private
