"""The engine's driven ports (backend, store, clock, recording files), the data that crosses
them, and the two clocks (too small for a room of their own).

Every adapter room implements one of these; the engine knows nothing else of them.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple, Protocol, runtime_checkable

import attrs
import orjson

from walsync.core.events import Event
from walsync.core.responses import JobStatusResult, UploadAnswer
from walsync.core.serde import event_from_data, with_defaults
from walsync.core.upcast import upcast
from walsync.core.wal import Wal
from walsync.projections.view import Projection

__all__ = ["Backend", "ChangeFeed", "Clock", "EventStore", "FollowableStore", "ManualClock",
           "MonotonicClock", "NewEvent", "OpenedRecording", "Readable", "RecordingFiles",
           "StoredEvent", "SystemClock", "UploadFile"]


class Readable(Protocol):
    """A recording's content read in chunks as its request goes out (never whole in memory)."""

    def read(self, size: int = -1) -> bytes:
        """Up to `size` bytes; b"" at the end."""
        ...

    def seek(self, offset: int, whence: int = 0) -> int:
        """Move; returns the new position (the end: the length)."""
        ...

    def tell(self) -> int:
        """The position."""
        ...

    def close(self) -> None:
        """Release the file."""
        ...


@attrs.frozen
class UploadFile:
    """One multipart `files` part: the spec's file name and the recording's content, bytes or
    a stream read as the request goes out."""

    name: str
    content: bytes | Readable


@attrs.frozen
class OpenedRecording:
    """A recording opened for upload: its content as a stream, its size, and when its file was
    last modified (None when it has no file: memory)."""

    stream: Readable
    size: int
    modified_at: datetime | None


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


@attrs.frozen(kw_only=True)
class NewEvent:
    """An event about to be appended, with its caller-chosen id (the idempotency key)."""

    event_id: str
    event: Event


class StoredEvent(NamedTuple):
    """One row of the log, its fields in column order (EVENT_COLUMNS): a tuple, so the store
    inserts it as it is. `event` decodes `data` on demand (most folds need only `type`)."""

    seq: int
    event_id: str
    stream: str
    version: int
    type: str
    schema_version: int
    at: str
    data: str
    prev_hash: str
    hash: str
    # The seq of the last row of the commit that wrote this one (None in rows written before
    # schema version 3, which did not record it): what time travel snaps a cut to.
    commit_end: int | None = None

    @property
    def event(self) -> Event:
        """The event in today's shape: older schema versions are upcast on read (never rewritten);
        LogFromNewerVersion for a type or version this code does not know."""
        return event_from_data(self.type, self.at,
                               upcast(self.type, self.schema_version, self.payload), self.stream)

    @property
    def payload(self) -> dict[str, Any]:
        """The data exactly as stored (the hash chain covers it)."""
        value: dict[str, Any] = orjson.loads(self.data)
        return value

    @property
    def fields(self) -> dict[str, Any]:
        """The data with what a row leaves out given back (serde.with_defaults; rows of schema
        version 4 on): the fields at their default, a recording's `wal_id`. What a reader by
        field name reads."""
        return with_defaults(self.type, self.payload, self.stream)



class EventStore(Protocol):
    """The store port: atomic, optimistic, idempotent appends with projections in the same step."""

    projection: Projection

    def append(
        self, events: Sequence[NewEvent], expected: Mapping[str, int] | None = None
    ) -> list[StoredEvent]:
        """Append atomically with the projection change; returns the rows actually added."""
        ...

    def read(
        self, *, after: int = 0, upto: int | None = None, stream: str | None = None
    ) -> Iterator[StoredEvent]:
        """Rows in seq order, optionally one stream and a seq window (after, upto]."""
        ...

    def head(self) -> tuple[int, str]:
        """(last seq, its hash); (0, GENESIS_HASH) for an empty log."""
        ...

    def refresh(self) -> int:
        """Fold what other writers (another engine or process on the same log) appended
        since, so a command decides on a fresh view; the view's last seq."""
        ...

    def close(self) -> None:
        """Release the store's resources."""
        ...


class ChangeFeed(Protocol):
    """Every commit on a log, by any connection or process, in seq order, each event once."""

    def wait(self, timeout: float | None = None) -> list[StoredEvent]:
        """The next batch of events, or [] after `timeout` seconds (or once closed)."""
        ...

    def close(self) -> None:
        """Stop; a waiting `wait` returns at once."""
        ...


@runtime_checkable
class FollowableStore(EventStore, Protocol):
    """A store whose log other processes can write, with a change feed over it."""

    def changes(self, *, after: int, interval: float = 0.05) -> ChangeFeed:
        """A feed of the events committed after seq `after`, looking every `interval` s."""
        ...


class RecordingFiles(Protocol):
    """Access to the recordings' audio files."""

    def open_recording(self, wal: Wal) -> OpenedRecording | None:
        """The recording opened for upload (the caller closes its stream), or None when its
        file is gone."""
        ...

    def exists(self, wal: Wal) -> bool:
        """Whether the recording's file is there (nothing is read)."""
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
