"""T62: a service stopped while a request is out. Within its timeout the request either ends
(its answer recorded as usual) or is abandoned and recorded as such: the recording's outcome is
unknown (no budget spent, the same key reused by its retry, C5), an answer arriving later is
recorded as ignored, and the log verifies. The test's waits only guard against a hang."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from field_server import FieldServer

from walsync.adapters.bootstrap import open_engine
from walsync.adapters.engine import ABANDONED, Engine
from walsync.adapters.ports import ManualClock
from walsync.adapters.recordings.files import MemoryFiles
from walsync.adapters.service.runner import SyncService
from walsync.adapters.store.readonly.verify import verify_log
from walsync.adapters.store.sqlite import SqliteStore
from walsync.core.policies import WALSYNC

from fakes import T0, HeldBackend, ids, wait_until


def _events(path: Path) -> list[Any]:
    store = SqliteStore(path)
    try:
        return [r.event for r in store.read()]
    finally:
        store.close()


def test_t62_a_request_the_server_never_answers_is_cut_short_and_recorded(tmp_path: Path) -> None:
    """The HTTP client's request is aborted at the stop's deadline: the command that sent it
    records the outcome as unknown, saying it was abandoned."""
    with FieldServer(delay=60) as server:
        engine = open_engine(tmp_path / "s.db", base_url=server.url, token="tok-stop",
                             files=MemoryFiles(), policy="walsync")
        files = engine.files
        assert isinstance(files, MemoryFiles)
        files.contents[engine.register(device="omi", timer_start=1_700_000_000)] = b"x"
        service = SyncService(engine).start()
        wait_until(lambda: engine.rows()[0].state == "uploading")
        assert service.stop(timeout=2.0) is True
        [row] = engine.rows()
        engine.close()
    unknown = [e for e in _events(tmp_path / "s.db") if type(e).__name__ == "UploadOutcomeUnknown"]
    assert [e.detail for e in unknown] == [ABANDONED]
    assert row.state == "miss" and row.retry_count == 0
    assert verify_log(tmp_path / "s.db").ok


def test_t62_a_request_that_cannot_be_cut_short_is_recorded_abandoned_by_the_stop(
        tmp_path: Path) -> None:
    backend = HeldBackend()
    files = MemoryFiles()
    engine = Engine(SqliteStore(tmp_path / "s.db"), backend, clock=ManualClock(T0), files=files,
                    policy=WALSYNC, new_id=ids(), rng=random.Random(4))
    wal_id = engine.register(device="omi", timer_start=1_700_000_000)
    files.contents[wal_id] = b"x"
    service = SyncService(engine).start()
    wait_until(lambda: engine.row(wal_id).state == "uploading")
    assert service.stop(timeout=1.5) is False
    assert engine.row(wal_id).state == "miss"
    backend.release.set()  # the answer comes after all: recorded as ignored, nothing changes
    wait_until(lambda: "AnswerIgnored" in [r.type for r in engine.store.read()])
    assert engine.row(wal_id).state == "miss"
    engine.close()
    types = [type(e).__name__ for e in _events(tmp_path / "s.db")]
    assert types[-3:] == ["UploadOutcomeUnknown", "AnswerIgnored", "SyncRunFinished"], types
    assert verify_log(tmp_path / "s.db").ok
