"""Registering a folder's recordings: one odd file never blocks the others.

A name that is not a recording's (or whose numbers do not fit in 64 bits), an empty file, an
unreadable one: each is skipped and reported once per run (and, when it names a recording,
recorded once as `FileSkipped`); every other file is registered. A full disk is not a file's
problem: StorageFull goes up to the run, which pauses.
"""

from __future__ import annotations

import os
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


@define
class FolderScan:
    """Scans one folder for new recordings, pass after pass, remembering what it reported."""

    folder: Path
    tell: Callable[[str], None]
    skipped: list[str] = field(factory=list)  # names skipped in this run, each once
    registered: int = 0
    scans: int = 0

    def register_new(self, engine: Engine, ready: Callable[[Path], bool] | None = None) -> int:
        """Register every new recording, up to `CHUNK` in one commit; the count. StorageFull
        (a full disk) is raised after the chunks committed before it are kept. With `ready`,
        a file it calls incomplete (still being written) is left for a later scan."""
        self.scans += 1
        added = 0
        pending: list[WalRegistered] = []
        for path in self._entries():
            name = path.name
            problem = name_problem(name)
            parsed = parse_recording_name(name)
            if problem is not None or parsed is None:
                self._skip(name, problem or "not a recording name")
                continue
            if engine.store.projection.registered(parsed.wal_id):
                continue
            if ready is not None and not ready(path):
                continue
            unusable = _unusable(path)
            if unusable is not None:
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
        """The folder's `*.bin` files in name order; an entry that cannot be looked at is
        skipped (and reported) rather than stopping the scan."""
        try:
            names = sorted(entry.name for entry in os.scandir(self.folder)
                           if entry.name.endswith(".bin"))
        except OSError as error:
            self.tell(f"the folder {self.folder} cannot be listed ({error.strerror})")
            return
        for name in names:
            path = self.folder / name
            try:
                if path.is_file():
                    yield path
            except OSError as error:
                self._skip(name, f"it cannot be looked at ({error.strerror})")

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
