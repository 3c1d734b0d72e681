"""The one error family of walsync; foreign exceptions are translated at the adapter seam.

    WalsyncError
    ├── UnknownWal               a command named a WAL the log has never registered
    ├── DuplicateWal             a WAL id registered twice
    ├── IllegalTransition        a trigger the transition table does not allow from the state
    ├── InvalidId                an id given at the API boundary is unusable
    ├── InvalidToken             a token that cannot travel in an Authorization header
    ├── RecordingChanged         a recording's file changed while it was being uploaded
    ├── BackendError             the backend answered something the client cannot use
    │   ├── MalformedResponse    unparseable or schema-violating JSON
    │   └── ResponseTooLarge     a body over the size cap
    └── StoreError               the event log refused or failed a write or a read
        ├── ConcurrencyConflict  expected stream version did not match (optimistic concurrency)
        ├── IdempotencyConflict  the same event id was appended with a different body
        ├── LogCorrupt           integrity check or hash chain failed
        ├── LogFromNewerVersion  the log holds events of a schema version this code does not know
        ├── ForeignObjects       the log holds a trigger on walsync's tables or an object in their names
        ├── StorageFull          the disk or the page limit is full
        ├── StorageIOError       the disk failed a read, write or sync (outcome indeterminate)
        ├── StoreUsedAfterFork   a store opened in a parent process was used in a forked child
        ├── SegmentAltered       a sealed segment's bytes are not those its seal anchored
        └── LogCompacted         the log was compacted and this operation does not read segments yet
"""

from __future__ import annotations

__all__ = [
    "BackendError",
    "ConcurrencyConflict",
    "DuplicateWal",
    "ForeignObjects",
    "IdempotencyConflict",
    "IllegalTransition",
    "InvalidId",
    "InvalidToken",
    "LogCompacted",
    "LogCorrupt",
    "LogFromNewerVersion",
    "MalformedResponse",
    "RecordingChanged",
    "ResponseTooLarge",
    "SegmentAltered",
    "StorageFull",
    "StorageIOError",
    "StoreError",
    "StoreUsedAfterFork",
    "UnknownWal",
    "WalsyncError",
]


class WalsyncError(Exception):
    """Root of every error walsync raises on purpose."""


class UnknownWal(WalsyncError, KeyError):
    """A command named a WAL id that was never registered (or was deleted)."""

    def __init__(self, wal_id: str) -> None:
        super().__init__(f"unknown WAL id {wal_id!r}")
        self.wal_id = wal_id

    def __str__(self) -> str:
        return str(self.args[0])


class DuplicateWal(WalsyncError):
    """A WAL id was registered twice."""


class IllegalTransition(WalsyncError):
    """The transition table has no edge for this trigger from this state."""

    def __init__(self, wal_id: str, state: str, trigger: str) -> None:
        super().__init__(f"WAL {wal_id!r}: trigger {trigger!r} is not allowed in state {state!r}")
        self.wal_id = wal_id
        self.state = state
        self.trigger = trigger


class InvalidId(WalsyncError, ValueError):
    """An id given at the API boundary is unusable (empty, too long, control characters)."""


class InvalidToken(WalsyncError, ValueError):
    """The token cannot be sent (empty, a control or non-ASCII character, a space); the message
    says where, never the token."""


class RecordingChanged(WalsyncError):
    """A recording's file shrank, grew, was replaced or vanished while its bytes were being
    sent: the request is abandoned before it is complete, so the server cannot apply it."""


class BackendError(WalsyncError):
    """The backend answered in a way the client cannot use."""


class MalformedResponse(BackendError):
    """The body was not the JSON the API promises (truncated, wrong types, NaN, duplicates)."""


class ResponseTooLarge(BackendError):
    """The body exceeded the client's size cap and was abandoned."""


class StoreError(WalsyncError):
    """The event log refused or failed an operation."""


class ConcurrencyConflict(StoreError):
    """Another writer appended to the stream first: reload and decide again."""

    def __init__(self, stream: str, expected: int, actual: int) -> None:
        super().__init__(f"stream {stream!r}: expected version {expected}, found {actual}")
        self.stream = stream
        self.expected = expected
        self.actual = actual


class IdempotencyConflict(StoreError):
    """An event id already in the log was appended again with a different body."""


class LogCorrupt(StoreError):
    """The log failed an integrity check; `seq` names the first bad row when known."""

    def __init__(self, message: str, seq: int | None = None) -> None:
        super().__init__(message)
        self.seq = seq


class LogFromNewerVersion(StoreError):
    """The log holds events written by a newer schema version; refuse to write over them."""


class ForeignObjects(StoreError):
    """The log holds objects walsync refuses to work beside: a trigger on one of its tables,
    or an object that takes one of its names. Nothing in the log is damaged: it is left where
    it is, and the message names each object and the statement that drops it."""


class StorageFull(StoreError):
    """The log's disk (or page limit) is full: SQLITE_FULL, where nothing of the failed
    transaction was kept, or an I/O error on a full disk (a `-shm` that cannot grow at open),
    after which the store re-reads the log as after any failed write."""


class StorageIOError(StoreError):
    """SQLite reported an I/O error (SQLITE_IOERR*): a failed COMMIT may still have landed."""


class StoreUsedAfterFork(StoreError):
    """A forked child used its parent's store; SQLite connections must not cross a fork."""


class SegmentAltered(StoreError):
    """A sealed segment file's bytes are not the ones its `SegmentSealed` anchored (another
    digest, or rows that do not chain): history kept out of the live log was changed."""


class LogCompacted(StoreError):
    """The log was compacted (its history before a seq lives in sealed segment files) and this
    operation does not read segments yet."""
