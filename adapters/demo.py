"""The built-in demo scenario: fair-use throttling, then a saturated backend, in virtual time."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Final

from walsync.adapters.demo_server import DemoServer
from walsync.adapters.engine import Engine
from walsync.adapters.http_backend import HttpBackend
from walsync.adapters.ports import ManualClock, MemoryFiles
from walsync.adapters.sqlite_store import SqliteStore
from walsync.core.policy import Policy

__all__ = ["DEMO_START", "run_demo"]

DEMO_START: Final = datetime(2026, 5, 20, 8, 0, tzinfo=UTC)
_RECORDINGS: Final = 6


def _ids(seed: int) -> Callable[[], str]:
    rng = random.Random(seed)
    return lambda: f"{rng.getrandbits(64):016x}"


def run_demo(db_path: str | Path, policy: Policy, say: Callable[[str], None]) -> Engine:
    """Run the story into `db_path` and return the open engine (the caller closes it).

    08:00 six recordings wait; the account is over its fair-use cap for 40 minutes, so the
    first upload is answered 429 with no Retry-After. From 08:40 the postprocess pool is
    saturated for an hour: accepted jobs sit queued until the stale guard fails them.
    """
    clock = ManualClock(DEMO_START)
    server = DemoServer(clock, fair_use_restricted_until=DEMO_START + timedelta(minutes=40),
                        saturated_until=DEMO_START + timedelta(minutes=100))
    files = MemoryFiles()
    backend = HttpBackend("https://api.demo.invalid", "demo-token", transport=server.transport())
    engine = Engine(SqliteStore(db_path), backend, clock=clock, files=files, policy=policy,
                    new_id=_ids(7451), rng=random.Random(7451))
    for i in range(_RECORDINGS):
        wal_id = engine.register(timer_start=1779264000 + 60 * i, file_path=f"rec{i}.bin")
        files.contents[wal_id] = b"\x04\x00\x00\x00opus" * 10
    say(f"{_RECORDINGS} recordings waiting at {clock.now():%H:%M}; policy {policy.name}")

    def app_open(label: str) -> None:
        report = engine.sync_all()
        say(f"{clock.now():%H:%M} {label}: batch sync -> {report.uploaded} uploaded, "
            f"{report.failed} failed, {report.skipped} skipped"
            + (" (429: fair-use)" if report.rate_limited else ""))

    def run_for(minutes: int, app_open_every: int | None = None) -> None:
        end = clock.now() + timedelta(minutes=minutes)
        next_open = clock.now() + timedelta(minutes=app_open_every or minutes + 1)
        while clock.now() < end:
            clock.advance(20)
            engine.tick()
            if any(r.state == "uploaded" for r in engine.rows()):
                engine.reconcile()
            if clock.now() >= next_open:
                app_open("app re-fires uploads" if policy.name == "legacy" else "app opened")
                next_open = clock.now() + timedelta(minutes=app_open_every or minutes + 1)

    clock.advance(3)
    app_open("app opened")
    # A capture session ends during the fair-use pause: auto-sync of one more recording.
    clock.advance(300)
    wal_id = engine.register(timer_start=1779264000 + 600, file_path="live.bin",
                             conversation_id="conv-live")
    files.contents[wal_id] = b"\x04\x00\x00\x00opus" * 10
    report = engine.auto_sync(wal_id)
    say(f"{clock.now():%H:%M} capture auto-sync of {wal_id}: "
        + (f"skipped ({report.skipped_reason})" if report.skipped else
           f"{report.uploaded} uploaded, {report.failed} failed"))
    run_for(55, app_open_every=1 if policy.name == "legacy" else 15)
    run_for(90, app_open_every=1 if policy.name == "legacy" else 15)
    say(f"{clock.now():%H:%M} done: {len(server.requests)} requests reached the backend")
    return engine
