"""T61: the real SyncService, driven in virtual time. Its clock moves only when the service
sleeps, in steps of `step` seconds (a sleep of x seconds ends at the first step past x), and the
backend's answers are drawn by Hypothesis. Whatever the answers (202s, 429s with or without
Retry-After, 500s, lost answers; jobs queued, processing, done or unreachable) and whenever
recordings arrive:

* no action runs before it is due: an upload never goes while the gate blocks or a resume is
  pending, nor before its recording's backoff (30 s after an error, doubling per error in a
  row; under walsync 60 s after an unknown outcome, doubling per unknown outcome in a row);
  a job is polled only at its backoff points (20, 40, 70, 115, 175, 295 s after its 202, then
  every 120 s);
* none is late by more than the clock's step: whenever the service goes to sleep, nothing is
  due, and it sleeps exactly until the first thing that will be;
* a closed gate wakes nothing: a wake-up during a pause is for a job's poll, and no upload is
  ever skipped (no `UploadSkipped` in the log).

The due moments here are read from the log's projections (registration, setbacks, the gate's
deadline and resume point, each job's acceptance) and the requests the backend saw.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tier import scale

from walsync.adapters.engine import Engine
from walsync.adapters.ports import ManualClock
from walsync.adapters.recordings.files import MemoryFiles
from walsync.adapters.service.runner import SyncService
from walsync.adapters.store.memory import MemoryStore
from walsync.core.policies import WALSYNC
from walsync.core.responses import (
    JobStatus,
    JobStatusResult,
    JobUnreachable,
    UploadAnswer,
    UploadError,
    UploadJobAccepted,
    UploadLost,
    UploadThrottled,
)

from fakes import T0, ids

HORIZON = 3 * 3600.0
POLL_POINTS = (20, 40, 70, 115, 175, 295)  # then every 120 s (docs/api.md, the schedule)
EPSILON = timedelta(milliseconds=1)
MAX_WAITS = 5000

UPLOAD_ANSWERS = st.sampled_from([
    "accepted", "accepted", "accepted", "throttled", "throttled-60", "error", "lost"])
POLL_ANSWERS = st.sampled_from(["queued", "processing", "completed", "completed", "unreachable"])


def _allowed_from(wal: Any) -> datetime | None:
    """The end of the recording's backoff, if it has one (the rules docs/api.md states)."""
    ends = []
    if wal.failed_streak and wal.last_failed_at is not None:
        ends.append(wal.last_failed_at + timedelta(
            seconds=min(30 * 2 ** (wal.failed_streak - 1), 3600)))
    if wal.unknown_streak and wal.last_unknown_at is not None:
        ends.append(wal.last_unknown_at + timedelta(
            seconds=min(60 * 2 ** (wal.unknown_streak - 1), 3600)))
    return max(ends) if ends else None


def _poll_point(accepted: datetime, after: datetime) -> datetime:
    moment, k = accepted, 0
    while True:
        moment += timedelta(seconds=POLL_POINTS[k] - (POLL_POINTS[k - 1] if k else 0)
                            if k < len(POLL_POINTS) else 120)
        if moment > after:
            return moment
        k += 1


class World:
    """The engine, its service, a backend whose answers Hypothesis draws, and the waiter that
    moves the virtual clock; it checks every request and every sleep as they happen."""

    def __init__(self, data: Any, step: float, arrivals: Sequence[tuple[float, int]]) -> None:
        self.data, self.step = data, step
        self.clock = ManualClock(T0)
        self.files = MemoryFiles()
        # The backend's answers are Hypothesis draws, which only the test's thread may make:
        # a slice of polls is asked in order, not on worker threads (as in the simulator).
        self.engine = Engine(MemoryStore(), self, clock=self.clock, files=self.files,
                             policy=WALSYNC, new_id=ids(), rng=random.Random(5),
                             concurrent_polls=False)
        self.service = SyncService(self.engine, waiter=self)
        self.arrivals = sorted(arrivals)
        self.polls: dict[str, datetime] = {}  # job -> when the backend last saw it polled
        self.poll_times: set[datetime] = set()
        self.waits = 0
        self.uploads = 0
        self.jobs = 0
        self.registered = 0
        self.pause_wakes: list[datetime] = []
        self.problems: list[str] = []

    # -- the backend ---------------------------------------------------------------------

    def upload(self, files: Sequence[Any], *, conversation_id: str | None = None,
               idempotency_key: str | None = None) -> UploadAnswer:
        now = self.clock.now()
        gate = self.engine.gate().gate
        if gate.blocks(now) or gate.resume_at is not None:
            self.problems.append(f"upload at {now} while the gate is {gate}")
        for wal in self.engine.recordings():
            allowed = _allowed_from(wal)
            if wal.status == "uploading" and wal.attempt_id == idempotency_key and (
                    allowed is not None and now + EPSILON < allowed):
                self.problems.append(f"{wal.wal_id} went at {now}, before {allowed}")
        self.uploads += 1
        answer = self.data.draw(UPLOAD_ANSWERS)
        if answer == "accepted":
            self.jobs += 1
            return UploadJobAccepted(job_id=f"job-{self.jobs}")
        if answer.startswith("throttled"):
            return UploadThrottled(retry_after_raw=answer.partition("-")[2] or None)
        if answer == "error":
            return UploadError(kind="server_error", message="Server is temporarily unavailable",
                               http_status=500)
        return UploadLost(detail="the answer was lost")

    def job_status(self, job_id: str) -> JobStatusResult:
        now = self.clock.now()
        members = [w for w in self.engine.recordings() if w.job_id == job_id]
        accepted = min(w.uploaded_at for w in members if w.uploaded_at is not None)
        due = _poll_point(accepted, self.polls.get(job_id, accepted))
        if now + EPSILON < due:
            self.problems.append(f"{job_id} polled at {now}, due at {due}")
        self.polls[job_id] = now
        self.poll_times.add(now)
        answer = self.data.draw(POLL_ANSWERS)
        if answer == "unreachable":
            return JobUnreachable(http_status=None, detail="connection reset")
        return JobStatus(job_id=job_id, status=answer, total_segments=1,
                         successful_segments=int(answer == "completed"),
                         processed_segments=int(answer == "completed"))

    # -- the waiter: the only place virtual time passes ----------------------------------

    def _next_due(self, now: datetime) -> datetime | None:
        """The first moment anything is due, from the log's projections and the polls seen."""
        engine = self.engine
        gate, left = engine.gate().gate, engine.pause_left()
        opens = (now + timedelta(seconds=left) if left > 0 else now if gate.limited
                 else gate.resume_at or now)
        dues = [opens] if gate.limited or gate.resume_at is not None else []
        for wal in engine.upload_candidates():
            allowed = _allowed_from(wal)
            dues.append(opens if allowed is None else max(opens, allowed))
        for job_id in {w.job_id for w in engine.recordings() if w.job_id}:
            accepted = min(w.uploaded_at for w in engine.recordings()
                           if w.job_id == job_id and w.uploaded_at is not None)
            dues.append(_poll_point(accepted, self.polls.get(job_id, accepted)))
        return min(dues) if dues else None

    def wait(self, seconds: float | None) -> None:
        now = self.clock.now()
        self.waits += 1
        if self.waits > MAX_WAITS or len(self.problems) > 20:  # a spinning service: give up
            self.problems.append(f"the service went to sleep {self.waits} times")
            self.service.stop(0)
            return
        due = self._next_due(now)
        if due is not None and due <= now:
            self.problems.append(f"at {now} the service slept with work due at {due}")
        asked = None if seconds is None else now + timedelta(seconds=seconds)
        if (asked is None) != (due is None) or (
                asked is not None and due is not None and abs(asked - due) > EPSILON):
            self.problems.append(f"at {now} it asked to sleep until {asked}, due {due}")
        wake = None if seconds is None else now + timedelta(
            seconds=math.ceil(seconds / self.step - 1e-9) * self.step)
        arrival = (T0 + timedelta(seconds=self.arrivals[0][0])) if self.arrivals else None
        if arrival is not None and (wake is None or arrival < wake):
            self.clock.set(max(arrival, now))
            self._arrive(self.arrivals.pop(0)[1])  # the app registers and nudges
            return
        if wake is None or wake > T0 + timedelta(seconds=HORIZON):
            self.service.stop(0)
            return
        self.clock.set(wake)
        if self.engine.gate().gate.blocks(wake):
            self.pause_wakes.append(wake)

    def wake(self) -> None:
        """A nudge: the next wait returns at once (every arrival nudges)."""

    def _arrive(self, count: int) -> None:
        for _ in range(count):
            self.registered += 1
            wal_id = self.engine.register(device="omi", timer_start=1_779_000_000 + self.registered)
            self.files.contents[wal_id] = b"\x02\x00\x00\x00ab"


@settings(max_examples=scale(40, 400), deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data(), step=st.sampled_from([1.0, 5.0, 30.0]),
       arrivals=st.lists(st.tuples(st.floats(0, HORIZON / 2), st.integers(1, 4)),
                         min_size=1, max_size=5))
def test_t61_the_service_acts_when_due_never_before_and_wakes_nothing_in_a_pause(
        data: Any, step: float, arrivals: list[tuple[float, int]]) -> None:
    world = World(data, step, arrivals)
    world.service.run()
    assert world.problems == []
    types = [r.type for r in world.engine.store.read()]
    assert "UploadSkipped" not in types
    for wake in world.pause_wakes:  # a wake-up inside a pause was for a job's poll
        assert wake in world.poll_times, f"woke at {wake} in a pause and polled nothing"
    STATS.append((world.uploads, len(world.poll_times), types.count("CooldownStarted"),
                  len(world.pause_wakes)))


STATS: list[tuple[int, int, int, int]] = []
