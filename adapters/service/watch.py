"""`walsync watch`: the long-running form for a device gateway or a desktop uploader.

A `SyncService` runs the engine in the background; the calling thread registers the folder's
recordings as they appear. It learns of new files from filesystem events (`watchfiles`, when it
is installed) or by listing the folder every `poll_seconds` (the fallback, and the choice for a
network share where events never arrive). A file is registered only once it is complete: its
size and modification time held still for `settle_seconds` (a writer still appending changes
them; a file renamed into place holds still at once). Every state change a commit makes is
handed to `say`, one dict each.
"""

from __future__ import annotations

import importlib
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any, Final

from attrs import define, field

from walsync.adapters.diagnosis.render import gate_json, gate_text
from walsync.adapters.engine import Engine
from walsync.adapters.ports import StoredEvent
from walsync.adapters.service.folder_scan import FolderScan
from walsync.adapters.service.retention import DEFAULT_HORIZON
from walsync.adapters.service.runner import ERROR_PAUSE_SECONDS, AfterPass, SyncService
from walsync.adapters.store.readonly.job_rows import as_member_rows
from walsync.core.errors import StorageFull
from walsync.core.events import GATE_STREAM

__all__ = ["DEFAULT_POLL_SECONDS", "Settling", "StateChanges", "WatchSummary", "watch_folder"]

# How often the folder is listed when no filesystem events come (watchfiles not installed).
DEFAULT_POLL_SECONDS: Final = 2.0


@define
class Settling:
    """Which files are complete: those whose size and modification time held still for
    `seconds` since first seen so (on the monotonic clock)."""

    seconds: float
    monotonic: Callable[[], float] = time.monotonic
    _seen: dict[str, tuple[tuple[int, int], float]] = field(factory=dict)
    _looked: set[str] = field(factory=set)

    def ready(self, path: Path) -> bool:
        """Complete now? A file that cannot be looked at is left to the scan to report."""
        self._looked.add(path.name)
        try:
            stat = path.stat()
        except OSError:
            return True
        mark, now = (stat.st_size, stat.st_mtime_ns), self.monotonic()
        seen = self._seen.get(path.name)
        if seen is None or seen[0] != mark:
            self._seen[path.name] = (mark, now)
            return False
        if now - seen[1] < self.seconds:
            return False
        del self._seen[path.name]
        return True

    def sweep(self) -> None:
        """After a scan: forget files gone from the folder since the last one."""
        for name in [n for n in self._seen if n not in self._looked]:
            del self._seen[name]
        self._looked.clear()

    def next_look(self) -> float | None:
        """Seconds until the first file still settling may be complete (None: none is)."""
        if not self._seen:
            return None
        first = min(since for _, since in self._seen.values())
        return max(0.0, first + self.seconds - self.monotonic())


class StateChanges:
    """An engine listener that turns commits into one record per state change: a recording's
    display state (`waiting`, `syncing`, `uploaded`, `synced`, ...) or the gate's."""

    def __init__(self, engine: Engine, say: Callable[[dict[str, Any]], None]) -> None:
        self.engine = engine
        self.say = say
        self._shown: dict[str, str] = {}
        self._gate: dict[str, Any] | None = None

    def __call__(self, events: Sequence[StoredEvent]) -> None:
        wal_ids = dict.fromkeys(e.stream[4:] for e in as_member_rows(events)
                                if e.stream.startswith("wal:"))
        for wal_id in wal_ids:
            row = self.engine.store.projection.row(wal_id)
            if row is None or self._shown.get(wal_id) == row.display:
                continue
            self._shown[wal_id] = row.display
            self.say({"at": row.updated_at, "wal_id": wal_id, "state": row.display,
                      "text": row.text, "retry_count": row.retry_count})
        if any(e.stream == GATE_STREAM for e in events):
            gate = self.engine.store.projection.gate
            shown = gate_json(gate)
            if shown != self._gate:
                self._gate = shown
                self.say({"at": events[-1].at, "gate": shown, "text": gate_text(gate)})


@define(kw_only=True)
class WatchSummary:
    """What a watch did: recordings registered, folder scans, and whether the stop was clean
    (the service's loop ended within its timeout)."""

    registered: int = 0
    scans: int = 0
    events: bool = False
    stopped_in_time: bool = True


def _start_events(folder: Path, stopped: threading.Event, wake: threading.Event) -> bool:
    """Wake the watch at every filesystem change of the folder (a thread running watchfiles
    until `stopped`); False when watchfiles is not installed."""
    try:
        watchfiles: Any = importlib.import_module("watchfiles")
    except ImportError:
        return False

    def run() -> None:
        for _ in watchfiles.watch(folder, stop_event=stopped, debounce=100, step=20,
                                  rust_timeout=1000, yield_on_timeout=False):
            wake.set()

    threading.Thread(target=run, name="walsync-watch-events", daemon=True).start()
    return True


def watch_folder(engine: Engine, folder: Path, *, stopped: threading.Event,
                 wake: threading.Event, tell: Callable[[str], None],
                 changes: Callable[[dict[str, Any]], None], settle_seconds: float = 1.0,
                 poll_seconds: float | None = None, stop_timeout: float = 5.0,
                 after_pass: Iterable[AfterPass] = (),
                 retention: timedelta | None = DEFAULT_HORIZON) -> WatchSummary:
    """Run until `stopped` is set (set `wake` with it): the service uploads, this thread
    registers complete new recordings and nudges it. `poll_seconds` forces listing the folder
    on that interval instead of filesystem events. Stops the service within `stop_timeout`.
    The service compacts the log at `retention` (None: never)."""
    summary = WatchSummary()
    scan = FolderScan(folder, tell)
    settling = Settling(settle_seconds)
    unsubscribe = engine.subscribe(StateChanges(engine, changes))
    service = SyncService(engine, after_pass=after_pass, retention=retention).start()
    try:
        summary.events = poll_seconds is None and _start_events(folder, stopped, wake)
        interval = None if summary.events else (poll_seconds or DEFAULT_POLL_SECONDS)
        if poll_seconds is None and not summary.events:
            tell(f"no filesystem events without watchfiles (pip install 'walsync[watch]'): "
                 f"listing the folder every {interval:g} s")
        while not stopped.is_set():
            full = False
            try:
                added = scan.register_new(engine, ready=settling.ready)
            except StorageFull as error:  # nothing can be recorded: look again later
                tell(f"storage full, registering again in {ERROR_PAUSE_SECONDS:g}s ({error})")
                added, full = 0, True
            settling.sweep()
            if added:
                service.nudge()
            waits = [s for s in (settling.next_look(), interval,
                                 ERROR_PAUSE_SECONDS if full else None) if s is not None]
            wake.wait(min(waits) if waits else None)
            wake.clear()
    finally:
        summary.stopped_in_time = service.stop(stop_timeout)
        unsubscribe()
        summary.registered, summary.scans = scan.registered, scan.scans
    return summary
