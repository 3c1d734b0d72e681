"""Fork hygiene: a forked child must never use (or close) a SQLite connection of its parent.

SQLite's howtocorrupt lists "carrying an open database connection across a fork()" as a way
to corrupt a log: the child shares file descriptors but not POSIX locks. After a fork, every
store opened in the parent gets a connection stand-in that raises StoreUsedAfterFork; the
parent's real connection is kept referenced (never closed in the child, which could
checkpoint or delete the parent's WAL).
"""

from __future__ import annotations

import os
import weakref
from typing import Any, Protocol

from walsync.core.errors import StoreUsedAfterFork

__all__ = ["ForkedConnection", "guard", "keep_alive"]


class _Guarded(Protocol):
    path: str

    def _invalidate_after_fork(self) -> None: ...


_live: weakref.WeakSet[_Guarded] = weakref.WeakSet()
_abandoned: list[object] = []  # parents' connections, kept alive so the child never closes them


class ForkedConnection:
    """Stands in for a parent's connection in a forked child: every use raises."""

    def __init__(self, path: str, parent_pid: int) -> None:
        self._message = (f"the log {path} was opened in process {parent_pid} and used in a forked "
                         f"child ({os.getpid()}): open a new store in the child")

    @property
    def in_transaction(self) -> bool:
        """Always False: nothing is open here, so rollback paths do not touch the parent's tx."""
        return False

    def __getattr__(self, name: str) -> Any:
        raise StoreUsedAfterFork(self._message)


def guard(store: _Guarded) -> None:
    """Track `store` so a fork invalidates it in the child."""
    _live.add(store)


def keep_alive(connection: object) -> None:
    """Hold a parent's connection for the child's lifetime (closing it could touch the WAL)."""
    _abandoned.append(connection)


def _after_fork_in_child() -> None:
    for store in list(_live):
        store._invalidate_after_fork()
    _live.clear()


os.register_at_fork(after_in_child=_after_fork_in_child)
