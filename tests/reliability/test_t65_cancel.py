"""T65: the card's Cancel is a command. `engine.cancel()`, from another thread while a batch
sync is out, stops it before its next batch (the app checks its cancel flag before each batch);
the batch already sent gets its answer recorded (an uploaded recording is never reverted); each
recording not sent is recorded `UploadCancelled`, stays waiting with its budget untouched, and
`why` says so. A service sends nothing on its own after a cancel until it is nudged. Waits
only guard against a hang."""

from __future__ import annotations

import random
import threading
from pathlib import Path

import walsync
from walsync.adapters.engine import Engine
from walsync.adapters.ports import ManualClock
from walsync.adapters.recordings.files import MemoryFiles
from walsync.adapters.store.readonly.verify import verify_log
from walsync.adapters.store.sqlite import SqliteStore
from walsync.core.policies import WALSYNC

from fakes import GUARD, T0, HeldBackend, ScriptedBackend, ids, wait_until


def _engine(tmp_path: Path, backend: ScriptedBackend, count: int) -> tuple[Engine, list[str]]:
    files = MemoryFiles()
    engine = Engine(SqliteStore(tmp_path / "s.db"), backend, clock=ManualClock(T0), files=files,
                    policy=WALSYNC, new_id=ids(), rng=random.Random(3))
    wal_ids = []
    for i in range(count):
        wal_id = engine.register(device="omi", timer_start=1_779_000_000 + 60 * i)
        files.contents[wal_id] = b"x"
        wal_ids.append(wal_id)
    return engine, wal_ids


def _types(path: Path) -> list[str]:
    store = SqliteStore(path)
    try:
        return [row.type for row in store.read()]
    finally:
        store.close()


def test_cancel_stops_the_batch_before_its_next_batch_and_why_says_so(tmp_path: Path) -> None:
    backend = HeldBackend()
    engine, wal_ids = _engine(tmp_path, backend, 7)  # batches of 3: 3, 3, 1
    running = threading.Thread(target=engine.sync_all)
    running.start()
    assert backend.out.wait(GUARD)  # the first batch is out
    assert engine.cancel() is True  # from this (the UI's) thread, while the request is out
    backend.release.set()
    running.join(GUARD)
    assert not running.is_alive()
    assert len(backend.uploads) == 1  # no further batch went
    states = {r.wal_id: r.state for r in engine.rows()}
    sent = [w for w in wal_ids if states[w] == "uploaded"]
    left = [w for w in wal_ids if states[w] == "miss"]
    assert len(sent) == 3 and len(left) == 4, states  # the batch out was answered: kept
    assert all(engine.row(w).retry_count == 0 and engine.row(w).display == "waiting"
               for w in left)
    types = _types(tmp_path / "s.db")
    assert types.count("UploadCancelled") == 4
    finished = [r.event for r in engine.store.read() if r.type == "SyncRunFinished"]
    assert finished[-1].cancelled  # type: ignore[attr-defined]  # SyncRunFinished's field
    report = walsync.why(tmp_path / "s.db", left[0])
    assert report.reason == "cancelled" and report.blocked_by is not None
    assert report.blocked_by["kind"] == "cancel"
    assert engine.card().kind != "uploading"
    engine.close()
    assert verify_log(tmp_path / "s.db").ok


def test_cancel_with_no_batch_running_changes_nothing_recorded(tmp_path: Path) -> None:
    engine, _ = _engine(tmp_path, ScriptedBackend(), 2)
    before = _types(tmp_path / "s.db")
    assert engine.cancel() is False
    assert _types(tmp_path / "s.db") == before
    assert engine.upload_candidates() == []  # held until the user's next Sync
    engine.sync_all()
    assert {r.state for r in engine.rows()} == {"uploaded"}
    engine.close()


def test_a_cancelled_service_sends_nothing_on_its_own_until_nudged(tmp_path: Path) -> None:
    backend = HeldBackend()
    engine, _ = _engine(tmp_path, backend, 6)
    with walsync.SyncService(engine) as service:
        assert backend.out.wait(GUARD)
        assert service.cancel() is True
        backend.release.set()
        wait_until(lambda: _types(tmp_path / "s.db").count("SyncRunFinished") == 1)
        assert len(backend.uploads) == 1 and _types(tmp_path / "s.db").count(
            "UploadCancelled") == 3
        plan = service.passes.plan()
        assert plan.uploads == {}, plan  # nothing is due: the cancel holds them
        service.nudge()  # the user's next cue
        wait_until(lambda: {r.state for r in engine.rows()} == {"uploaded"})
    assert len(backend.uploads) == 2
    engine.close()
