"""The engine's thread rule: one command at a time decides and records; its requests run outside."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["CommandLock"]


class CommandLock:
    """The engine's thread rule: one command at a time decides and records, from any thread;
    the requests a command sends run outside the lock (`released`), so a reader, a `register`
    or a `cancel` from another thread waits for at most one append, never for the network.
    Re-entrant for its owner (a listener may call back into the engine on the same thread)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._owner: int | None = None
        self._depth = 0

    def __enter__(self) -> None:
        me = threading.get_ident()
        if self._owner != me:
            self._lock.acquire()
            self._owner = me
        self._depth += 1

    def __exit__(self, *_: object) -> None:
        self._depth -= 1
        if self._depth == 0:
            self._owner = None
            self._lock.release()

    @contextmanager
    def released(self) -> Iterator[None]:
        """Let other threads' commands run while this one waits on a request."""
        depth = self._depth
        self._owner, self._depth = None, 0
        self._lock.release()
        try:
            yield
        finally:
            self._lock.acquire()
            self._owner, self._depth = threading.get_ident(), depth
