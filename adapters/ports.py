"""The engine's driven ports (backend, clock, recording files) and their everyday implementations."""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from walsync.core.responses import JobStatusResult, UploadAnswer
from walsync.core.wal import Wal

if TYPE_CHECKING:
    from walsync.adapters.http.client import UploadFile

__all__ = ["Backend", "Clock", "DirectoryFiles", "ManualClock", "MemoryFiles", "MonotonicClock",
           "RecordingFiles", "SystemClock"]


class Backend(Protocol):
    """The two calls of spec section 6, already mapped to plain answers."""

    def upload(self, files: Sequence[UploadFile], *, conversation_id: str | None = None,
               idempotency_key: str | None = None) -> UploadAnswer:
        """POST /v2/sync-local-files."""
        ...

    def job_status(self, job_id: str) -> JobStatusResult:
        """GET /v2/sync-local-files/{job_id}."""
        ...


class Clock(Protocol):
    """Where the engine gets wall time (the core never reads a clock)."""

    def now(self) -> datetime:
        """Aware UTC now."""
        ...


class MonotonicClock(Clock, Protocol):
    """A clock that also tells elapsed time no wall-clock jump can move (T20)."""

    def monotonic(self) -> float:
        """Seconds from an arbitrary origin; never goes back."""
        ...


class SystemClock:
    """The real wall clock, and the process's monotonic clock."""

    def now(self) -> datetime:
        """Aware UTC now."""
        return datetime.now(UTC)

    def monotonic(self) -> float:
        """time.monotonic()."""
        return time.monotonic()


class ManualClock:
    """A clock that moves only when told: tests, the demo and the simulator's virtual time."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("ManualClock needs an aware datetime")
        self._now = start
        self._elapsed = 0.0

    def now(self) -> datetime:
        """The current virtual time."""
        return self._now

    def monotonic(self) -> float:
        """Virtual seconds elapsed: moved by advance() forwards only, never by a jump."""
        return self._elapsed

    def advance(self, seconds: float) -> datetime:
        """Let time pass (or, with a negative value, jump the wall clock back) and return it."""
        self._now += timedelta(seconds=seconds)
        self._elapsed += max(seconds, 0.0)
        return self._now

    def jump(self, seconds: float) -> datetime:
        """Move the wall clock only (NTP step, user change): no time passes."""
        self._now += timedelta(seconds=seconds)
        return self._now

    def set(self, moment: datetime) -> None:
        """Go to a moment: time passes when it is later, the wall clock jumps back when earlier."""
        self.advance((moment - self._now).total_seconds())


class RecordingFiles(Protocol):
    """Access to the recordings' audio files."""

    def read(self, wal: Wal) -> bytes | None:
        """The file's bytes, or None when it is gone."""
        ...


class MemoryFiles:
    """Recording bytes held in a dict keyed by WAL id (tests, demo)."""

    def __init__(self, contents: dict[str, bytes] | None = None) -> None:
        self.contents: dict[str, bytes] = dict(contents or {})

    def read(self, wal: Wal) -> bytes | None:
        """The bytes, or None when absent."""
        return self.contents.get(wal.wal_id)


class DirectoryFiles:
    """Recordings stored as files under one folder (`file_path` is relative to it)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).resolve()

    def read(self, wal: Wal) -> bytes | None:
        """The file's bytes, or None when missing or outside the folder."""
        if not wal.file_path:
            return None
        candidate = (self.root / wal.file_path).resolve()
        if self.root not in candidate.parents or not candidate.is_file():
            return None
        try:
            return candidate.read_bytes()
        except OSError:
            return None
