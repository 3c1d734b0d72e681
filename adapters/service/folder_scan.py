"""Registering a folder's recordings: one odd file never blocks the others.

A name that is not a recording's (or whose numbers do not fit in 64 bits), an empty file, an
unreadable one: each is skipped and reported once per run (and, when it names a recording,
recorded once as `FileSkipped`); every other file is registered. A full disk is not a file's
problem: StorageFull goes up to the run, which pauses.

A scan costs the same on a folder of a year's recordings as on a day's: when the folder's own
modification time has not moved since a scan that listed it (no file added, removed or renamed
since), the next scan looks only at the files it left to look at again (still being written,
empty, unreadable), not at every file (issue 17: 15 us a file, 5 s a pass at a year's files).
A listing is trusted only when the folder's time was older than the filesystem's coarsest
granularity (2 s, FAT) at the moment it was read: a file added within the same tick could
leave the time unmoved.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Final, Literal

from attrs import define, field

from walsync.adapters.engine import Engine
from walsync.adapters.recordings.names import name_problem, parse_recording_name
from walsync.core.errors import WalsyncError
from walsync.core.events import WalRegistered
from walsync.projections.sentences import escape_controls

__all__ = ["CHUNK", "FolderScan"]

# New recordings registered in one commit (one fsync): a folder of a day's files is a few.
CHUNK: Final = 256
# A folder's modification time this close to the moment it was read may not show a file added
# in the same tick of the coarsest filesystem clock (FAT's 2 s): such a listing is not trusted.
RACY_NS: Final = 2_000_000_000
# A folder is listed whole at least this often all the same (a clock that jumped back, a
# network filesystem's cached times): a file missed by the shortcut waits at most this long.
RELIST_NS: Final = 600_000_000_000


@define
class FolderScan:
    """Scans one folder for new recordings, pass after pass, remembering what it reported."""

    folder: Path
    tell: Callable[[str], None]
    skipped: list[str] = field(factory=list)  # names skipped in this run, each once
    registered: int = 0
    scans: int = 0
    now_ns: Callable[[], int] = time.time_ns
    _listed_at: int | None = None  # the folder's mtime_ns a trusted listing saw (None: list)
    _relisted: int = 0  # now_ns() of the last whole listing
    _again: set[str] = field(factory=set)  # names to look at on the next scan, listed or not

    def register_new(self, engine: Engine, ready: Callable[[Path], bool] | None = None) -> int:
        """Register every new recording, up to `CHUNK` in one commit; the count. StorageFull
        (a full disk) is raised after the chunks committed before it are kept. With `ready`,
        a file it calls incomplete (still being written) is left for a later scan."""
        self.scans += 1
        try:
            return self._register(engine, ready)
        except BaseException:
            # A commit that failed (a full disk) leaves files the listing saw unregistered,
            # and the listing may already be trusted: the next scan lists the folder whole.
            self._listed_at = None
            raise

    def _register(self, engine: Engine, ready: Callable[[Path], bool] | None) -> int:
        """register_new's scan and commits."""
        added = 0
        pending: list[WalRegistered] = []
        for path in self._entries():
            name = path.name
            self._again.discard(name)
            problem = name_problem(name)
            parsed = parse_recording_name(name)
            if problem is not None or parsed is None:
                self._skip(name, problem or "not a recording name")
                continue
            if engine.store.projection.registered(parsed.wal_id):
                continue
            if ready is not None and not ready(path):
                self._again.add(name)
                continue
            unusable = _unusable(path)
            if unusable is not None:
                self._again.add(name)
                reason, detail = unusable
                engine.skip_file(name, parsed.wal_id, reason, detail)
                self._skip(name, f"the file is {reason}" + (f" ({detail})" if detail else ""))
                continue
            try:
                pending.append(engine.registration(
                    device=parsed.device, timer_start=parsed.timer_start, codec=parsed.codec,
                    sample_rate=parsed.sample_rate, channel=parsed.channel,
                    frame_size=parsed.frame_size, file_path=name))
            except WalsyncError as error:  # an id or a number the engine refuses
                self._skip(name, str(error))
                continue
            if len(pending) == CHUNK:
                added += self._commit(engine, pending)
        added += self._commit(engine, pending)
        if added or self.scans == 1:
            self.tell(f"registered {added} new recording(s) from {self.folder}")
        return added

    def _commit(self, engine: Engine, pending: list[WalRegistered]) -> int:
        """Record the pending registrations in one commit (emptying the list); how many were
        new (another process may have registered some a moment ago)."""
        if not pending:
            return 0
        recorded = len(engine.register_all(pending))
        pending.clear()
        self.registered += recorded
        return recorded

    def _entries(self) -> Iterator[Path]:
        """The files to look at, in name order: every `*.bin` file of the folder, or, when its
        time shows nothing added, removed or renamed since a trusted listing, only those left
        to look at again. An entry that cannot be looked at is skipped (and reported, and
        looked at again) rather than stopping the scan."""
        try:
            listed_at = self.folder.stat().st_mtime_ns
            read_at = self.now_ns()
            if listed_at == self._listed_at and 0 <= read_at - self._relisted < RELIST_NS:
                names = sorted(self._again)
            else:
                self._listed_at, self._relisted = None, read_at
                self._again.clear()  # the listing finds again what is still to look at
                names = sorted(entry.name for entry in os.scandir(self.folder)
                                if entry.name.endswith(".bin"))
        except OSError as error:
            self._listed_at = None
            self.tell(f"the folder {self.folder} cannot be listed ({error.strerror})")
            return
        for name in names:
            path = self.folder / name
            try:
                if path.is_file():
                    yield path
            except OSError as error:
                self._again.add(name)
                self._skip(name, f"it cannot be looked at ({error.strerror})")
        if read_at - listed_at >= RACY_NS:  # the whole scan went through: trust its listing
            self._listed_at = listed_at

    def _skip(self, name: str, why: str) -> None:
        if name in self.skipped:
            return
        self.skipped.append(name)
        self.tell(f"skipped {escape_controls(name)}: {why}")


def _unusable(path: Path) -> tuple[Literal["empty", "unreadable"], str] | None:
    """("empty" | "unreadable", detail) for a file that cannot be a recording's upload yet."""
    try:
        with path.open("rb") as file:
            if not file.read(1):
                return "empty", ""
    except OSError as error:
        return "unreadable", error.strerror or type(error).__name__
    return None
