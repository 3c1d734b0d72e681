"""What every engine command stands on: the engine's state, its view of the gate and of the
recordings, and the one way it records events (expected stream versions, then the listeners)."""

from __future__ import annotations

import functools
import logging
import random
import threading
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Concatenate, Final, ParamSpec, TypeVar

from walsync.adapters.engine.lock import CommandLock
from walsync.adapters.ports import Backend, Clock, EventStore, NewEvent, RecordingFiles, StoredEvent
from walsync.core import decide_upload as upload_rules
from walsync.core.app_settings import AppSettings
from walsync.core.decide_reconcile import PollStreak
from walsync.core.errors import ConcurrencyConflict, UnknownWal
from walsync.core.events import (
    GATE_STREAM,
    BatchJobCompleted,
    Event,
    GateEvent,
    PolicyApplied,
    SyncRunFinished,
    WalEvent,
)
from walsync.core.gate import Gate, GateCountdown, expire_if_due
from walsync.core.policies import WALSYNC
from walsync.core.policy import Policy
from walsync.core.states import UPLOADING
from walsync.core.wal import Wal

__all__ = ["ABANDONED", "INTERRUPTED", "LOG", "REDECIDE_ATTEMPTS", "EngineBase", "Listener", "redecides"]

Listener = Callable[[Sequence[StoredEvent]], None]
LOG: Final = logging.getLogger("walsync.engine")
INTERRUPTED: Final = "interrupted: the process stopped before the upload's answer was recorded"
REDECIDE_ATTEMPTS: Final = 10
# Beyond the backend's own deadline, how long an upload's claim outlasts its request.
CLAIM_MARGIN_SECONDS: Final = 10.0
ABANDONED: Final = "abandoned: the service stopped before the upload's answer came"
_P = ParamSpec("_P")
_R = TypeVar("_R")
_E = TypeVar("_E", bound="EngineBase")


def redecides(method: Callable[Concatenate[_E, _P], _R]) -> Callable[Concatenate[_E, _P], _R]:
    """One command, under the engine's lock, decided on a fresh view: it first folds what other
    writers (another engine or process on the log) appended. When another writer still got to a
    stream first (a ConcurrencyConflict) before this command sent anything, the store has
    caught up, so it decides again. After a request went out it is never re-sent:
    `_record_answer` decides its answer against the fresh state (stale: recorded as ignored)."""
    @functools.wraps(method)
    def run(self: _E, /, *args: _P.args, **kwargs: _P.kwargs) -> _R:
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


class EngineBase:
    """The engine's state and its recording; the commands are in the classes built on it."""

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
                wal = self.store.projection.known(event.wal_id)  # a finished one too
                expected[event.stream] = wal.version if wal is not None else 0
            elif isinstance(event, GateEvent):
                expected[event.stream] = self.store.projection.gate.version
            elif isinstance(event, BatchJobCompleted):
                # A job ends once, on the stream of the request that made it: another writer
                # that recorded it first wins (its row does not move its members' versions,
                # which stand as they were decided on).
                expected[event.stream] = 0
                for member in event.wal_ids:
                    wal = self.store.projection.known(member)
                    expected.setdefault(f"wal:{member}", wal.version if wal is not None else 0)
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
            LOG.exception("a subscriber of the engine raised; the command goes on")

    # -- opening ------------------------------------------------------------------------

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
