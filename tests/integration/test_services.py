"""SyncService on its thread and AsyncSyncService on an event loop, on real time: they upload
what is registered (a nudge looks at once), hand every commit to the app, never block the loop,
and stop when told."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path
from typing import Any

import walsync
from walsync.adapters.engine import Engine
from walsync.adapters.ports import ManualClock, StoredEvent
from walsync.adapters.recordings.files import MemoryFiles
from walsync.adapters.store.readonly.verify import verify_log
from walsync.adapters.store.sqlite import SqliteStore
from walsync.core.policies import WALSYNC

from fakes import GUARD, T0, HeldBackend, ScriptedBackend, ids, wait_until


def _engine(tmp_path: Path, backend: Any) -> tuple[Engine, MemoryFiles]:
    files = MemoryFiles()
    engine = Engine(SqliteStore(tmp_path / "s.db"), backend, clock=ManualClock(T0), files=files,
                    policy=WALSYNC, new_id=ids(), rng=random.Random(2))
    return engine, files


def test_the_thread_service_uploads_what_arrives_and_stops(tmp_path: Path) -> None:
    engine, files = _engine(tmp_path, ScriptedBackend())
    with walsync.SyncService(engine) as service:
        for i in range(4):
            files.contents[f"omi_{1_779_000_000 + i}"] = b"x"  # the bytes before the record
            engine.register(device="omi", timer_start=1_779_000_000 + i)
            service.nudge()
        wait_until(lambda: {r.state for r in engine.rows()} == {"uploaded"})
    assert service.passes.passes >= 1
    engine.close()
    assert verify_log(tmp_path / "s.db").ok


def test_the_asyncio_service_never_blocks_the_loop_and_streams_each_commit(tmp_path: Path) -> None:
    backend = HeldBackend()
    engine, files = _engine(tmp_path, backend)

    async def app() -> tuple[int, list[str], list[str]]:
        ticks = 0
        seen: list[str] = []
        service = walsync.AsyncSyncService(engine)
        async with service:
            async def watch() -> None:
                async for batch in service.changes():
                    seen.extend(e.type for e in batch)

            watcher = asyncio.create_task(watch())
            await asyncio.sleep(0)
            files.contents["omi_1779000000"] = b"x"  # the bytes before the record
            wal_id = await service.register(device="omi", timer_start=1_779_000_000)
            while not backend.out.is_set():  # the upload is out, held, in a worker thread
                await asyncio.sleep(0.01)
            started = ticks
            for _ in range(20):  # the loop keeps running while the request is out
                await asyncio.sleep(0.005)
                ticks += 1
            assert ticks - started == 20 and not backend.release.is_set()
            backend.release.set()
            while engine.row(wal_id).state != "uploaded":
                await asyncio.sleep(0.01)
        await asyncio.wait_for(watcher, GUARD)  # the feed ends with the service
        return ticks, seen, [r.state for r in engine.rows()]

    _, seen, states = asyncio.run(asyncio.wait_for(app(), GUARD))
    assert states == ["uploaded"]
    assert seen[:1] == ["WalRegistered"] and "UploadStarted" in seen and "UploadAccepted" in seen
    engine.close()
    assert verify_log(tmp_path / "s.db").ok


def test_a_subscriber_of_the_async_service_gets_events_in_order(tmp_path: Path) -> None:
    engine, files = _engine(tmp_path, ScriptedBackend())

    async def app() -> list[StoredEvent]:
        got: list[StoredEvent] = []
        async with walsync.AsyncSyncService(engine) as service:
            async def collect() -> None:
                async for batch in service.changes():
                    got.extend(batch)

            task = asyncio.create_task(collect())
            await asyncio.sleep(0)
            for i in range(5):
                files.contents[f"d_{1_779_000_000 + i}"] = b"x"  # the bytes before the record
                await service.register(device="d", timer_start=1_779_000_000 + i)
            while {r.state for r in engine.rows()} != {"uploaded"}:
                await asyncio.sleep(0.01)
        await asyncio.wait_for(task, GUARD)
        return got

    got = asyncio.run(asyncio.wait_for(app(), GUARD))
    seqs = [e.seq for e in got]
    assert seqs == sorted(set(seqs)) and seqs == list(range(seqs[0], seqs[0] + len(seqs)))
    assert [e.seq for e in engine.store.read(after=seqs[0] - 1)] == seqs
    engine.close()
