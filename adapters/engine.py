"""The application service: gather (state and clock), decide purely, append, do the I/O, append.

One Engine owns one event log. Every public method is one command of the embedding app's
sync core: register a recording, the three upload paths, a reconcile pass, a tick.
"""

from __future__ import annotations

import functools
import logging
import random
import threading
import uuid
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Concatenate, Final, Literal, ParamSpec, TypeVar

from walsync.adapters.ports import (
    Backend,
    Clock,
    EventStore,
    FollowableStore,
    NewEvent,
    OpenedRecording,
    RecordingFiles,
    StoredEvent,
)
from walsync.adapters.recordings.files import upload_file_for
from walsync.core import decide_reconcile as reconcile_rules
from walsync.core import decide_upload as upload_rules
from walsync.core.app_settings import AppSettings
from walsync.core.decide_reconcile import PollStreak
from walsync.core.errors import ConcurrencyConflict, DuplicateWal, UnknownWal, WalsyncError
from walsync.core.events import (
    GATE_STREAM,
    CooldownCleared,
    Event,
    FileSkipped,
    GateEvent,
    PolicyApplied,
    SyncRunFinished,
    SyncRunStarted,
    UploadCancelled,
    UploadOutcomeUnknown,
    UploadPath,
    WalDeleted,
    WalEvent,
    WalRegistered,
)
from walsync.core.gate import Gate, GateCountdown, expire_if_due, resume_due
from walsync.core.ids import check_count, check_id
from walsync.core.policies import WALSYNC
from walsync.core.policy import Policy
from walsync.core.reports import ReconcileReport, RunReport
from walsync.core.responses import (
    JobStatus,
    JobStatusResult,
    JobVanished,
    UploadError,
    UploadJobAccepted,
    UploadProcessed,
    UploadThrottled,
)
from walsync.core.states import DELETED, MISS, UPLOADING
from walsync.core.wal import Wal
from walsync.projections.card import Card
from walsync.projections.view import GateRow
from walsync.projections.wal_rows import WalRow

__all__ = ["Engine"]

Listener = Callable[[Sequence[StoredEvent]], None]
_LOG: Final = logging.getLogger("walsync.engine")
INTERRUPTED: Final = "interrupted: the process stopped before the upload's answer was recorded"
REDECIDE_ATTEMPTS: Final = 10
# Beyond the backend's own deadline, how long an upload's claim outlasts its request.
CLAIM_MARGIN_SECONDS: Final = 10.0
ABANDONED: Final = "abandoned: the service stopped before the upload's answer came"
_P = ParamSpec("_P")
_R = TypeVar("_R")


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


def _redecides(method: Callable[Concatenate[Engine, _P], _R]) -> Callable[Concatenate[Engine, _P], _R]:
    """One command, under the engine's lock, decided on a fresh view: it first folds what other
    writers (another engine or process on the log) appended. When another writer still got to a
    stream first (a ConcurrencyConflict) before this command sent anything, the store has
    caught up, so it decides again. After a request went out it is never re-sent:
    `_record_answer` decides its answer against the fresh state (stale: recorded as ignored)."""
    @functools.wraps(method)
    def run(self: Engine, /, *args: _P.args, **kwargs: _P.kwargs) -> _R:
        with self._lock:
            for attempt in range(1, REDECIDE_ATTEMPTS + 1):
                self._local.sent = False
                self.store.refresh()
                try:
                    return method(self, *args, **kwargs)
                except ConcurrencyConflict:
                    if self._local.sent or attempt == REDECIDE_ATTEMPTS:
                        raise
        raise AssertionError("unreachable")
    return run


def _close(recordings: Iterable[OpenedRecording | None]) -> None:
    """Close the streams of opened recordings (None: nothing was opened)."""
    for recording in recordings:
        if recording is not None:
            recording.stream.close()


class Engine:
    """The sync core an app embeds: commands in, events appended, projections read back."""

    def __init__(self, store: EventStore, backend: Backend, *, clock: Clock,
                 files: RecordingFiles, policy: Policy = WALSYNC,
                 new_id: Callable[[], str] | None = None, rng: random.Random | None = None,
                 owns_backend: bool = False, claim_seconds: float | None = None,
                 settings: AppSettings | None = None, concurrent_polls: bool = True) -> None:
        self.store = store
        # Ask a slice's job statuses at once (threads); the simulator asks them one by one at
        # the same virtual instant, so its seeded network faults fall in a fixed order.
        self._concurrent_polls = concurrent_polls
        self._streaks: dict[str, PollStreak] = {}
        # The app's settings capture auto-sync respects; the app sets a new value when they change.
        self.settings = settings or AppSettings()
        self.backend = backend
        self._owns_backend = owns_backend
        self.clock = clock
        self.files = files
        self.policy = policy
        self._new_id = new_id or (lambda: uuid.uuid4().hex)
        self._rng = rng or random.Random()
        self._listeners: list[Listener] = []
        self._idle_streak = 0
        self._lock = CommandLock()
        self._local = threading.local()  # per thread: has this command sent a request yet
        self._out: set[str] = set()  # attempt ids of the uploads this engine has out now
        self._countdown = GateCountdown()
        self._send_deadline: float | None = None
        self._claim_seconds = claim_seconds
        self._cancel = threading.Event()  # the card's Cancel, for the batch running now
        self._batch_running = False
        self._cancel_hold = False  # automatic uploads held after a cancel, until resume_uploads()
        self._open()

    # -- reading ------------------------------------------------------------------------

    def rows(self) -> list[WalRow]:
        """The status rows in registration order."""
        with self._lock:
            return list(self.store.projection.rows.values())

    def row(self, wal_id: str) -> WalRow:
        """One status row; UnknownWal if there is none."""
        with self._lock:
            row = self.store.projection.rows.get(wal_id)
        if row is None:
            raise UnknownWal(wal_id)
        return row

    def card(self, page: str = "sync") -> Card:
        """The status card of the `sync` or `auto_sync` page."""
        with self._lock:
            return self.store.projection.cards[page]

    def gate(self) -> GateRow:
        """The cooldown gate as the log leaves it."""
        with self._lock:
            return self.store.projection.gate

    def recordings(self) -> list[Wal]:
        """Every recording's state as the decisions read it (deleted ones left out)."""
        with self._lock:
            return [w for w in self.store.projection.wals.values() if w.status != DELETED]

    def refresh(self) -> int:
        """Catch the view up with what other engines and processes committed on the log (a
        view is otherwise as of this engine's last command); the view's last seq."""
        with self._lock:
            refresh = getattr(self.store, "refresh", None)
            return int(refresh()) if callable(refresh) else self.store.projection.checkpoint

    def head_anchor(self) -> str:
        """`SEQ:HASH` of the log's head: what `walsync verify --expect-head` checks against."""
        seq, digest = self.store.head()
        return f"{seq}:{digest}"

    def send_until(self, seconds: float | None) -> None:
        """Send no request later than `seconds` from now (None: no limit), on the clock's
        monotonic time when it has one. Checked before every upload and every poll: a command
        that reaches it stops before its next request (the one in flight ends within its own
        deadline) and records that it ran out of time; what it did not send waits, untouched."""
        self._send_deadline = None if seconds is None else self._seconds() + seconds

    def _seconds(self) -> float:
        monotonic = getattr(self.clock, "monotonic", None)
        return float(monotonic()) if callable(monotonic) else self.clock.now().timestamp()

    def _out_of_time(self) -> bool:
        return self._send_deadline is not None and self._seconds() >= self._send_deadline

    def follow(self, listener: Listener, *, after: int | None = None,
               interval: float = 0.05) -> Callable[[], None]:
        """Hear every commit on the log, by this engine, another engine or another process:
        `listener(events)` in seq order, each event once, from after seq `after` (default: the
        head now). It runs on a thread of its own, after this view has caught up with the
        events (so `rows()` show them); isolated like `subscribe`'s. Returns the stop function.
        The store must have a change feed (the SQLite store has: `PRAGMA data_version`)."""
        if not isinstance(self.store, FollowableStore):
            raise TypeError(f"{type(self.store).__name__} has no change feed to follow")
        start = self.store.head()[0] if after is None else after
        feed = self.store.changes(after=start, interval=interval)
        stopped = threading.Event()

        def run() -> None:
            try:
                while not stopped.is_set():
                    batch = feed.wait(0.5)
                    if batch and not stopped.is_set():
                        self.refresh()
                        self._tell(listener, batch)
            except WalsyncError:
                _LOG.exception("the change feed failed; following stopped")
            finally:
                feed.close()

        thread = threading.Thread(target=run, name="walsync-follow", daemon=True)
        thread.start()

        def stop() -> None:
            stopped.set()
            feed.close()
            if thread is not threading.current_thread():
                thread.join(5.0)

        return stop

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call `listener` with every batch of appended events, after its commit; returns the
        unsubscribe. A listener is isolated: an exception it raises is logged (logger
        `walsync.engine`) and never changes what the command does (T44)."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    # -- commands -----------------------------------------------------------------------

    @_redecides
    def register(self, *, device: str = "phone", timer_start: int, codec: str = "opus",
                 sample_rate: int = 16000, channel: int = 1, frame_size: int = 160,
                 seconds: int = 60,
                 file_path: str | None = None, storage: str = "disk",
                 conversation_id: str | None = None, delivered: bool = False) -> str:
        """Record a new WAL (id `<device>_<timerStart>`) and return its id."""
        for kind, number in (("timer_start", timer_start), ("sample_rate", sample_rate),
                             ("channel", channel), ("frame_size", frame_size),
                             ("seconds", seconds)):
            check_count(kind, number)
        wal_id = check_id("recording id", f"{check_id('device', device)}_{timer_start}")
        if conversation_id is not None:
            check_id("conversation id", conversation_id)
        if wal_id in self.store.projection.wals:
            raise DuplicateWal(f"WAL {wal_id!r} is already registered (or was deleted)")
        self._record([WalRegistered(
            at=self.clock.now(), wal_id=wal_id, device=device, timer_start=timer_start,
            codec=codec, sample_rate=sample_rate, channel=channel, frame_size=frame_size,
            seconds=seconds,
            file_path=file_path, storage=storage, conversation_id=conversation_id,
            delivered=delivered)])
        return wal_id

    def skip_file(self, file_name: str, wal_id: str, reason: Literal["empty", "unreadable"],
                  detail: str = "") -> bool:
        """Record that a recording's file was left out (empty, unreadable), once per file and
        reason; False when that was recorded already."""
        with self._lock:
            if self.store.projection.skipped_files.get(file_name) == reason:
                return False
            self._record([FileSkipped(at=self.clock.now(), file_name=file_name, wal_id=wal_id,
                                      reason=reason, detail=detail)])
            return True

    @_redecides
    def delete(self, wal_id: str) -> None:
        """The user swiped the recording away."""
        wal = self._wal(wal_id)
        upload_rules.guard(wal, "delete")
        self._record([WalDeleted(at=self.clock.now(), wal_id=wal_id)])

    def upload_candidates(self) -> list[Wal]:
        """The recordings batch sync takes (the policy's choice), the gate and the policy's
        backoff after unknown outcomes aside: a service schedules each at its due moment."""
        with self._lock:
            if self._cancel_hold:
                return []
            budget = self.policy.retry_budget if self.policy.batch_respects_budget else None
            return upload_rules.batch_candidates(list(self.store.projection.wals.values()),
                                                 budget, held=self._held())

    def cancel(self) -> bool:
        """The card's Cancel, from any thread: the batch sync running now sends no further
        batch (the one out gets its answer recorded: an uploaded recording is never reverted);
        each recording it has not sent is recorded `UploadCancelled` and stays waiting, its
        budget untouched. Automatic uploads (a service's) are held until `resume_uploads()`
        (a service's nudge) or the user's next `sync_all()`. True when a batch was running."""
        self._cancel_hold = True
        if not self._batch_running:
            return False
        self._cancel.set()
        return True

    def resume_uploads(self) -> None:
        """End the hold a cancel put on automatic uploads."""
        self._cancel_hold = False

    @_redecides
    def sync_all(self, only: Collection[str] | None = None) -> RunReport:
        """Batch sync (syncAll): every `miss` WAL, in batches of 3 from the end of the list;
        with `only`, just those of them (a service sending what is due)."""
        now = self._observe_gate()
        self._settle_abandoned(now)
        if only is None:  # the user's Sync: a cancel's hold ends
            self._cancel_hold = False
        budget = self.policy.retry_budget if self.policy.batch_respects_budget else None
        candidates = [w for w in upload_rules.batch_candidates(
            list(self.store.projection.wals.values()), budget, now=now, policy=self.policy,
            held=self._held())
            if only is None or w.wal_id in only]
        report = RunReport(path="batch", wal_ids=[w.wal_id for w in candidates])
        if not candidates:
            return report
        if self._out_of_time():
            report.out_of_time = True
            return report
        if self._gated("batch", candidates, report, every_waiting=only is None):
            return report
        if self._offline(now, report):
            return report
        run_id = self._new_id()
        self._record([SyncRunStarted(at=now, run_id=run_id, path="batch",
                                     wal_ids=tuple(report.wal_ids))])
        self._cancel.clear()
        self._batch_running = True
        try:
            return self._batches(candidates, run_id, report)
        finally:
            self._batch_running = False
            self._cancel.clear()

    def _batches(self, candidates: list[Wal], run_id: str, report: RunReport) -> RunReport:
        """Batch sync's batches, a cancel checked before each (as the app checks its flag)."""
        batches_ok = batches_failed = 0
        stopped = cancelled = False
        sent: set[str] = set()
        for batch in upload_rules.split_batches(candidates, self.policy.batch_size,
                                                isolate=self.policy.isolate_shared_failures):
            if self._cancel.is_set():
                cancelled = True
                self._record([UploadCancelled(at=self.clock.now(), wal_id=w.wal_id,
                                              path="batch", run_id=run_id)
                              for w in self._still_waiting(candidates) if w.wal_id not in sent])
                break
            # Another thread's command may have taken one meanwhile (its request ran outside
            # the lock while this one's did): only those still waiting go.
            fresh = [w for w in (self.store.projection.wal(b.wal_id) for b in batch)
                     if w is not None and w.status == MISS]
            if not fresh:
                continue
            sent.update(w.wal_id for w in fresh)
            answer = self._upload(fresh, "batch", report)
            if isinstance(answer, UploadProcessed | UploadJobAccepted):
                batches_ok += 1
            elif answer is not None:
                batches_failed += 1
            if isinstance(answer, UploadThrottled) and self.policy.break_batch_on_rate_limit:
                stopped = True
                break
            if (isinstance(answer, UploadError) and answer.kind == "network"
                    and self.policy.offline_backoff_seconds):
                break  # the backend is unreachable: the rest wait for the backoff (_offline)
            if self._gate().reason == "auth" and self._gate().limited:
                break  # the credentials were refused: the next batches would be too
            if report.out_of_time:
                break
        self._record([SyncRunFinished(
            at=self.clock.now(), run_id=run_id, path="batch", batches_uploaded=batches_ok,
            batches_failed=batches_failed, corrupted=report.corrupted,
            stopped_by_rate_limit=stopped, out_of_time=report.out_of_time,
            cancelled=cancelled)])
        return report

    def _still_waiting(self, wals: Sequence[Wal]) -> list[Wal]:
        """Those of `wals` still waiting (`miss`) now."""
        fresh = (self.store.projection.wal(w.wal_id) for w in wals)
        return [w for w in fresh if w is not None and w.status == MISS]

    @_redecides
    def sync_wal(self, wal_id: str) -> RunReport:
        """Single upload (the row's Retry pill): ungated under seed, refused with reason under walsync."""
        return self._single_path(wal_id, "single", None)

    @_redecides
    def auto_sync(self, wal_id: str, conversation_id: str | None = None) -> RunReport:
        """Capture auto-sync of one WAL with its conversation id (gated; spends budget on errors)."""
        return self._single_path(wal_id, "auto", conversation_id)

    def recover_orphans(self) -> list[RunReport]:
        """Orphan recovery: auto-sync every `miss` recording on phone storage with a conversation
        id and budget left (one on the device's SD card or flash is copied to the phone first),
        and, under a policy that backs off after unknown outcomes, not backing off."""
        with self._lock:
            orphans = upload_rules.orphan_candidates(list(self.store.projection.wals.values()),
                                                     self.policy.retry_budget,
                                                     now=self.clock.now(), policy=self.policy,
                                                     held=self._held())
            return [self.auto_sync(wal.wal_id) for wal in orphans]

    @_redecides
    def reconcile(self, jobs: Collection[str] | None = None) -> ReconcileReport:
        """One reconciler pass over every `uploaded` WAL's job (never gated), or with `jobs` over
        just those (a service polling what is due): the jobs asked in slices of the policy's
        `poll_concurrency` at once, each slice's answers recorded in job-id order."""
        self._settle_abandoned(self._observe_gate())
        report = ReconcileReport()
        groups = {job_id: members for job_id, members in reconcile_rules.group_by_job(
            list(self.store.projection.wals.values())).items() if jobs is None or job_id in jobs}
        for job_ids in reconcile_rules.poll_slices(groups, self.policy.poll_concurrency):
            if self._out_of_time():
                report.out_of_time = True
                break
            self._local.sent = True
            with self._lock.released():  # another thread's command may run meanwhile
                answers = self._ask(job_ids)
            report.jobs_polled += len(job_ids)
            for job_id, answer in zip(job_ids, answers, strict=True):
                self._record_job_answer(job_id, groups[job_id], answer, report)
        self._schedule(report)
        return report

    @_redecides
    def tick(self, upload: bool = True) -> RunReport | None:
        """Record a cooldown's expiry; under walsync, resume uploads at the jittered point
        (with `upload=False` the resume is recorded and the caller sends what is due)."""
        now = self._observe_gate()
        resumed = resume_due(self._gate(), now)
        if resumed is None:
            return None
        self._record([resumed])
        return self.sync_all() if upload else RunReport(path="batch")

    def pause_left(self) -> float:
        """Seconds until the gate stops blocking (0 when open), counted down as the engine
        judges it: on the clock's monotonic time when it has one (T20)."""
        with self._lock:
            gate = self._gate()
            if not gate.limited or gate.until is None:
                return 0.0
            judged = self._gate_now(self.clock.now())
            return max(0.0, (gate.until - judged).total_seconds()) if gate.blocks(judged) else 0.0

    def abort_requests(self, detail: str = ABANDONED) -> None:
        """Cut short the requests this engine has out, from any thread, when its backend can
        (the HTTP client can): each comes back lost, so an upload is recorded as of unknown
        outcome by its own command, with `detail`."""
        abort = getattr(self.backend, "abort", None)
        if callable(abort):
            abort(detail)

    def abandon(self, detail: str = ABANDONED) -> list[str]:
        """Settle the uploads this engine has out as of unknown outcome (a service stopping
        before their answers came): recorded, no budget spent, the same key reused by a retry
        (C5); an answer arriving later is recorded as ignored. The recordings settled."""
        with self._lock:
            events: list[Event] = [
                UploadOutcomeUnknown(at=self.clock.now(), wal_id=wal.wal_id,
                                     attempt_id=wal.attempt_id or "", detail=detail)
                for wal in self.store.projection.wals.values()
                if wal.status == UPLOADING and wal.attempt_id in self._out]
            self._record(events)
            return [e.wal_id for e in events if isinstance(e, WalEvent)]

    def renew_credentials(self) -> bool:
        """While uploads are paused for refused credentials (reason `auth`), ask the backend's
        token provider for a new token; when it gives one, record the pause lifted. True when
        the pause was lifted (uploads go at once). A service calls it when nudged."""
        renew = getattr(self.backend, "renew_credentials", None)
        with self._lock:
            gate = self._gate()
            if not (gate.limited and gate.reason == "auth" and gate.until is not None):
                return False
        if not callable(renew) or not renew():  # outside the lock: the provider may be slow
            return False
        with self._lock:
            self.store.refresh()
            gate = self._gate()
            if not (gate.limited and gate.reason == "auth" and gate.until is not None):
                return False
            self._record([CooldownCleared(at=self.clock.now(), previous_until=gate.until,
                                          previous_reason="auth", credentials_renewed=True)])
            return True

    def close(self) -> None:
        """Record the poll streaks still open, then close the log, and the backend's client
        when the engine was given it to own (stop a service driving the engine first)."""
        with self._lock:
            try:
                self._record_open_streaks()
            finally:
                try:
                    self.store.close()
                finally:
                    close_backend = getattr(self.backend, "close", None)
                    if self._owns_backend and callable(close_backend):
                        close_backend()

    # -- internals ----------------------------------------------------------------------

    def _open(self) -> None:
        """Record the policy in force; settle uploads and runs a crash left open. An upload
        another process still holds a claim on is its own: left alone, and so is the run."""
        now = self.clock.now()
        wals = list(self.store.projection.wals.values())
        events: list[Event] = upload_rules.settle_abandoned(wals, now, INTERRUPTED)
        run = self.store.projection.run
        if run is not None and not any(w.status == UPLOADING and not upload_rules.abandoned(
                w, now) for w in wals):
            events.append(SyncRunFinished(at=now, run_id=run.run_id, path="batch",
                                          interrupted=True))
        if self.store.projection.policy != self.policy.name:
            events.append(PolicyApplied(at=now, policy=self.policy.name,
                                        rules=self.policy.rules()))
        if events:
            self._record(events)

    def _settle_abandoned(self, now: datetime) -> None:
        """Uploads whose uploader is gone (its claim over) become unknown outcomes."""
        self._record(upload_rules.settle_abandoned(list(self.store.projection.wals.values()),
                                                   now, INTERRUPTED))

    def _claim_until(self, now: datetime) -> datetime:
        """How long an upload starting now claims its recordings: the backend's deadline (no
        request outlives it) and a margin; 60 s for a backend that names none."""
        seconds = self._claim_seconds
        if seconds is None:
            seconds = float(getattr(self.backend, "deadline_seconds", 60.0)) + CLAIM_MARGIN_SECONDS
        return now + timedelta(seconds=seconds)

    def _held(self) -> frozenset[str]:
        """Recordings automatic uploads leave to a manual Retry (their history was lost)."""
        return upload_rules.held_for(self.policy, self.store.projection.history_lost)

    def _wal(self, wal_id: str) -> Wal:
        wal = self.store.projection.wal(wal_id)
        if wal is None:
            raise UnknownWal(wal_id)
        return wal

    def _gate(self) -> Gate:
        return self.store.projection.gate.gate

    def _observe_gate(self) -> datetime:
        """Read the clock; record the gate's expiry at the first tick past its deadline."""
        now = self.clock.now()
        gate_now = self._gate_now(now)
        jitter = 0.0
        if self.policy.resume_on_expiry and self._gate().limited and not self._gate().blocks(gate_now):
            jitter = self._rng.uniform(0, self.policy.resume_jitter_max_seconds)
        expired = expire_if_due(self._gate(), now=now, policy=self.policy, jitter_seconds=jitter,
                                gate_now=gate_now)
        if expired is not None:
            self._record([expired])
        return now

    def _gate_now(self, now: datetime) -> datetime:
        """The moment gate checks are judged at: the pause counted down on the clock's
        monotonic time when it has one (T20)."""
        monotonic = getattr(self.clock, "monotonic", None)
        return self._countdown.gate_now(self._gate(), now,
                                        float(monotonic()) if callable(monotonic) else None,
                                        self.policy.max_cooldown_seconds)

    def _anchor_new_gate(self, stored: Sequence[StoredEvent]) -> None:
        """Start a new cooldown's monotonic countdown the moment it is recorded."""
        if any(r.stream == GATE_STREAM for r in stored):  # by the row: no decoding
            self._gate_now(self.clock.now())

    def _gated(self, path: UploadPath, wals: Sequence[Wal], report: RunReport, *,
               every_waiting: bool = False) -> bool:
        """Apply the entry point's gate check; when it is closed, record the pass as held (one
        event, however many recordings it held)."""
        now = self.clock.now()
        if not upload_rules.gate_closed_for(path, self._gate(), self._gate_now(now), self.policy):
            return False
        self._record([upload_rules.held(wals, path, self._gate(), now,
                                        every_waiting=every_waiting)])
        report.skipped = len(wals)
        report.skipped_reason = self._gate().reason
        return True

    def _offline(self, now: datetime, report: RunReport) -> bool:
        """Automatic uploads wait while the policy's backoff after the backend was found
        unreachable lasts: nothing is sent and nothing written (the failure that started it is
        in the log, which is all a replay needs to come to the same wait)."""
        until = upload_rules.offline_until(self.store.projection.wals.values(), self.policy)
        if until is None or now >= until:
            return False
        report.skipped, report.skipped_reason = len(report.wal_ids), "offline"
        return True

    def _single_path(self, wal_id: str, path: UploadPath,
                     conversation_id: str | None) -> RunReport:
        now = self._observe_gate()
        self._settle_abandoned(now)
        wal = self._wal(wal_id)
        report = RunReport(path=path, wal_ids=[wal_id])
        if wal.status == UPLOADING:  # another uploader holds it now: not an error, a race
            report.skipped, report.skipped_reason = 1, "in_flight"
            return report
        upload_rules.guard(wal, "start_upload")
        if path == "auto":
            skipped = upload_rules.auto_sync_skip(wal, self.settings.auto_sync_blocker(),
                                                  self.clock.now())
            if skipped is not None:  # before the file and gate checks, as the app returns at once
                self._record([skipped])
                report.skipped, report.skipped_reason = 1, skipped.setting
                return report
        if self._gated(path, [wal], report):
            return report
        if path != "single" and self._offline(now, report):  # a manual Retry goes out
            return report
        run_id = self._new_id()
        self._record([SyncRunStarted(at=self.clock.now(), run_id=run_id, path=path,
                                     wal_ids=(wal_id,))])
        answer = self._upload([wal], path, report,
                              conversation_id=conversation_id or wal.conversation_id)
        ok = isinstance(answer, UploadProcessed | UploadJobAccepted)
        self._record([SyncRunFinished(
            at=self.clock.now(), run_id=run_id, path=path, batches_uploaded=int(ok),
            batches_failed=int(answer is not None and not ok), corrupted=report.corrupted,
            stopped_by_rate_limit=isinstance(answer, UploadThrottled),
            out_of_time=report.out_of_time)])
        return report

    def _upload(self, wals: Sequence[Wal], path: UploadPath, report: RunReport,
                conversation_id: str | None = None) -> object | None:
        """Corrupted checks, pick-up, the request, its answer. None when nothing was sent."""
        if self._out_of_time():
            report.out_of_time = True
            return None
        claimed = self._claim([w.wal_id for w in wals], path, report, conversation_id)
        if claimed is None:
            return None
        ready, attempt_id, opened = claimed
        files = [upload_file_for(w, opened[w.wal_id].stream) for w in ready]
        self._local.sent = True
        self._out.add(attempt_id)
        try:
            with self._lock.released():
                answer = self.backend.upload(files, conversation_id=conversation_id,
                                             idempotency_key=attempt_id)
        finally:
            self._out.discard(attempt_id)
            _close(opened.values())
        self._record_answer(lambda: upload_rules.upload_outcome(
            [self._wal(w.wal_id) for w in ready], answer, path=path, attempt_id=attempt_id,
            gate=self._gate(), now=self.clock.now(), policy=self.policy))
        if isinstance(answer, UploadProcessed):
            report.synced += len(ready)
        elif isinstance(answer, UploadJobAccepted):
            report.uploaded += len(ready)
            report.poke_reconciler = True
        elif isinstance(answer, UploadThrottled):
            report.rate_limited = True
            report.failed += len(ready)
        else:
            report.failed += len(ready)
            report.error = getattr(answer, "message", None) or getattr(answer, "detail", None)
        return answer

    def _claim(self, wal_ids: Sequence[str], path: UploadPath, report: RunReport,
               conversation_id: str | None
               ) -> tuple[list[Wal], str, dict[str, OpenedRecording]] | None:
        """Open the recordings of `wal_ids` still `miss`, record the corrupted checks and
        `UploadStarted` (the claim) for them. A file that changed during its last upload and is
        still being written waits. Another process may claim some first (a conflict): the store
        has caught up, so decide again without them; None when none is left. The caller closes
        the recordings returned; the others are closed here."""
        for _ in range(REDECIDE_ATTEMPTS):
            wals = [w for w in map(self.store.projection.wal, wal_ids)
                    if w is not None and w.status == MISS]
            if not wals:
                return None
            now = self.clock.now()
            opened = {w.wal_id: self.files.open_recording(w) for w in wals}
            keep: dict[str, OpenedRecording] = {}
            try:
                for w in wals:
                    found = opened[w.wal_id]
                    if found is not None and not upload_rules.settling(w, found.modified_at, now):
                        keep[w.wal_id] = found
                missing = upload_rules.missing_files(
                    wals, {k: v is not None for k, v in opened.items()}, now)
                if missing:
                    self._record(missing)
                    report.corrupted += len(missing)
                ready = [self._wal(w.wal_id) for w in wals if w.wal_id in keep]
                if ready:
                    attempt_id = upload_rules.reusable_key(ready, self.policy) or self._new_id()
                    self._record(upload_rules.start_upload(
                        ready, path=path, attempt_id=attempt_id, now=now,
                        conversation_id=conversation_id, claim_until=self._claim_until(now)))
            except ConcurrencyConflict:
                _close(opened.values())
                continue
            except BaseException:
                _close(opened.values())
                raise
            _close(o for k, o in opened.items() if k not in keep or not ready)
            return (ready, attempt_id, keep) if ready else None
        return None  # others kept getting there first: they are uploading these

    def _schedule(self, report: ReconcileReport) -> None:
        """The reconciler's backoff: quiet when nothing is uploaded; streak resets on results."""
        if not any(w.status == "uploaded" for w in self.store.projection.wals.values()):
            self._idle_streak = 0
            report.next_poll_seconds = None
            return
        if report.conversations:
            self._idle_streak = 0
        report.next_poll_seconds = reconcile_rules.next_poll_delay(self._idle_streak)
        self._idle_streak += 1

    def _ask(self, job_ids: Sequence[str]) -> list[JobStatusResult]:
        """The job statuses of one slice, asked at once (or in order, see `concurrent_polls`)."""
        if len(job_ids) == 1 or not self._concurrent_polls:
            return [self.backend.job_status(job_id) for job_id in job_ids]
        with ThreadPoolExecutor(max_workers=len(job_ids), thread_name_prefix="walsync-poll") as pool:
            return list(pool.map(self.backend.job_status, job_ids))

    def _record_job_answer(self, job_id: str, members: Sequence[Wal], answer: JobStatusResult,
                           report: ReconcileReport) -> None:
        """Record one job's answer (with the streak of quiet polls it ends), or count a quiet
        poll into the job's streak, and add what happened to the pass's report."""
        # Only a vanished job asks whether the files are still there: no file reads per poll.
        exists = {w.wal_id: self.files.exists(w) for w in members} if isinstance(
            answer, JobVanished) else {}
        events = self._record_answer(functools.partial(
            self._job_events, [w.wal_id for w in members], job_id, answer, exists))
        if events:
            self._streaks.pop(job_id, None)
        elif isinstance(answer, JobStatus):  # the job said again what was recorded last
            self._streaks[job_id] = PollStreak.extended(self._streaks.get(job_id), answer,
                                                        self.clock.now())
        for event in events:
            kind = type(event).__name__
            report.completed += kind == "JobCompleted"
            report.reverted += kind in ("JobFailed", "JobNotFound")
            report.corrupted += kind == "WalCorrupted"
            for conversation in getattr(event, "new_conversations", ()) + getattr(
                    event, "updated_conversations", ()):
                if conversation not in report.conversations:
                    report.conversations.append(conversation)

    def _job_events(self, wal_ids: Sequence[str], job_id: str, answer: JobStatusResult,
                    exists: dict[str, bool]) -> list[Event]:
        """What the answer calls for, after the summary of the quiet polls before it."""
        members, now = [self._wal(w) for w in wal_ids], self.clock.now()
        outcome = reconcile_rules.job_outcome(members, job_id, answer, gate=self._gate(), now=now,
                                              policy=self.policy, file_exists=exists)
        if not outcome:
            return []
        return reconcile_rules.repeated_polls(members, job_id, self._streaks.get(job_id),
                                              now) + outcome

    def _record_open_streaks(self) -> None:
        """The quiet polls of jobs still waiting, recorded before the engine closes (a crash
        loses only their count). A log that cannot take them is reported, not raised."""
        streaks, self._streaks = self._streaks, {}
        if not streaks:
            return

        def summaries() -> list[Event]:
            wals, now = list(self.store.projection.wals.values()), self.clock.now()
            return [event for job_id, streak in sorted(streaks.items())
                    for event in reconcile_rules.repeated_polls(
                        [w for w in wals if w.job_id == job_id], job_id, streak, now)]

        try:
            self._record_answer(summaries)
        except WalsyncError as error:
            _LOG.warning("closing without recording the quiet polls of %d job(s): %s",
                         len(streaks), error)

    def _record_answer(self, decide: Callable[[], list[Event]]) -> list[Event]:
        """Record what a server answer calls for. When another writer got to a recording while
        the request was out (a ConcurrencyConflict; the store has caught up), decide once more
        from the fresh state: the rules then record the answer as ignored if it is stale."""
        for _ in range(REDECIDE_ATTEMPTS - 1):
            events = decide()
            try:
                self._record(events)
            except ConcurrencyConflict:
                continue
            return events
        events = decide()
        self._record(events)
        return events

    def _record(self, events: Sequence[Event]) -> list[StoredEvent]:
        """Append with expected stream versions (optimistic concurrency) and notify listeners."""
        if not events:
            return []
        expected: dict[str, int] = {}
        for event in events:
            if event.stream in expected:
                continue
            if isinstance(event, WalEvent):
                wal = self.store.projection.wals.get(event.wal_id)
                expected[event.stream] = wal.version if wal is not None else 0
            elif isinstance(event, GateEvent):
                expected[event.stream] = self.store.projection.gate.version
        stored = self.store.append(
            [NewEvent(event_id=self._new_id(), event=e) for e in events], expected)
        self._anchor_new_gate(stored)
        self._notify(stored)
        return stored

    def _notify(self, stored: Sequence[StoredEvent]) -> None:
        """Tell the subscribers, each isolated: the events are committed whatever they do, and
        the command goes on (a UI callback that raises must not leave a recording "Syncing…")."""
        for listener in list(self._listeners):
            self._tell(listener, stored)

    @staticmethod
    def _tell(listener: Listener, stored: Sequence[StoredEvent]) -> None:
        try:
            listener(stored)
        except Exception:  # any error of a subscriber is logged, never raised
            _LOG.exception("a subscriber of the engine raised; the command goes on")
