"""A test-only apsw VFS that simulates power loss and injects I/O errors, and a sqlite3-shaped
connection over it so the store's own code (SqliteStore) runs on top.

Why a shim: the store uses the stdlib `sqlite3` module, which cannot load a Python VFS, and
apsw's wheel carries its own SQLite. So the test opens the log through apsw with this VFS and
hands SqliteStore a connection factory returning `ApswConnection`, which speaks the subset of
`sqlite3.Connection` the store uses and turns apsw errors into `sqlite3` errors carrying
`sqlite_errorname`, as the stdlib does. The store's append path, error mapping and re-read run
unchanged.

Power-loss model (SQLite's crash VFS and lazyfs, without torn sectors): each file keeps the
image it had at its last xSync; writes and truncates since then are pending. `power_cut()`
makes every later write, truncate, sync or delete fail; `reboot()` writes each synced image
back (a file never synced disappears) and deletes `-shm`, as after a real power loss.
"""

from __future__ import annotations

import os
import random
import sqlite3
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import apsw

__all__ = ["ApswConnection", "FaultyVFS"]


class FaultyVFS(apsw.VFS):
    """Power cut and write/sync fault injection over the default VFS."""

    def __init__(self, name: str) -> None:
        super().__init__(name, "")
        self.name = name
        self.images: dict[str, bytearray | None] = {}
        self.pending: dict[str, list[tuple[int, bytes | None]]] = {}
        self.cut = False
        self.writes = 0  # xWrite calls seen while counting
        self.syncs = 0
        self.cut_at_write: int | None = None  # power cut during this write (it is lost)
        self.fail_write: int | None = None  # this write fails once with `fail_kind`
        self.fail_sync: int | None = None  # this sync fails once with an I/O error
        self.fail_kind: type[apsw.Error] = apsw.IOError
        self.faults = 0
        self.trace: list[str] | None = None
        self.fail_rate = 0.0  # each write and sync fails with this probability (soak)
        self.rng = random.Random(0)

    def xOpen(self, name: Any, flags: list[int]) -> apsw.VFSFile:
        path = name.filename() if isinstance(name, apsw.URIFilename) else name
        if self.trace is not None:
            self.trace.append(f"o {path} {path in self.images}")
        if isinstance(path, str) and path not in self.images:
            self.images[path] = bytearray(Path(path).read_bytes()) if os.path.exists(path) else None
            self.pending[path] = []
        return _File(self, name, flags, path)

    def xDelete(self, filename: str, syncdir: bool) -> None:
        if self.cut:
            return  # a delete that never reached the disk (a connection closing after the cut)
        super().xDelete(filename, syncdir)
        self.images[filename] = None
        self.pending[filename] = []

    def power_cut(self) -> None:
        """From now on nothing reaches the disk."""
        self.cut = True

    def reboot(self) -> None:
        """Put every file back to its last synced image; drop -shm (it is rebuilt)."""
        for path, image in self.images.items():
            if path.endswith("-shm") or image is None:
                Path(path).unlink(missing_ok=True)
            else:
                Path(path).write_bytes(bytes(image))
        self.images.clear()
        self.pending.clear()
        self.cut = False

    def on_write(self, path: str | None, offset: int, data: bytes) -> None:
        """Count, maybe fail, and remember the write as pending until the next sync."""
        if self.cut:
            raise apsw.IOError("power is off")
        self.writes += 1
        if self.trace is not None:
            self.trace.append(f"w {path and path[-8:]} {offset} {len(data)}")
        if self.writes == self.cut_at_write:
            self.power_cut()
            raise apsw.IOError("power cut")
        if self.writes == self.fail_write or (self.fail_rate and self.rng.random() < self.fail_rate):
            self.faults += 1
            raise self.fail_kind(f"injected fault at write {self.writes}")
        if path is not None and path in self.pending:
            self.pending[path].append((offset, data))

    def on_truncate(self, path: str | None, size: int) -> None:
        if self.cut:
            raise apsw.IOError("power is off")
        if self.trace is not None:
            self.trace.append(f"t {path and path[-8:]} {size}")
        if path is not None and path in self.pending:
            self.pending[path].append((size, None))

    def on_sync(self, path: str | None) -> None:
        """A sync makes the file's pending writes durable (or fails, when told to)."""
        if self.cut:
            raise apsw.IOError("power is off")
        self.syncs += 1
        if self.trace is not None:
            self.trace.append(f"s {path and path[-8:]}")
        if self.syncs == self.fail_sync or (self.fail_rate and self.rng.random() < self.fail_rate):
            self.faults += 1
            raise apsw.IOError(f"injected fsync failure at sync {self.syncs}")
        if path is None or path not in self.pending:
            return
        image = self.images[path] or bytearray()
        for offset, data in self.pending[path]:
            if data is None:  # ftruncate: shrink, or extend with zeros
                del image[offset:]
                image.extend(b"\0" * (offset - len(image)))
            else:
                if len(image) < offset:
                    image.extend(b"\0" * (offset - len(image)))
                image[offset:offset + len(data)] = data
        self.images[path] = image
        self.pending[path] = []


class _File(apsw.VFSFile):
    def __init__(self, vfs: FaultyVFS, name: Any, flags: list[int], path: str | None) -> None:
        super().__init__("", name, flags)
        self.vfs = vfs
        self.path = path

    def xWrite(self, data: bytes, offset: int) -> None:
        self.vfs.on_write(self.path, offset, bytes(data))
        super().xWrite(data, offset)

    def xTruncate(self, newsize: int) -> None:
        self.vfs.on_truncate(self.path, newsize)
        super().xTruncate(newsize)

    def xSync(self, flags: int) -> None:
        self.vfs.on_sync(self.path)  # durability is modelled above: no real fsync (fast tests)


_NAMES: dict[type[apsw.Error], str] = {
    apsw.FullError: "SQLITE_FULL", apsw.IOError: "SQLITE_IOERR", apsw.BusyError: "SQLITE_BUSY",
    apsw.CorruptError: "SQLITE_CORRUPT", apsw.NotADBError: "SQLITE_NOTADB",
    apsw.ConstraintError: "SQLITE_CONSTRAINT", apsw.LockedError: "SQLITE_LOCKED"}


def _as_sqlite3(error: apsw.Error) -> sqlite3.Error:
    """The stdlib exception the same SQLite result would have raised.

    An exception raised inside a VFS method comes back as itself (no result code on it), so the
    name follows its class first.
    """
    code = int(getattr(error, "result", 1) or 1)
    name = next((n for k, n in _NAMES.items() if isinstance(error, k)),
                apsw.mapping_result_codes.get(code, "SQLITE_ERROR"))
    extended = apsw.mapping_extended_result_codes.get(
        int(getattr(error, "extendedresult", 0) or 0), name)
    kind: type[sqlite3.Error] = sqlite3.OperationalError
    if isinstance(error, apsw.ConstraintError):
        kind = sqlite3.IntegrityError
    elif isinstance(error, apsw.CorruptError | apsw.NotADBError):
        kind = sqlite3.DatabaseError
    converted = kind(str(error))
    converted.sqlite_errorname = extended  # type: ignore[attr-defined]
    converted.sqlite_errorcode = code  # type: ignore[attr-defined]
    return converted


class _Cursor:
    def __init__(self, cursor: apsw.Cursor) -> None:
        self._cursor = cursor

    @property
    def description(self) -> Any:
        try:
            return self._cursor.description
        except apsw.ExecutionCompleteError:  # no rows: sqlite3 would still name the columns
            return ()

    def fetchone(self) -> Any:
        try:
            return next(self._cursor, None)
        except apsw.Error as error:
            raise _as_sqlite3(error) from error

    def fetchall(self) -> list[Any]:
        return list(self)

    def __iter__(self) -> Iterator[Any]:
        try:
            yield from self._cursor
        except apsw.Error as error:
            raise _as_sqlite3(error) from error


class ApswConnection:
    """The part of sqlite3.Connection the store and sqlite-utils use, over an apsw connection."""

    def __init__(self, path: str, timeout: float, vfs: str) -> None:
        try:
            self._conn = apsw.Connection(path, vfs=vfs)
            self._conn.set_busy_timeout(int(timeout * 1000))
        except apsw.Error as error:
            raise _as_sqlite3(error) from error

    @property
    def in_transaction(self) -> bool:
        return bool(self._conn.in_transaction)

    def execute(self, sql: str, params: Sequence[Any] = ()) -> _Cursor:
        try:
            return _Cursor(self._conn.execute(sql, tuple(params)))
        except apsw.Error as error:
            raise _as_sqlite3(error) from error

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        try:
            self._conn.executemany(sql, [tuple(r) for r in rows]).fetchall()
        except apsw.Error as error:
            raise _as_sqlite3(error) from error

    def close(self) -> None:
        try:
            self._conn.close(True)
        except apsw.Error as error:
            raise _as_sqlite3(error) from error

    def __enter__(self) -> ApswConnection:
        return self

    def __exit__(self, *exc: object) -> None:
        return None
