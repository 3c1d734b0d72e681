"""The start-up integrity gate: a damaged log is moved aside and reported, never written over."""

from __future__ import annotations

import os
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

from walsync.core.errors import LogCorrupt

__all__ = ["CORRUPT_ERRORS", "check_log_at_open", "is_corruption"]

# SQLite's primary result codes that mean "these bytes are not a sound database".
CORRUPT_ERRORS: Final = ("SQLITE_CORRUPT", "SQLITE_NOTADB")
_SIDECARS: Final = ("-wal", "-shm", "-journal")


def is_corruption(error: sqlite3.Error) -> bool:
    """Whether a driver error says the file itself is damaged (not busy, full or I/O)."""
    name = str(getattr(error, "sqlite_errorname", ""))
    return name.startswith(CORRUPT_ERRORS)


def check_log_at_open(conn: sqlite3.Connection, path: str) -> None:
    """Run `quick_check(1)` on an existing log before anything writes to it.

    On damage: close `conn`, move the log and its sidecars aside under fresh names (hard link
    then unlink, so nothing is ever overwritten) and raise LogCorrupt naming where they went
    and how to export what is readable. Busy, full and I/O errors are raised as they are.
    """
    if path == ":memory:" or path.startswith("file:") or not Path(path).exists():
        return
    try:
        found = conn.execute("PRAGMA quick_check(1)").fetchone()
        detail = None if found is not None and found[0] == "ok" else str(found[0] if found else "")
    except sqlite3.DatabaseError as error:
        if not is_corruption(error):
            raise
        detail = str(error)
    if detail is None:
        return
    conn.close()
    moved = move_aside(Path(path))
    raise LogCorrupt(
        f"the log {path} is damaged (SQLite quick_check: {detail}). walsync did not start on "
        f"it and did not repair it: it was moved aside, bytes untouched, to {moved}. Export what "
        f"is readable with `sqlite3 {moved} .recover > recovered.sql` (or open a copy with "
        f"`walsync export`); the next start creates a new, empty log at {path}.")


def move_aside(path: Path) -> Path:
    """Rename `path` (and its -wal/-shm/-journal) to `<name>.corrupt-<UTC time>[-n]`."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    for n in range(1000):
        target = path.with_name(f"{path.name}.corrupt-{stamp}" + (f"-{n}" if n else ""))
        try:
            os.link(path, target)  # fails instead of clobbering an existing name
        except FileExistsError:
            continue
        os.unlink(path)
        for suffix in _SIDECARS:
            side = Path(f"{path}{suffix}")
            if side.exists():
                os.link(side, f"{target}{suffix}")
                os.unlink(side)
        return target
    raise LogCorrupt(f"the log {path} is damaged and no free name was found to move it aside")
