"""`walsync sync`: register a folder's recordings and run upload/reconcile passes until done."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Final

from attrs import define, field

from walsync.adapters.bootstrap import open_engine
from walsync.adapters.diagnosis.render import gate_text
from walsync.adapters.engine import Engine
from walsync.adapters.ports import Backend, Clock, SystemClock
from walsync.adapters.recordings.files import DirectoryFiles
from walsync.adapters.service.folder_scan import FolderScan
from walsync.core.decide_upload import held_for
from walsync.core.errors import StorageFull
from walsync.core.redaction import TokenScrubber, check_token, token_warning
from walsync.projections.sentences import sentence

__all__ = ["FINISHED_REASONS", "SyncSummary", "sync_directory"]

# Why a run stopped: every row synced; nothing left that an automatic upload can move;
# the cooldown outlasts the time budget; the time budget ran out; `--once`; the log's disk
# stayed full until the budget (or the single pass) ended.
FINISHED_REASONS: Final = ("all_synced", "stalled", "paused", "time_budget", "once",
                           "storage_full")
_DISPLAY_ORDER: Final = ("synced", "uploaded", "syncing", "waiting", "retrying", "failed",
                         "corrupted")
_PHONE_STORAGE: Final = ("disk", "mem")
_IN_FLIGHT: Final = ("uploaded", "uploading")


@define(kw_only=True)
class SyncSummary:
    """What a run left behind: row counts by display state at the end, and why it stopped.

    `registered` counts recordings new to the log in this run; `stalled` counts rows still
    waiting or retrying (no upload of theirs got through); `skipped` lists the files left out
    (a name that is not a recording's, an empty or unreadable file), each once.
    """

    registered: int = 0
    synced: int = 0
    uploaded: int = 0
    stalled: int = 0
    failed: int = 0
    corrupted: int = 0
    passes: int = 0
    storage_full_passes: int = 0
    finished_reason: str = ""
    rows: list[dict[str, object]] = field(factory=list)
    skipped: list[str] = field(factory=list)


@define
class _Budget:
    """The run's time budget on the clock's monotonic time when it has one: a wall-clock jump
    neither ends the run early nor stretches it (T20)."""

    clock: Clock
    seconds: float
    started: float = 0.0

    def __attrs_post_init__(self) -> None:
        self.started = self.now()

    def now(self) -> float:
        monotonic = getattr(self.clock, "monotonic", None)
        return float(monotonic()) if callable(monotonic) else self.clock.now().timestamp()

    def elapsed(self) -> float:
        return self.now() - self.started

    def remaining(self) -> float:
        return self.seconds - self.elapsed()


def sync_directory(
    db_path: str | Path,
    *,
    backend_url: str,
    token: str,
    recordings_dir: str | Path,
    once: bool = False,
    policy: str = "walsync",
    poll_seconds: float = 20.0,
    max_seconds: float = 3600.0,
    say: Callable[[str], None] = print,
    sleep: Callable[[float], None] = time.sleep,
    clock: Clock | None = None,
    backend: Backend | None = None,
    after_pass: Callable[[], object] | None = None,
) -> SyncSummary:
    """Register the folder's new `*.bin` recordings, then tick / upload / reconcile, per pass.

    Passes repeat (sleeping `poll_seconds`, or the reconciler's shorter delay) until every
    row is synced, nothing can move without a user (see FINISHED_REASONS), or `max_seconds`
    of `clock` time passed; `once` runs exactly one pass. The budget holds inside a pass too:
    no request starts after it (the one in flight ends within its own deadline). A full disk,
    at open, while registering or in a pass, pauses a whole poll interval and tries again.
    `after_pass` runs after each pass (e.g. push_after_pass: the log's tail to the fleet).
    """
    folder = Path(recordings_dir)
    if not folder.is_dir():
        raise NotADirectoryError(f"recordings folder {str(folder)!r} does not exist")
    check_token(token)
    scrub = TokenScrubber(token)

    def tell(text: str) -> None:
        say(scrub(text))

    warning = token_warning(token)
    if warning is not None:
        tell(f"warning: {warning}")
    clock = clock or SystemClock()
    budget = _Budget(clock, max_seconds)
    summary = SyncSummary()
    scan = FolderScan(folder, tell)
    # Without a given backend, the composition root builds the HTTP client (which sends the
    # log's anchored head) and the engine closes it.
    engine = _open(lambda: open_engine(db_path, backend=backend, base_url=backend_url,
                                       token=token, files=DirectoryFiles(folder),
                                       policy=policy, clock=clock),
                   summary, budget, once=once, poll_seconds=poll_seconds, tell=tell, sleep=sleep)
    salvaged = getattr(engine.store, "salvaged", None) if engine is not None else None
    if salvaged is not None and engine is not None:  # a damaged log was salvaged at open (T33)
        held = (" Under this policy they wait for a manual Retry (`walsync why --all` names "
                "them).") if salvaged.held and engine.policy.hold_lost_history else ""
        tell(f"warning: {sentence(salvaged)}{held}")
    try:
        if engine is not None:
            _run(engine, scan, summary, budget, once=once, poll_seconds=poll_seconds,
                 tell=tell, sleep=sleep, after_pass=after_pass or (lambda: None))
            _count(engine, summary)
        summary.registered, summary.skipped = scan.registered, list(scan.skipped)
        tell(f"finished ({summary.finished_reason}) after {summary.passes} pass(es): "
             f"{summary.synced} synced, {summary.uploaded} uploaded, {summary.stalled} "
             f"waiting, {summary.failed} failed, {summary.corrupted} corrupted")
        return summary
    finally:
        if engine is not None:
            engine.close()


def _open(opener: Callable[[], Engine], summary: SyncSummary, budget: _Budget, *, once: bool,
          poll_seconds: float, tell: Callable[[str], None],
          sleep: Callable[[float], None]) -> Engine | None:
    """The engine, or None when the disk stayed full until the budget (or `once`) ended."""
    while True:
        try:
            return opener()
        except StorageFull as error:
            summary.passes += 1
            summary.storage_full_passes += 1
            if _pause_for_storage(summary, budget, once, poll_seconds, tell, sleep, error,
                                  "opening the log"):
                return None


def _pause_for_storage(summary: SyncSummary, budget: _Budget, once: bool, poll_seconds: float,
                       tell: Callable[[str], None], sleep: Callable[[float], None],
                       error: StorageFull, doing: str) -> bool:
    """Nothing can be recorded, so nothing may be sent (C5: the attempt is logged first):
    wait a whole poll interval, never a tight retry loop. True when the run ends instead."""
    tell(f"pass {summary.passes}: storage full, pausing {poll_seconds:g}s ({doing}: {error})")
    remaining = budget.remaining()
    if once or remaining <= 0:
        summary.finished_reason = "storage_full"
        return True
    sleep(max(0.0, min(poll_seconds, remaining)))
    return False


def _run(engine: Engine, scan: FolderScan, summary: SyncSummary, budget: _Budget, *,
         once: bool, poll_seconds: float, tell: Callable[[str], None],
         sleep: Callable[[float], None], after_pass: Callable[[], object]) -> None:
    """Passes until a finishing reason holds; the reason lands in the summary."""
    while True:
        summary.passes += 1
        engine.send_until(max(0.0, budget.remaining()))
        doing = "registering recordings"
        try:
            scan.register_new(engine)
            doing = "recording a pass"
            next_poll = _pass(engine)
        except StorageFull as error:
            summary.storage_full_passes += 1
            if _pause_for_storage(summary, budget, once, poll_seconds, tell, sleep, error,
                                  doing):
                return
            continue
        tell(_progress(engine, summary.passes, budget.elapsed()))
        after_pass()
        remaining = budget.remaining()
        reason = "once" if once else _finished(engine, remaining)
        if reason is None and remaining <= 0:
            reason = "time_budget"
        if reason is not None:
            summary.finished_reason = reason
            return
        delay = poll_seconds
        if next_poll is not None:
            delay = min(delay, float(next_poll))
        sleep(max(0.0, min(delay, remaining)))


def _pass(engine: Engine) -> float | None:
    """One tick / upload / reconcile pass; the reconciler's next poll delay, if any."""
    engine.tick()
    if any(_uploadable(r.state, r.storage, r.retry_count, r.retry_budget)
           and not _rejected(engine, r.wal_id) for r in engine.rows()):
        engine.sync_all()
    return engine.reconcile().next_poll_seconds


def _uploadable(state: str, storage: str, retry_count: int, retry_budget: int) -> bool:
    return state == "miss" and storage in _PHONE_STORAGE and retry_count < retry_budget


def _rejected(engine: Engine, wal_id: str) -> bool:
    """The server refused this file outright (400/413): sending it again cannot help."""
    wal = engine.store.projection.wal(wal_id)
    return wal is not None and wal.rejected


def _finished(engine: Engine, remaining: float) -> str | None:
    """all_synced / stalled / paused, or None to keep going."""
    rows = engine.rows()
    pending = [r for r in rows if r.state != "synced"]
    if not pending:
        return "all_synced"
    if any(r.state in _IN_FLIGHT for r in pending):
        return None
    held = held_for(engine.policy, engine.store.projection.history_lost)  # a salvage's (T33)
    if not any(_uploadable(r.state, r.storage, r.retry_count, r.retry_budget)
               and not _rejected(engine, r.wal_id) and r.wal_id not in held for r in pending):
        return "stalled"
    gate = engine.gate().gate
    now = engine.clock.now()
    if gate.blocks(now) and gate.until is not None and (
            (gate.until - now).total_seconds() > remaining):
        return "paused"
    return None


def _progress(engine: Engine, number: int, elapsed: float) -> str:
    counts = Counter(r.display for r in engine.rows())
    parts = [f"{counts[d]} {d}" for d in _DISPLAY_ORDER if counts[d]] or ["no recordings"]
    return f"pass {number} (+{elapsed:.0f}s): {', '.join(parts)} · {gate_text(engine.gate())}"


def _count(engine: Engine, summary: SyncSummary) -> None:
    rows = engine.rows()
    counts = Counter(r.display for r in rows)
    summary.synced, summary.uploaded = counts["synced"], counts["uploaded"]
    summary.failed, summary.corrupted = counts["failed"], counts["corrupted"]
    summary.stalled = counts["waiting"] + counts["retrying"] + counts["syncing"]
    summary.rows = [r._asdict() for r in rows]
