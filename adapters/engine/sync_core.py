"""The sync core an app embeds: reading the projections back, registering and deleting
recordings, the gate's commands, hearing commits, closing. The upload and reconcile commands
come from the classes it is built of."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Literal

from walsync.adapters.engine.base import LOG, Listener, redecides
from walsync.adapters.engine.reconcile import ReconcileCommands
from walsync.adapters.engine.uploads import UploadCommands
from walsync.adapters.ports import FollowableStore
from walsync.core import decide_upload as upload_rules
from walsync.core.errors import DuplicateWal, UnknownWal, WalsyncError
from walsync.core.events import CooldownCleared, FileSkipped, WalDeleted, WalRegistered
from walsync.core.gate import resume_due
from walsync.core.ids import check_count, check_id
from walsync.core.reports import RunReport
from walsync.core.states import FINISHED_STATES
from walsync.core.wal import Wal
from walsync.projections.card import Card
from walsync.projections.view import GateRow
from walsync.projections.wal_rows import WalRow

__all__ = ["Engine"]


class Engine(UploadCommands, ReconcileCommands):
    """The sync core an app embeds: commands in, events appended, projections read back."""

    # -- reading ------------------------------------------------------------------------

    def rows(self) -> list[WalRow]:
        """Every status row in registration order (the finished ones' read from the store)."""
        with self._lock:
            return self.store.projection.all_rows()

    def row(self, wal_id: str) -> WalRow:
        """One status row; UnknownWal if there is none."""
        with self._lock:
            row = self.store.projection.row(wal_id)
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
        """The live recordings' states as the decisions read them: those that can still move
        (not synced, corrupted or deleted); a finished one is `recording(wal_id)`."""
        with self._lock:
            return [w for w in self.store.projection.wals.values()
                    if w.status not in FINISHED_STATES]

    def recording(self, wal_id: str) -> Wal:
        """One recording's state, finished or not; UnknownWal if there is none (or deleted)."""
        with self._lock:
            return self._wal(wal_id)

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
                LOG.exception("the change feed failed; following stopped")
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

    @redecides
    def register(self, *, device: str = "phone", timer_start: int, codec: str = "opus",
                 sample_rate: int = 16000, channel: int = 1, frame_size: int = 160,
                 seconds: int = 60,
                 file_path: str | None = None, storage: str = "disk",
                 conversation_id: str | None = None, delivered: bool = False) -> str:
        """Record a new WAL (id `<device>_<timerStart>`) and return its id."""
        event = self.registration(
            device=device, timer_start=timer_start, codec=codec, sample_rate=sample_rate,
            channel=channel, frame_size=frame_size, seconds=seconds, file_path=file_path,
            storage=storage, conversation_id=conversation_id, delivered=delivered)
        if self.store.projection.registered(event.wal_id):
            raise DuplicateWal(f"WAL {event.wal_id!r} is already registered (or was deleted)")
        self._record([event])
        return event.wal_id

    def registration(self, *, device: str = "phone", timer_start: int, codec: str = "opus",
                     sample_rate: int = 16000, channel: int = 1, frame_size: int = 160,
                     seconds: int = 60, file_path: str | None = None, storage: str = "disk",
                     conversation_id: str | None = None,
                     delivered: bool = False) -> WalRegistered:
        """The event that registers a new WAL, its ids and numbers checked (a WalsyncError
        names what is refused), not recorded: `register_all` records many in one commit."""
        for kind, number in (("timer_start", timer_start), ("sample_rate", sample_rate),
                             ("channel", channel), ("frame_size", frame_size),
                             ("seconds", seconds)):
            check_count(kind, number)
        wal_id = check_id("recording id", f"{check_id('device', device)}_{timer_start}")
        if conversation_id is not None:
            check_id("conversation id", conversation_id)
        return WalRegistered(
            at=self.clock.now(), wal_id=wal_id, device=device, timer_start=timer_start,
            codec=codec, sample_rate=sample_rate, channel=channel, frame_size=frame_size,
            seconds=seconds, file_path=file_path, storage=storage,
            conversation_id=conversation_id, delivered=delivered)

    @redecides
    def register_all(self, registrations: Sequence[WalRegistered]) -> list[str]:
        """Record `registrations` (from `registration`) in one commit, a folder's new files
        costing one fsync instead of one each; those registered already (by another process a
        moment ago, or twice in the list) are left out. The ids recorded, in order."""
        seen: set[str] = set()
        fresh = []
        for event in registrations:
            if event.wal_id not in seen and not self.store.projection.registered(event.wal_id):
                seen.add(event.wal_id)
                fresh.append(event)
        self._record(fresh)
        return [event.wal_id for event in fresh]

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

    @redecides
    def delete(self, wal_id: str) -> None:
        """The user swiped the recording away."""
        wal = self._wal(wal_id)
        upload_rules.guard(wal, "delete")
        self._record([WalDeleted(at=self.clock.now(), wal_id=wal_id)])

    @redecides
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
