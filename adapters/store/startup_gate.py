"""The start-up integrity gate: a damaged log is found, moved aside untouched, never written over."""

from __future__ import annotations

import os
import sqlite3
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

from walsync.adapters.store.errors import is_corruption
from walsync.adapters.store.readonly.verify import verify_connection
from walsync.adapters.store.schema import foreign_objects, schema_damage
from walsync.core.errors import ForeignObjects, LogCorrupt

__all__ = ["aside_name", "check_log_at_open", "move_aside"]

_SIDECARS: Final = ("-wal", "-shm", "-journal")
_UNDECODABLE: Final = "Could not decode to UTF-8"


def check_log_at_open(path: str, timeout: float = 5.0) -> str | None:
    """Check an existing log before the store opens it: SQLite's integrity check, then the rows
    themselves (gapless seq, stream versions, JSON bodies, hash chain), because a flipped bit
    inside a row passes SQLite's checks (half of random bit flips did, in T05).

    The check uses its own read-only connection, closed before the store connects: a read-only
    connection never checkpoints a hot -wal into the file or deletes it on close, so a damaged
    log keeps its exact bytes. Returns what is damaged, or None when the log is sound (or new):
    the store then salvages a damaged log (store/share/salvage.py), which `move_aside` puts
    aside under a fresh name, bytes untouched. Busy and I/O errors are raised as they are.
    """
    file = Path(path)
    if path == ":memory:" or path.startswith("file:") or not file.is_file():
        return None
    if file.stat().st_size == 0 and not Path(f"{path}-wal").exists():
        return None  # a new, empty file: SQLite makes it a database
    return _damage(file, timeout)


def _damage(file: Path, timeout: float) -> str | None:
    """What is wrong with the log, or None when it is sound."""
    try:
        with closing(sqlite3.connect(f"{file.resolve().as_uri()}?mode=ro", uri=True,
                                     timeout=timeout)) as conn:
            conn.execute("PRAGMA cell_size_check=ON")
            damaged_schema = schema_damage(conn)
            if damaged_schema is not None:
                return damaged_schema
            has_log = conn.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'events'").fetchone()
            if has_log:
                problem = verify_connection(conn).problem
                if problem is None:
                    _refuse_foreign_objects(conn, file)
                return problem
            found = conn.execute("PRAGMA quick_check(1)").fetchone()
            return None if found is not None and found[0] == "ok" else str(found)
    except sqlite3.DatabaseError as error:
        # The stdlib raises "Could not decode to UTF-8" (no SQLite code) for a damaged text cell.
        if not (is_corruption(error) or _UNDECODABLE in str(error)):
            raise
        return str(error)
    except UnicodeDecodeError as error:  # ... and this for a damaged schema record's text
        return f"a schema record is not valid UTF-8 ({error.reason} at byte {error.start})"


def _refuse_foreign_objects(conn: sqlite3.Connection, file: Path) -> None:
    """A sound log that holds a trigger on walsync's tables, or an object in one of its names,
    is refused where it is (T43): nothing in it is damaged, so nothing is moved or salvaged."""
    refused, _ = foreign_objects(conn)
    if refused:
        raise ForeignObjects(
            f"the log {file} holds {'; '.join(refused)}. walsync does not open a log whose own "
            f"tables another program's objects act on; nothing in it is damaged and it was left "
            f"where it is. Drop them with `sqlite3 {file} '<statement>'` and start again.")


def aside_name(path: Path) -> Path:
    """A free name to move the damaged `path` to: `<name>.corrupt-<UTC time>[-n]`."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    for n in range(1000):
        target = path.with_name(f"{path.name}.corrupt-{stamp}" + (f"-{n}" if n else ""))
        if not any(Path(f"{target}{suffix}").exists() for suffix in ("", *_SIDECARS)):
            return target
    raise LogCorrupt(f"the log {path} is damaged and no free name was found to move it aside")


def move_aside(path: Path, target: Path, replacement: Path) -> None:
    """Give the damaged `path` (and its -wal/-shm/-journal) the name `target`, then put
    `replacement` in its place. Hard links, so nothing is ever overwritten; the sidecars go
    first, so the replacement never meets the damaged log's -wal; the last step is one atomic
    rename over `path`, so a crash leaves the damaged log at `path` (salvaged again at the
    next start) or the replacement."""
    os.link(path, target)  # fails instead of clobbering an existing name
    for suffix in _SIDECARS:
        side = Path(f"{path}{suffix}")
        if side.exists():
            os.link(side, f"{target}{suffix}")
            os.unlink(side)
    os.replace(replacement, path)
