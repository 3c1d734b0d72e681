"""T25: backend busy, the 10-minute cooldown, and no retry storm, with 100 recordings waiting.

Contract: during the cooldown not one upload request goes out (counted at the transport), on
any entry point; after it, uploads come back at a jittered point (a fleet of apps does not
return in the same second) and go out one batch at a time; every state change during the
cooldown (new recordings, skipped attempts) is persisted: a reopened log shows the same state.
"""

from __future__ import annotations

import json
import random
from datetime import timedelta
from pathlib import Path

import httpx
from tier import record, scale

from walsync.adapters.engine import Engine
from walsync.adapters.http.client import HttpBackend
from walsync.adapters.sim.backend import STALE_GUARD_ERROR
from walsync.adapters.store.sqlite import SqliteStore
from walsync.core.policies import WALSYNC

from fakes import Harness, ids


class Counting:
    """Upload answers 202 with a fresh job; job-1 fails by the stale guard, others stay queued."""

    def __init__(self) -> None:
        self.posts: list[float] = []
        self.gets = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self.clock_seconds = lambda: 0.0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if request.method == "POST":
                self.posts.append(self.clock_seconds())
                return httpx.Response(202, json={"job_id": f"job-{len(self.posts)}", "status": "queued"})
            self.gets += 1
            job = request.url.path.rsplit("/", 1)[1]
            status = {"job_id": job, "status": "queued", "total_segments": 0}
            if job == "job-1":
                status.update(status="failed", error=STALE_GUARD_ERROR)
            return httpx.Response(200, content=json.dumps(status).encode(),
                                  headers={"content-type": "application/json"})
        finally:
            self.in_flight -= 1


def _busy_with_backlog(log: Path, waiting: int, seed: int = 3) -> tuple[Harness, Counting]:
    h = Harness(WALSYNC, store=SqliteStore(log))
    counting = Counting()
    counting.clock_seconds = lambda: (h.clock.now() - h.clock.now().replace(hour=0)).total_seconds()
    h.engine = Engine(h.store, HttpBackend("https://api.example.test/", "T",
                                           transport=httpx.MockTransport(counting)),
                      clock=h.clock, files=h.files, policy=WALSYNC, new_id=ids(1000 + seed),
                      rng=random.Random(seed))
    [first] = h.add(1, conversation_id="c")
    h.engine.auto_sync(first)
    h.engine.reconcile()  # job-1 failed by the stale guard: backend busy, 10-minute cooldown
    gate = h.engine.gate().gate
    assert gate.reason == "backendBusy" and gate.until is not None
    h.add(waiting, conversation_id="c")
    return h, counting


def test_t25_no_request_during_the_busy_cooldown_then_a_jittered_ramp(tmp_path: Path) -> None:
    waiting = scale(100, 300)
    h, counting = _busy_with_backlog(tmp_path / "log.db", waiting)
    posts_before = len(counting.posts)
    gate_until = h.engine.gate().gate.until
    assert gate_until is not None
    while h.clock.now() + timedelta(seconds=60) < gate_until:
        h.clock.advance(60)
        assert h.engine.tick() is None
        h.engine.sync_all()
        h.engine.recover_orphans()
        wal = h.engine.rows()[-1].wal_id
        h.engine.sync_wal(wal)
        h.engine.reconcile()  # status polls are not gated
    assert len(counting.posts) == posts_before, "an upload went out during the cooldown"
    assert counting.gets > 0
    held = [r for r in h.store.read() if r.type == "UploadsHeld"]
    assert held, "the refused attempts are in the log"

    resumed = None
    for _ in range(40):
        h.clock.advance(10)
        report = h.engine.tick()
        if report is not None:
            resumed = report
            break
    assert resumed is not None, "uploads never resumed after the cooldown"
    # The first recording, failed by the stale guard, is back in the queue beside the waiting ones.
    assert len(counting.posts) - posts_before == -(-(waiting + 1) // WALSYNC.batch_size)
    assert counting.max_in_flight == 1, "batches go out one at a time"
    expired = [r.event for r in h.store.read() if r.type == "CooldownExpired"]
    assert expired and expired[-1].resume_at is not None  # type: ignore[attr-defined]

    projection = h.store.projection
    h.store.close()
    reopened = SqliteStore(tmp_path / "log.db")
    assert reopened.projection.rows == projection.rows and reopened.projection.gate == projection.gate
    reopened.close()
    record("t25", "requests during a busy cooldown with a backlog", waiting, lost=0)


def test_t25_a_fleet_does_not_come_back_in_the_same_second(tmp_path: Path) -> None:
    resume_points = set()
    for seed in range(scale(8, 30)):
        h, _ = _busy_with_backlog(tmp_path / f"log{seed}.db", 3, seed=seed)
        assert h.engine.gate().gate.until is not None
        h.clock.advance(601)
        h.engine.tick()
        [expired] = [r.event for r in h.store.read() if r.type == "CooldownExpired"]
        offset = (expired.resume_at - expired.at).total_seconds()  # type: ignore[attr-defined]
        assert 0 <= offset <= WALSYNC.resume_jitter_max_seconds
        resume_points.add(round(offset))
        h.store.close()
    assert len(resume_points) > scale(8, 30) // 2, "resume points are spread, not all the same"
