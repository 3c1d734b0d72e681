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
from walsync.adapters.recordings.names import parse_recording_name
from walsync.core.errors import DuplicateWal, StorageFull
from walsync.core.redaction import TokenScrubber, check_token, token_warning

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
    waiting or retrying (no upload of theirs got through); `skipped` lists file names that
    do not parse.
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
) -> SyncSummary:
    """Register the folder's new `*.bin` recordings, then tick / upload / reconcile per pass.

    Passes repeat (sleeping `poll_seconds`, or the reconciler's shorter delay) until every
    row is synced, nothing can move without a user (see FINISHED_REASONS), or `max_seconds`
    of `clock` time passed; `once` runs exactly one pass. Rows that already failed once are
    retried one by one, so a broken file cannot keep failing the recordings batched with it.
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
    # Without a given backend, the composition root builds the HTTP client (which sends the
    # log's anchored head) and the engine closes it.
    engine = open_engine(db_path, backend=backend, base_url=backend_url, token=token,
                         files=DirectoryFiles(folder), policy=policy, clock=clock)
    try:
        summary = SyncSummary()
        _register(engine, folder, summary, tell)
        _run(engine, summary, once=once, poll_seconds=poll_seconds,
             max_seconds=max_seconds, tell=tell, sleep=sleep, clock=clock)
        _count(engine, summary)
        tell(f"finished ({summary.finished_reason}) after {summary.passes} pass(es): "
             f"{summary.synced} synced, {summary.uploaded} uploaded, {summary.stalled} "
             f"waiting, {summary.failed} failed, {summary.corrupted} corrupted")
        return summary
    finally:
        engine.close()


def _register(engine: Engine, folder: Path, summary: SyncSummary,
              tell: Callable[[str], None]) -> None:
    """Register every parseable `*.bin` not in the log yet; report the others once."""
    for path in sorted(p for p in folder.glob("*.bin") if p.is_file()):
        name = parse_recording_name(path.name)
        if name is None:
            summary.skipped.append(path.name)
            tell(f"skipped {path.name}: not a recording name "
                 "(audio_<device>_<codec>_<rate>_<channel>_fs<frame>_<timerStart>.bin)")
            continue
        try:
            engine.register(device=name.device, timer_start=name.timer_start, codec=name.codec,
                            sample_rate=name.sample_rate, channel=name.channel,
                            frame_size=name.frame_size, file_path=path.name)
        except DuplicateWal:
            continue
        summary.registered += 1
    tell(f"registered {summary.registered} new recording(s) from {folder}")


def _run(engine: Engine, summary: SyncSummary, *, once: bool, poll_seconds: float,
         max_seconds: float, tell: Callable[[str], None], sleep: Callable[[float], None],
         clock: Clock) -> None:
    """Passes until a finishing reason holds; the reason lands in the summary. The time budget
    runs on the clock's monotonic time when it has one: a wall-clock jump neither ends the run
    early nor stretches it (T20)."""
    monotonic = getattr(clock, "monotonic", None)

    def seconds() -> float:
        return float(monotonic()) if callable(monotonic) else clock.now().timestamp()

    started = seconds()
    while True:
        summary.passes += 1
        try:
            next_poll = _pass(engine)
        except StorageFull as error:
            # Nothing can be recorded, so nothing may be sent (C5: the attempt is logged
            # first): wait a whole poll interval and try again, never a tight retry loop.
            summary.storage_full_passes += 1
            elapsed = seconds() - started
            remaining = max_seconds - elapsed
            tell(f"pass {summary.passes}: storage full, pausing {poll_seconds:g}s ({error})")
            if once or remaining <= 0:
                summary.finished_reason = "storage_full"
                return
            sleep(max(0.0, min(poll_seconds, remaining)))
            continue
        elapsed = seconds() - started
        tell(_progress(engine, summary.passes, elapsed))
        remaining = max_seconds - elapsed
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
    if not any(_uploadable(r.state, r.storage, r.retry_count, r.retry_budget)
               and not _rejected(engine, r.wal_id) for r in pending):
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
