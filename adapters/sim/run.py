"""The discrete-event simulation: the engine and the backend model on one virtual clock.

Same scenario, policy and seed give a byte-identical log: every id, jitter and arrival is
drawn from random sources seeded from the one seed, and nothing reads the wall clock but
the `wall_seconds` figure of the result.
"""

from __future__ import annotations

import heapq
import random
import struct
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

from attrs import define, field

from walsync.adapters.bootstrap import open_engine
from walsync.adapters.ports import ManualClock
from walsync.adapters.recordings.files import MemoryFiles
from walsync.adapters.sim.backend import SimBackend
from walsync.adapters.sim.fair_use import FairUse
from walsync.adapters.sim.inprocess import FlakyTransport, InProcessBackend, NetworkFaults
from walsync.adapters.sim.metrics import SimResult, collect_result
from walsync.adapters.sim.scenarios import Scenario
from walsync.adapters.sim.server import SimTransport
from walsync.core.policy import Policy
from walsync.core.states import MISS

__all__ = ["SIM_START", "SimulationRun", "run_simulation"]

SIM_START: Final = datetime(2026, 5, 20, 0, 0, tzinfo=UTC)
_DAY: Final = 86_400.0
_APP_OPEN_DELAY: Final = 3.0
Progress = Callable[[float], None]


def frame_stream(frames: int, marker: bytes = b"ok") -> bytes:
    """A recording body in the upload format: (4-byte LE length, frame) records."""
    return b"".join(struct.pack("<I", len(marker)) + marker for _ in range(frames))


@define
class _Timeline:
    """The pending app and system happenings, in virtual seconds."""

    heap: list[tuple[float, int, str, Any]] = field(factory=list)
    order: int = 0

    def at(self, when: float, kind: str, payload: Any = None) -> None:
        self.order += 1
        heapq.heappush(self.heap, (when, self.order, kind, payload))

    def pop(self) -> tuple[float, str, Any]:
        when, _, kind, payload = heapq.heappop(self.heap)
        return when, kind, payload


class SimulationRun:
    """One simulation run's wiring and its app behaviour."""

    def __init__(self, phases: Sequence[Scenario], policy: Policy, seed: int,
                 db_path: Path, *, over_http: bool = False) -> None:
        self.phases, self.scenario, self.policy = list(phases), phases[0], policy
        self.horizon = sum(p.hours for p in phases) * 3600.0
        streams = random.Random(seed)
        self.app_rng = random.Random(streams.getrandbits(64))
        net_rng = random.Random(streams.getrandbits(64))
        id_rng = random.Random(streams.getrandbits(64))
        engine_seed = streams.getrandbits(64)
        self.bg_rng = random.Random(streams.getrandbits(64))
        self.clock = ManualClock(SIM_START)
        self.model = SimBackend(self.scenario.backend, epoch=SIM_START.timestamp())
        self.faults = NetworkFaults(net_rng)
        self.files = MemoryFiles()
        # The model answers the engine directly, as the HTTP client would map its replies
        # (adapters/sim/inprocess.py); with `over_http`, the real HTTP client goes to it over
        # an in-process transport. Either way the engine sends the log head, which the
        # simulated backend records.
        direct = None if over_http else InProcessBackend(self.model, self.now, self.faults)
        self.engine = open_engine(db_path, backend=direct,
                                  base_url="https://sim.walsync.invalid/", token="sim-token",
                                  transport=FlakyTransport(SimTransport(self.model, self.now),
                                                           self.faults),
                                  files=self.files,
                                  clock=self.clock, policy=policy, synchronous="OFF",
                                  seed=engine_seed, concurrent_polls=False,
                                  new_id=lambda: f"{id_rng.getrandbits(128):032x}")
        self.timeline = _Timeline()
        self.foreground_until = -1.0
        self.captures = 0
        self.scheduled_ticks: set[float] = set()
        self.stamps: set[int] = set()  # the recordings' timer starts (their ids)
        self.registered: dict[str, int] = {}  # wal id -> registration order (the rows' order)

    def now(self) -> float:
        return (self.clock.now() - SIM_START).total_seconds()

    def _record(self, conversation_id: str | None, recorded_at: float) -> str:
        """A WAL the chunker made at `recorded_at`, with a body that decodes (or not)."""
        stamp = int(SIM_START.timestamp() + recorded_at)
        while stamp in self.stamps:  # a chunk in a second another took: the next free one
            stamp += 1
        self.stamps.add(stamp)
        roll = self.app_rng.random()
        if roll < self.scenario.decode_broken_fraction:
            body = b"\x00\x01not-a-frame-stream"
        elif roll < self.scenario.decode_broken_fraction + self.scenario.segment_broken_fraction:
            body = frame_stream(60, b"SEGFAIL")
        else:
            body = frame_stream(60)
        wal_id = self.engine.register(device="omi", timer_start=stamp,
                                      file_path=f"omi_{stamp}.bin",
                                      conversation_id=conversation_id)
        self.files.contents[wal_id] = body
        self.registered[wal_id] = len(self.registered)
        return wal_id

    def setup(self) -> None:
        start = 0.0
        for phase in self.phases:
            self.timeline.at(start, "phase", (phase, start))
            start += phase.hours * 3600.0

    def _on_phase(self, now: float, payload: Any) -> None:
        """A scenario begins: its backend conditions, its backlog, the app's habits."""
        phase, start = payload
        end = start + phase.hours * 3600.0
        if phase is not self.phases[0]:
            self.model.fair_use = FairUse(phase.backend.fair_use)
        self.scenario = phase
        self.faults.connect_failure = phase.network_failure_rate
        self.faults.lost_answer = phase.lost_answer_rate
        if phase.background is not None:
            self.model.add_background_work(
                [(start + a, d) for a, d in phase.background(self.bg_rng, end - start)])
        backlog_span = max(phase.wals * 60.0 * 2, _DAY)
        for i in range(phase.wals):
            self._record(None, start - backlog_span + i * backlog_span / phase.wals)
        self.timeline.at(now, "app_open")
        self._poisson("app_open", phase.app_sessions_per_day, start, end)
        self._poisson("capture", phase.captures_per_day, start, end)

    def _poisson(self, kind: str, per_day: float, start: float, end: float) -> None:
        if per_day <= 0:
            return
        t = start
        while True:
            t += self.app_rng.expovariate(per_day / _DAY)
            if t >= end:
                return
            self.timeline.at(t, kind)

    def run(self, progress: Progress | None) -> None:
        self.setup()
        last_report = -1
        while self.timeline.heap:
            when, kind, payload = self.timeline.pop()
            if when > self.horizon:
                break
            self.clock.set(SIM_START + timedelta(seconds=when))
            getattr(self, f"_on_{kind}")(when, payload)
            self._wake_for_gate(when)
            if progress is not None and int(when // 3600) != last_report:
                last_report = int(when // 3600)
                progress(when / self.horizon)
        self.clock.set(SIM_START + timedelta(seconds=self.horizon))
        self.engine.tick()

    # -- the app's triggers (spec section 7) ------------------------------------------

    def _on_app_open(self, now: float, _: Any) -> None:
        self.foreground_until = max(self.foreground_until,
                                    now + self.scenario.session_minutes * 60)
        self.timeline.at(now, "reconcile")
        self.timeline.at(now + _APP_OPEN_DELAY, "sync_all")
        if self.policy.refire_seconds:
            self.timeline.at(now + self.policy.refire_seconds, "refire")
        taps = self.scenario.retry_taps_per_session
        if taps and self.app_rng.random() < taps:
            self.timeline.at(now + self.app_rng.uniform(10, 60), "retry_tap")

    def _on_sync_all(self, now: float, _: Any) -> None:
        self.engine.sync_all()
        self.timeline.at(now, "reconcile")

    def _on_refire(self, now: float, _: Any) -> None:
        """A policy with `refire_seconds` (legacy: every minute) re-runs batch sync on a timer
        while the app is in the foreground."""
        if now <= self.foreground_until:
            self._on_sync_all(now, None)
            self.timeline.at(now + self.policy.refire_seconds, "refire")

    def _on_retry_tap(self, now: float, _: Any) -> None:
        """The user taps Retry on a row that shows the pill (retrying or failed)."""
        shown = self._retry_pills()
        if shown:
            self.engine.sync_wal(self.app_rng.choice(shown))
            self.timeline.at(now, "reconcile")
        if now + 120 <= self.foreground_until:  # an impatient user looks again soon
            self.timeline.at(now + 120, "retry_tap_again")

    def _retry_pills(self) -> list[str]:
        """The recordings whose row shows the Retry pill, in the Sync page's order. Only a
        live recording missed with a retry counted shows it, so the rows of the live ones
        are looked up, not every row ever made (read from the log, that grew with the run)."""
        missed = sorted((w.wal_id for w in self.engine.recordings()
                         if w.status == MISS and w.retry_count > 0),
                        key=self.registered.__getitem__)
        return [wal_id for wal_id in missed if self.engine.row(wal_id).action == "retry"]

    def _on_retry_tap_again(self, now: float, payload: Any) -> None:
        if self.app_rng.random() < self.scenario.retry_taps_per_session / 4:
            self._on_retry_tap(now, payload)

    def _on_capture(self, now: float, _: Any) -> None:
        """A live conversation ended: the chunks not delivered live become WALs, each
        auto-synced with the conversation id (the per-WAL loop re-checks the gate)."""
        self.captures += 1
        conversation = f"conv-live-{self.captures}"
        chunks = self.scenario.wals_per_capture
        wal_ids = [self._record(conversation, now - 60.0 * (chunks - i)) for i in range(chunks)]
        for wal_id in wal_ids:
            report = self.engine.auto_sync(wal_id)
            if report.poke_reconciler:
                self.timeline.at(now, "reconcile")

    def _on_reconcile(self, now: float, _: Any) -> None:
        report = self.engine.reconcile()
        if report.next_poll_seconds is not None and now <= self.foreground_until:
            self.timeline.at(now + report.next_poll_seconds, "reconcile_timer")

    def _on_reconcile_timer(self, now: float, payload: Any) -> None:
        if now <= self.foreground_until:
            self._on_reconcile(now, payload)

    def _on_tick(self, now: float, _: Any) -> None:
        """walsync's expiry timer; like any app timer it only fires in the foreground."""
        if now <= self.foreground_until:
            report = self.engine.tick()
            if report is not None and report.poke_reconciler:
                self.timeline.at(now, "reconcile")

    def _wake_for_gate(self, now: float) -> None:
        """walsync's expiry timer: wake at the deadline and at the jittered resume point."""
        if not self.policy.resume_on_expiry:
            return
        gate = self.engine.gate().gate
        for moment in (gate.until if gate.limited else None, gate.resume_at):
            if moment is not None:
                when = (moment - SIM_START).total_seconds()
                if when >= now and when not in self.scheduled_ticks:
                    self.scheduled_ticks.add(when)
                    self.timeline.at(when + 0.001, "tick")


def run_simulation(scenario: Scenario | Sequence[Scenario], policy: Policy, seed: int,
                   db_path: str | Path, *, progress: Progress | None = None,
                   over_http: bool = False) -> SimResult:
    """Run a scenario (or several, one after the other on the same engine and backend)
    under one policy into a fresh log at `db_path`, and measure it (`over_http`: through the
    real HTTP client, which gives the same log, slower)."""
    phases = [scenario] if isinstance(scenario, Scenario) else list(scenario)
    path = Path(db_path)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    started = time.perf_counter()
    run = SimulationRun(phases, policy, seed, path, over_http=over_http)
    try:
        run.run(progress)
        return collect_result(run.engine, run.model, scenario="+".join(p.name for p in phases),
                              policy=policy, seed=seed,
                              horizon=run.horizon, start=SIM_START,
                              wall_seconds=time.perf_counter() - started)
    finally:
        run.engine.close()
