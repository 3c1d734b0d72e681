"""The start-up integrity gate: a damaged log is found, moved aside untouched, never written over.

The verified checkpoint (the `verified_head` table: the last seq and chain hash a gate verified)
lets the next start check only the rows after it (issue 17: the whole check took 34 s at 2M
events). The store writes it after the gate verified the log and opening folded it, only ever
forward (a whole walk may set it back, after a rewrite it found sound). It is itself checked
before it is trusted: the row at its seq must still carry its hash; when it does not (or the
row is gone), the gate walks the whole chain instead. The rows before it are trusted as
verified: a bit flipped there later is found by `walsync verify --full`, not at every start
(opening reads the live view from the tables and folds only the events after their head; a
row that fold cannot read sends it over the whole chain at once).
"""

from __future__ import annotations

import os
import sqlite3
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

from attrs import frozen

from walsync.adapters.store.errors import is_corruption, is_undecodable
from walsync.adapters.store.readonly.verify import VerifyReport, verify_connection, verify_tail
from walsync.adapters.store.schema import foreign_objects, schema_damage
from walsync.core.errors import ForeignObjects, LogCorrupt

__all__ = ["GateVerdict", "aside_name", "check_log_at_open", "gate_log_at_open", "move_aside",
           "read_verified_head", "write_verified_head"]

_SIDECARS: Final = ("-wal", "-shm", "-journal")


@frozen(kw_only=True)
class GateVerdict:
    """What the start-up gate found: the damage (None: sound), the head it verified up to (None
    for a new log or a damaged one), and whether it walked the whole chain or only the tail
    after the verified checkpoint (store/verified_head.py)."""

    problem: str | None = None
    head: tuple[int, str] | None = None
    whole: bool = True


def check_log_at_open(path: str, timeout: float = 5.0) -> str | None:
    """What is damaged in an existing log, by the whole check (gate_log_at_open with `whole`)."""
    return gate_log_at_open(path, timeout, whole=True).problem


def gate_log_at_open(path: str, timeout: float = 5.0, *, whole: bool = False) -> GateVerdict:
    """Check an existing log before the store opens it.

    The whole check is SQLite's integrity check, then the rows themselves (gapless seq, stream
    versions, JSON bodies, hash chain), because a flipped bit inside a row passes SQLite's
    checks (half of random bit flips did, in T05). It reads every page, so it grew with the
    log (34 s at 2M events, issue 17): unless `whole`, the gate checks only what no open
    verified before, the rows after the verified checkpoint, once the row at the checkpoint's
    seq still carries its hash, plus cheap checks (the schema records, the file no shorter than
    its header says). Damage deep in the verified range is found by `walsync verify --full`.

    The check uses its own read-only connection, closed before the store connects: a read-only
    connection never checkpoints a hot -wal into the file or deletes it on close, so a damaged
    log keeps its exact bytes. The store salvages a damaged log (store/share/salvage.py), which
    `move_aside` puts aside under a fresh name, bytes untouched. Busy and I/O errors are raised
    as they are.
    """
    file = Path(path)
    if path == ":memory:" or path.startswith("file:") or not file.is_file():
        return GateVerdict()
    if file.stat().st_size == 0 and not Path(f"{path}-wal").exists():
        return GateVerdict()  # a new, empty file: SQLite makes it a database
    return _damage(file, timeout, whole)


def _damage(file: Path, timeout: float, whole: bool) -> GateVerdict:
    """What is wrong with the log, or None when it is sound."""
    try:
        with closing(sqlite3.connect(f"{file.resolve().as_uri()}?mode=ro", uri=True,
                                     timeout=timeout)) as conn:
            conn.execute("PRAGMA cell_size_check=ON")
            damaged_schema = schema_damage(conn)
            if damaged_schema is not None:
                return GateVerdict(problem=damaged_schema)
            has_log = conn.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'events'").fetchone()
            if has_log:
                report, whole = _verify(conn, file, whole)
                if report.problem is None:
                    _refuse_foreign_objects(conn, file)
                    return GateVerdict(head=(report.head_seq, report.head_hash), whole=whole)
                return GateVerdict(problem=report.problem, whole=whole)
            found = conn.execute("PRAGMA quick_check(1)").fetchone()
            return GateVerdict(problem=None if found is not None and found[0] == "ok"
                               else str(found))
    except sqlite3.DatabaseError as error:
        if not (is_corruption(error) or is_undecodable(error)):
            raise
        return GateVerdict(problem=str(error))
    except UnicodeDecodeError as error:  # ... and this for a damaged schema record's text
        return GateVerdict(
            problem=f"a schema record is not valid UTF-8 ({error.reason} at byte {error.start})")


def _verify(conn: sqlite3.Connection, file: Path, whole: bool) -> tuple[VerifyReport, bool]:
    """The tail after the verified checkpoint when one holds, else the whole log; and which."""
    if not whole:
        short = short_file(conn, file)
        if short is not None:
            return VerifyReport(ok=False, events=0, head_seq=0, head_hash="", first_bad_seq=None,
                                problem=short, checks={}), False
        checkpoint = read_verified_head(conn)
        tail = verify_tail(conn, checkpoint) if checkpoint is not None else None
        if tail is not None:
            return tail, False
    return verify_connection(conn), True


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


def read_verified_head(conn: sqlite3.Connection) -> tuple[int, str] | None:
    """(seq, hash) of the checkpoint, or None (none yet, a log made before it, a damaged row)."""
    try:
        found = conn.execute("SELECT seq, hash FROM verified_head WHERE id = 1").fetchone()
    except sqlite3.OperationalError:  # no such table: a log from before the checkpoint
        return None
    if found is None or type(found[0]) is not int or type(found[1]) is not str or found[0] < 1:
        return None
    return int(found[0]), str(found[1])


def write_verified_head(conn: sqlite3.Connection, head: tuple[int, str], *,
                        back: bool = False) -> None:
    """Record `head` as verified, in its own transaction: only forward, unless `back` (a whole
    check verified every row up to it). A log that cannot take the write (read-only media, a
    full disk) keeps its old checkpoint: the next start then verifies a longer tail."""
    if head[0] < 1:
        return
    try:
        conn.execute(
            "INSERT INTO verified_head (id, seq, hash) VALUES (1, ?, ?) "
            "ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash "
            "WHERE ? OR excluded.seq > verified_head.seq",
            (head[0], head[1], int(back)))
    except sqlite3.Error:
        return


def short_file(conn: sqlite3.Connection, file: Path) -> str | None:
    """A log file shorter than its own header says (cut off): SQLite reads only the pages asked
    for, so the tail check alone could miss it. SQLite's page count is the header's when that
    is current (else the file's size). Not judged while a -wal holds commits (the header is
    brought up to date at the WAL's checkpoint)."""
    wal = Path(f"{file}-wal")
    if wal.exists() and wal.stat().st_size > 0:
        return None
    pages = int(conn.execute("PRAGMA page_count").fetchone()[0])
    page_size = int(conn.execute("PRAGMA page_size").fetchone()[0])
    size = file.stat().st_size
    if pages * page_size > size:
        return (f"the log file is {size} bytes long but its header says {pages} pages of "
                f"{page_size} bytes: it was cut off")
    return None
