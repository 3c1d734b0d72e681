"""An Engine is safe to call from any thread (docs/api.md, Threads): one SQLite connection under
the store's lock, one command at a time under the engine's lock, and every request a command
sends outside it, so other threads' commands and readers never wait for the network."""

from __future__ import annotations

import random
import threading
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from walsync.adapters.engine import Engine
from walsync.adapters.ports import ManualClock
from walsync.adapters.recordings.files import MemoryFiles
from walsync.adapters.store.readonly.verify import verify_log
from walsync.adapters.store.sqlite import SqliteStore
from walsync.core.policies import WALSYNC
from walsync.core.responses import UploadAnswer

from fakes import T0, ScriptedBackend, ids

GUARD = 30.0  # a guard against a hang, never a timing assertion


def _engine(tmp_path: Path, backend: Any) -> tuple[Engine, MemoryFiles]:
    files = MemoryFiles()
    engine = Engine(SqliteStore(tmp_path / "t.db"), backend, clock=ManualClock(T0), files=files,
                    policy=WALSYNC, new_id=ids(), rng=random.Random(1))
    return engine, files


def _run_all(*targets: Any) -> list[BaseException]:
    """Run each target in its own thread; the exceptions they raised."""
    errors: list[BaseException] = []

    def wrapped(target: Any) -> None:
        try:
            target()
        except BaseException as error:  # collected and asserted on by the test
            errors.append(error)

    threads = [threading.Thread(target=wrapped, args=(t,)) for t in targets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(GUARD)
        assert not thread.is_alive(), "a thread hung"
    return errors


def test_commands_and_readers_from_many_threads_lose_nothing(tmp_path: Path) -> None:
    engine, files = _engine(tmp_path, ScriptedBackend())

    def registers(device: str) -> Any:
        def run() -> None:
            for i in range(40):
                wal_id = engine.register(device=device, timer_start=1_779_000_000 + i)
                files.contents[wal_id] = b"x"
                assert engine.row(wal_id).state == "miss"
        return run

    def reads() -> None:
        for _ in range(200):
            rows = engine.rows()
            assert all(r.wal_id for r in rows)
            engine.card()

    errors = _run_all(registers("a"), registers("b"), registers("c"), reads, reads)
    assert errors == []
    assert len(engine.rows()) == 120
    engine.close()
    assert verify_log(tmp_path / "t.db").ok


class _HeldBackend(ScriptedBackend):
    """Every upload waits until the test releases it, and counts each file it was sent."""

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()
        self.in_flight = threading.Event()
        self.sent: Counter[str] = Counter()
        self._count = threading.Lock()

    def upload(self, files: Sequence[Any], *, conversation_id: str | None = None,
               idempotency_key: str | None = None) -> UploadAnswer:
        with self._count:
            self.sent.update(f.name for f in files)
        self.in_flight.set()
        assert self.release.wait(GUARD)
        with self._count:
            return super().upload(files, conversation_id=conversation_id,
                                  idempotency_key=idempotency_key)


def test_no_thread_waits_for_another_thread_s_request(tmp_path: Path) -> None:
    backend = _HeldBackend()
    engine, files = _engine(tmp_path, backend)
    first = engine.register(device="omi", timer_start=1_779_000_000)
    files.contents[first] = b"x"
    uploader = threading.Thread(target=engine.sync_all)
    uploader.start()
    assert backend.in_flight.wait(GUARD)
    # The upload is out and held: another thread's commands and reads go ahead meanwhile.
    errors = _run_all(lambda: engine.register(device="omi", timer_start=1_779_000_060),
                      engine.rows, engine.card)
    assert errors == [] and uploader.is_alive() and not backend.release.is_set()
    assert engine.row(first).state == "uploading"
    backend.release.set()
    uploader.join(GUARD)
    assert engine.row(first).state == "uploaded"
    engine.close()
    assert verify_log(tmp_path / "t.db").ok


def test_two_threads_syncing_at_once_post_each_recording_once(tmp_path: Path) -> None:
    backend = _HeldBackend()
    backend.release.set()  # answer at once; the requests still run outside the engine's lock
    engine, files = _engine(tmp_path, backend)
    for i in range(30):
        files.contents[engine.register(device="omi", timer_start=1_779_000_000 + 60 * i)] = b"x"
    assert _run_all(engine.sync_all, engine.sync_all, engine.sync_all) == []
    assert set(backend.sent.values()) == {1} and len(backend.sent) == 30
    assert {r.state for r in engine.rows()} == {"uploaded"}
    engine.close()
