"""What the commands that follow a log share (`log --follow`, `status --watch`, `watch`): the
change feed as a stream of events, and Ctrl-C or SIGTERM as a clean end (exit code 0, after
closing what was opened), which `sync` takes too."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType

from walsync.adapters.ports import StoredEvent
from walsync.adapters.store.feed import ChangeFeed

__all__ = ["events_after", "until_stopped"]


class _Stopped(Exception):
    """SIGTERM, raised where the main thread is (as Ctrl-C raises KeyboardInterrupt)."""


@contextmanager
def until_stopped(on_stop: Callable[[], None] | None = None) -> Iterator[threading.Event]:
    """Run the body until Ctrl-C or SIGTERM; either ends it quietly. The body gets an Event set
    when a signal came (a loop that waits on it ends at once); `on_stop` runs on the signal."""
    stopped = threading.Event()

    def terminate(signum: int, frame: FrameType | None) -> None:
        stopped.set()
        if on_stop is not None:
            on_stop()
        raise _Stopped

    main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, terminate) if main else None
    try:
        yield stopped
    except (KeyboardInterrupt, _Stopped):
        stopped.set()
        if on_stop is not None:
            on_stop()
    finally:
        if main:
            signal.signal(signal.SIGTERM, previous)


def events_after(db_path: str | Path, after: int, keep: Callable[[StoredEvent], bool],
                 interval: float = 0.1) -> Iterator[StoredEvent]:
    """Every event committed after seq `after` that `keep` keeps, as it comes, for ever (the
    feed is closed when the iteration ends, as a signal ends it)."""
    feed = ChangeFeed(db_path, after=after, interval=interval)
    try:
        for batch in feed:
            yield from (event for event in batch if keep(event))
    finally:
        feed.close()
