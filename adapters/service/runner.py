"""`SyncService`: an engine run in the background on a thread, sleeping exactly until its next
action is due (`schedule.plan`), never on a fixed poll.

One pass (`Passes.run_due`) refreshes the view (other processes may have written), records a
gate expiry or resume that is due, sends the uploads that are due (one batch sync limited to
them), polls the jobs that are due, and hands the engine to the after-pass hooks (a fleet
push, for instance). `nudge()` wakes it early (a new recording, the network back); `stop()`
ends it within a timeout: no new request starts, and one still out when the timeout passes is
recorded as abandoned (its outcome unknown, C5).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Final, Protocol

from walsync.adapters.engine import Engine
from walsync.adapters.service.retention import DEFAULT_HORIZON, BackgroundRetention, retention_for
from walsync.adapters.service.schedule import Plan, plan
from walsync.core.errors import WalsyncError

__all__ = ["ABORT_GRACE_SECONDS", "ERROR_PAUSE_SECONDS", "AfterPass", "EventWaiter", "Passes",
           "SyncService", "Waiter"]

_LOG: Final = logging.getLogger("walsync.service")
# After a pass that failed (a full disk, a log that cannot be written): wait this long.
ERROR_PAUSE_SECONDS: Final = 30.0
# Of a stop's timeout, the last part left for a request cut short to record its end.
ABORT_GRACE_SECONDS: Final = 1.0
AfterPass = Callable[[Engine], None]


class Passes:
    """What the service does, pass by pass, and the polls it made (the only thing it keeps
    besides the log: the schedule of a job's next poll counts from them). Retention runs
    after the other hooks unless `retention` is None (or the log is in memory): the log
    compacts itself at that horizon, one bounded step at a time (`BackgroundRetention`)."""

    def __init__(self, engine: Engine, *, after_pass: Iterable[AfterPass] = (),
                 retention: timedelta | None = DEFAULT_HORIZON) -> None:
        self.engine = engine
        self.retention: BackgroundRetention | None = retention_for(engine, retention)
        self.after_pass: list[AfterPass] = [*after_pass]
        if self.retention is not None:
            self.after_pass.append(self.retention)
        self.polled: dict[str, datetime] = {}
        self.passes = 0
        self.nudged = False

    def plan(self) -> Plan:
        """Every action's due moment as of now, from the engine's view."""
        engine = self.engine
        return plan(now=engine.clock.now(), gate=engine.gate().gate,
                    pause_left=engine.pause_left(), candidates=engine.upload_candidates(),
                    wals=engine.recordings(), polled=self.polled, policy=engine.policy)

    def run_due(self) -> float | None:
        """Run what is due now; the seconds until the next action (None: nothing scheduled,
        sleep until nudged). A failed pass is logged and tried again after a pause."""
        self.passes += 1
        try:
            self._run_due()
        except WalsyncError:
            _LOG.exception("a service pass failed; trying again in %.0f s", ERROR_PAUSE_SECONDS)
            return ERROR_PAUSE_SECONDS
        return self.plan().seconds_to_next()

    def _run_due(self) -> None:
        engine = self.engine
        engine.refresh()
        if self.nudged:  # the app's cue (a sign-in, the network back, a new recording)
            self.nudged = False
            engine.resume_uploads()  # a cancel's hold ends
            engine.renew_credentials()  # a pause for refused credentials asks the provider
        if self.plan().tick_due():
            engine.tick(upload=False)
        current = self.plan()
        uploads = current.uploads_due()
        if uploads:
            engine.sync_all(only=uploads)
        polls = current.polls_due()
        if polls:
            engine.reconcile(jobs=polls)
            for job_id in polls:
                self.polled[job_id] = current.now
        live = {w.job_id for w in engine.recordings() if w.job_id}
        for job_id in [j for j in self.polled if j not in live]:
            del self.polled[job_id]  # the job ended: forget it
        for hook in self.after_pass:
            try:
                hook(engine)
            except Exception:  # a hook's failure is logged; the service goes on
                _LOG.exception("an after-pass hook raised; the service goes on")


class Waiter(Protocol):
    """How the service sleeps: until a number of seconds passed, or until woken."""

    def wait(self, seconds: float | None) -> None:
        """Return after `seconds` (None: only when woken), or as soon as woken."""
        ...

    def wake(self) -> None:
        """End the current (or the next) wait now."""
        ...


class EventWaiter:
    """Real sleeping, on the monotonic clock: a threading.Event waited on with a timeout."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def wait(self, seconds: float | None) -> None:
        """Sleep until the timeout or a wake."""
        self._event.wait(seconds)
        self._event.clear()

    def wake(self) -> None:
        """Wake the sleeper."""
        self._event.set()


class SyncService:
    """An engine driven through its due actions on a background thread (or the caller's,
    with `run`). Safe to nudge and stop from any thread."""

    def __init__(self, engine: Engine, *, waiter: Waiter | None = None,
                 after_pass: Iterable[AfterPass] = (),
                 retention: timedelta | None = DEFAULT_HORIZON) -> None:
        self.engine = engine
        self.passes = Passes(engine, after_pass=after_pass, retention=retention)
        self._waiter = waiter or EventWaiter()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> SyncService:
        """Run in a background thread; returns the service."""
        if self._thread is not None:
            raise RuntimeError("the service is already started")
        self._stopping.clear()
        self.engine.send_until(None)
        self._thread = threading.Thread(target=self.run, name="walsync-service", daemon=True)
        self._thread.start()
        return self

    def run(self) -> None:
        """The loop, in the calling thread, until `stop()`."""
        while not self._stopping.is_set():
            seconds = self.passes.run_due()
            if self._stopping.is_set():
                break
            self._waiter.wait(seconds)

    def nudge(self) -> None:
        """Look at the schedule now (a new recording, the network back, a sign-in: a pause
        for refused credentials asks the token provider again; a cancel's hold ends)."""
        self.passes.nudged = True
        self._waiter.wake()

    def cancel(self) -> bool:
        """The card's Cancel (`engine.cancel()`): the running batch sync sends no further
        batch, and the service sends nothing on its own until nudged. Any thread."""
        return self.engine.cancel()

    def stop(self, timeout: float = 5.0) -> bool:
        """Stop within `timeout` seconds: no request starts from now on; one still out when the
        time is up is recorded as abandoned. True when the loop ended in time."""
        self._stopping.set()
        self.engine.send_until(0)
        self._waiter.wake()
        thread, self._thread = self._thread, None
        if thread is None or thread is threading.current_thread():
            return True
        thread.join(max(0.0, timeout - ABORT_GRACE_SECONDS))
        if not thread.is_alive():
            return True
        # A request is still out: cut it short, so its own command records it as abandoned;
        # if even that does not come back in time, record it from here.
        self.engine.abort_requests()
        thread.join(min(timeout, ABORT_GRACE_SECONDS))
        if not thread.is_alive():
            return True
        abandoned = self.engine.abandon()
        _LOG.warning("stopped with a request still out; recorded as abandoned: %s",
                     ", ".join(abandoned) or "a status poll")
        return False

    def __enter__(self) -> SyncService:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()
