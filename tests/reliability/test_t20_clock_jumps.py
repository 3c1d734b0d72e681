"""T20: wall-clock jumps (±48 h, a ±1 h strobe) and restarts across a cooldown.

Contract: the cooldown left is always in [0, min(set duration, 24 h)]; it never lasts past its
duration (and never past 24 h) of real elapsed time from when it was set, and never ends early
by more than a jump. The engine reads the remainder off the wall clock once and counts it down
on the clock's monotonic time; a restart re-reads it from the persisted deadline (clamped).
The test walks real (monotonic) time in steps and records the real elapsed time at which the
engine lets uploads through again.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from tier import record

from walsync.adapters.engine import Engine
from walsync.adapters.sim.backend import STALE_GUARD_ERROR
from walsync.adapters.store.sqlite import SqliteStore
from walsync.core.policies import WALSYNC
from walsync.core.responses import JobStatus, UploadJobAccepted, UploadThrottled

from fakes import Harness, ids

HOUR = 3600
DAY = 24 * HOUR
STEP = 60


def _throttled(h: Harness, retry_after: str) -> None:
    h.backend.answer_uploads(UploadThrottled(retry_after_raw=retry_after))
    h.engine.sync_all()


def _busy(h: Harness) -> None:
    h.backend.answer_uploads(UploadJobAccepted(job_id="job-busy"))
    h.engine.sync_all()
    h.backend.answer_job("job-busy", JobStatus(job_id="job-busy", status="failed",
                                               error=STALE_GUARD_ERROR, total_segments=0))
    h.engine.reconcile()


Jumps = Callable[[int], float]  # step number -> wall-clock jump (seconds) before that step

_PATTERNS: dict[str, Jumps] = {
    "none": lambda n: 0.0,
    "back_48h": lambda n: -48.0 * HOUR if n == 2 else 0.0,
    "forward_48h": lambda n: 48.0 * HOUR if n == 2 else 0.0,
    "strobe_1h": lambda n: (HOUR if n % 2 else -HOUR) if n else 0.0,
    "back_1s_just_after": lambda n: -120.0 if n == 1 else 0.0,
}


def _walk(h: Harness, jumps: Jumps, limit: float, restart_at: int | None = None,
          reopen: Callable[[], None] | None = None) -> tuple[float | None, float]:
    """Step real time until the gate opens; (real seconds it stayed closed, total jumped)."""
    jumped = 0.0
    for n in range(1, int(limit // STEP) + 3):
        jump = jumps(n)
        h.clock.jump(jump)
        jumped += abs(jump)
        h.clock.advance(STEP)
        if restart_at == n and reopen is not None:
            reopen()
        h.engine.tick()
        gate = h.engine.gate().gate
        if not gate.limited:
            return float(n * STEP), jumped
        report = h.engine.sync_all()
        assert report.skipped == len(report.wal_ids), "the batch was let through a closed gate"
    return None, jumped


@pytest.mark.parametrize("pattern", sorted(_PATTERNS))
@pytest.mark.parametrize(("kind", "seconds"), [("429", HOUR), ("busy", 600), ("429_huge", DAY)])
def test_t20_cooldown_lasts_its_duration_of_real_time_whatever_the_wall_clock_does(
        pattern: str, kind: str, seconds: int) -> None:
    h = Harness(WALSYNC)
    h.add(3)
    {"429": lambda: _throttled(h, "3600"), "busy": lambda: _busy(h),
     "429_huge": lambda: _throttled(h, str(10**30))}[kind]()
    assert h.engine.gate().gate.limited
    uploads_before = len(h.backend.uploads)
    closed, jumped = _walk(h, _PATTERNS[pattern], seconds)
    assert closed is not None, "the cooldown never ended"
    assert closed <= min(seconds, DAY) + STEP, "lasted past its duration of real time"
    assert closed >= seconds - jumped, "ended early by more than the jump"
    assert closed >= seconds, "the monotonic countdown does not end early at all"
    assert len(h.backend.uploads) == uploads_before, "no request while the gate was closed"
    record("t20", "clock jumps across a cooldown", 1, lost=0)


@pytest.mark.parametrize("jump_before_restart", [0.0, -48.0 * HOUR, 48.0 * HOUR])
def test_t20_restart_inside_a_cooldown_keeps_it_within_its_duration(tmp_path: Path,
                                                                    jump_before_restart: float) -> None:
    log = tmp_path / "log.db"
    h = Harness(WALSYNC, store=SqliteStore(log))
    h.add(2)
    _throttled(h, "3600")
    h.clock.advance(20 * 60)  # 20 of the 60 minutes pass, then the wall clock jumps

    def reopen() -> None:
        h.store.close()
        h.store = SqliteStore(log)
        h.engine = Engine(h.store, h.backend, clock=h.clock, files=h.files, policy=WALSYNC,
                          new_id=ids(7))

    h.clock.jump(jump_before_restart)
    reopen()
    assert h.engine.gate().gate.limited or jump_before_restart > 0
    closed, _ = _walk(h, _PATTERNS["none"], HOUR)
    assert closed is not None
    if jump_before_restart == 0:
        assert 40 * 60 <= closed <= 40 * 60 + STEP, "a restart keeps the remainder exactly"
    assert closed <= HOUR + STEP, "never more than the set duration after the restart"
    h.store.close()


@pytest.mark.parametrize("jumps", ["back_48h", "forward_48h", "strobe_1h"])
def test_t20_the_sync_loop_keeps_its_time_budget_on_monotonic_time(tmp_path: Path, jumps: str) -> None:
    """`walsync sync` with a job that never finishes runs out its 10-minute budget after 10
    minutes of real time, whatever the wall clock does meanwhile (no early end, no endless run)."""
    import struct

    from walsync.adapters.ports import ManualClock
    from walsync.adapters.service.folder_sync import sync_directory

    from fakes import T0, ScriptedBackend

    clock = ManualClock(T0)
    folder = tmp_path / "rec"
    folder.mkdir()
    (folder / "audio_omi_opus_16000_1_fs160_1779264000.bin").write_bytes(
        b"".join(struct.pack("<I", 2) + b"ok" for _ in range(30)))
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        assert len(sleeps) < 200, "the run went far past its time budget"
        sleeps.append(seconds)
        clock.jump(_PATTERNS[jumps](len(sleeps)))
        clock.advance(seconds)

    summary = sync_directory(tmp_path / "s.db", backend_url="http://unused.invalid/", token="t",
                             recordings_dir=folder, poll_seconds=20.0, max_seconds=600.0,
                             say=lambda _: None, sleep=sleep, clock=clock, backend=ScriptedBackend())
    assert summary.finished_reason == "time_budget"
    assert 600 <= sum(sleeps) <= 620, f"ran {sum(sleeps)} s of real time on a 600 s budget"
