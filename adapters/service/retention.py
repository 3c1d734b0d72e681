"""Retention in the background of a long-running service: after a pass, when the live log's
first row has aged a day past the horizon, one bounded step of `walsync compact` seals the
oldest history into a segment beside the log (store/segments/compact.py).

One step seals at most one segment of at most `STEP_EVENTS` events and does not VACUUM (the
freed pages are reused by the rows written next): the pass it follows stays short, and the
engine's writes wait for its one commit at most. Waiting a day past the horizon makes each
step move about a day of history instead of a few rows every pass. A step that fails (another
process compacting the same rows first, a full disk) is logged and tried again an hour later;
it never fails the pass: the log is as it was, or compacted up to the segment sealed.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from pathlib import Path
from typing import Final

from walsync.adapters.engine import Engine
from walsync.adapters.store.segments.compact import CompactReport, compact_log, oldest_live_at
from walsync.core.errors import WalsyncError

__all__ = ["DEFAULT_HORIZON", "STEP_EVENTS", "BackgroundRetention", "retention_for"]

_LOG: Final = logging.getLogger("walsync.service")
DEFAULT_HORIZON: Final = timedelta(days=30)
STEP_EVENTS: Final = 20_000  # events a step seals at most (more only for one longer commit)
_SLACK: Final = timedelta(days=1)  # how far past the horizon the first row ages before a step
_RETRY: Final = timedelta(hours=1)  # after a failed step


class BackgroundRetention:
    """An after-pass hook (`SyncService(after_pass=[...])`, `walsync sync`, `walsync watch`):
    compacts the log at `path` by one bounded step when due. `reports` keeps what each step
    did, for the caller to show."""

    def __init__(self, path: str | Path, horizon: timedelta = DEFAULT_HORIZON, *,
                 step_events: int = STEP_EVENTS) -> None:
        if horizon < timedelta(0):  # a sign slip would seal the whole history at every pass
            raise ValueError(f"retention {horizon} is negative: give how old history must be "
                             "before it is sealed, e.g. timedelta(days=30), or None for never")
        self.path, self.horizon, self.step_events = Path(path), horizon, step_events
        self.reports: list[CompactReport] = []
        self._not_before: datetime | None = None

    def __call__(self, engine: Engine) -> None:
        self.step(engine.clock.now())

    def step(self, now: datetime) -> CompactReport | None:
        """One step as of `now`, when due: what it sealed (None: nothing)."""
        if self._not_before is not None and now < self._not_before:
            return None
        try:
            oldest = oldest_live_at(self.path)
            if oldest is None or oldest > now - self.horizon - _SLACK:
                self._not_before = None if oldest is None else oldest + self.horizon + _SLACK
                return None
            report = compact_log(self.path, older_than=self.horizon, now=now, vacuum=False,
                                 segment_events=self.step_events, max_segments=1)
        except (WalsyncError, OSError):
            _LOG.exception("background retention failed; trying again in an hour")
            self._not_before = now + _RETRY
            return None
        self._not_before = None  # more may be due: the next pass looks again
        if report.segment is None:
            return None
        self.reports.append(report)
        _LOG.info("retention sealed seq %d-%d into %s", report.first_seq, report.last_seq,
                  report.segment)
        return report


def retention_for(engine: Engine, horizon: timedelta | None) -> BackgroundRetention | None:
    """The retention hook a service runs for `engine`'s log at `horizon`: None when turned
    off (`horizon` None) or when the log is not a file (an in-memory store)."""
    path = getattr(engine.store, "path", None)
    if horizon is None or not isinstance(path, str) or path == ":memory:":
        return None
    return BackgroundRetention(path, horizon)
