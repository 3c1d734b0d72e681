"""T04: disk full, through max_page_count (portable) and a real 512 KiB tmpfs (root only).

On SQLITE_FULL the append raises StorageFull and keeps nothing of the failed transaction;
every acknowledged event stays; the sync loop pauses a whole poll interval per pass instead of
storming (no upload is sent while nothing can be recorded); once space frees, appends resume
with the next gapless seq.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from storage_fixtures import check_sound, registered, stored_ids
from tier import record, scale
from tmpfs import tmpfs

from walsync.adapters.engine import Engine
from walsync.adapters.ports import ManualClock
from walsync.adapters.service import folder_sync as sync_run
from walsync.adapters.store.sqlite import SqliteStore
from walsync.core.errors import StorageFull
from walsync.core.events import Event

from fakes import T0, ScriptedBackend

BODY = b"\x02\x00\x00\x00ok"


def _fill(store: SqliteStore, tag: str, acked: list[str]) -> Event:
    """Append single events until StorageFull; returns the event that did not fit."""
    for i in range(100_000):
        event = registered(tag, i)
        try:
            store.append([event])
        except StorageFull:
            assert store.head()[0] == len(acked), "the failed transaction left rows behind"
            return event
        acked.append(event.event_id)
    raise AssertionError("the storage never filled up")


def _full_then_freed(store: SqliteStore, path: Path, free: object, rounds: int) -> int:
    acked = [r.event_id for r in store.read()]
    fulls = 0
    for n in range(rounds):
        refused = _fill(store, f"r{n}", acked)
        fulls += 1
        # The same event again is still refused, typed every time, never a crash. (Another event
        # may well fit: its keys land in other b-tree pages, which can have room.)
        with pytest.raises(StorageFull):
            store.append([refused])
        free()  # type: ignore[operator]
        head = store.head()[0]
        stored = store.append([registered(f"after{n}", 0)])
        assert [r.seq for r in stored] == [head + 1], "appends did not resume gapless"
        acked.append(stored[0].event_id)
    store.close()
    assert stored_ids(path) == acked
    check_sound(path)
    return fulls


def test_t04a_page_limit_full_is_typed_keeps_acked_and_resumes(tmp_path: Path) -> None:
    path = tmp_path / "log.db"
    store = SqliteStore(path)
    store.append([registered("seed", i) for i in range(20)])
    conn = store.connection
    limit = [int(conn.execute("PRAGMA page_count").fetchone()[0]) + 3]
    conn.execute(f"PRAGMA max_page_count={limit[0]}")

    def free() -> None:
        limit[0] += 3
        conn.execute(f"PRAGMA max_page_count={limit[0]}")

    rounds = scale(5, 50)
    fulls = _full_then_freed(store, path, free, rounds)
    record("T04a disk full (page limit)", "disk-full episodes", fulls, 0)


@pytest.fixture
def tiny_tmpfs(tmp_path: Path) -> Iterator[Path]:
    with tmpfs(tmp_path / "tiny", "512k", "T04b mounts a real 512 KiB tmpfs") as mount:
        yield mount


def test_t04b_real_tiny_tmpfs_full_is_typed_keeps_acked_and_resumes(tiny_tmpfs: Path) -> None:
    path = tiny_tmpfs / "log.db"
    ballast = tiny_tmpfs / "ballast"
    store = SqliteStore(path)
    store.append([registered("seed", i) for i in range(5)])
    rounds = scale(3, 6)
    pieces = []
    for n in range(rounds):  # ballast to delete, one piece per round, to free space
        piece = ballast.with_suffix(f".{n}")
        piece.write_bytes(b"\0" * 48 * 1024)
        pieces.append(piece)
    fulls = _full_then_freed(store, path, lambda: pieces.pop().unlink(), len(pieces))
    record("T04b disk full (tmpfs)", "disk-full episodes", fulls, 0)


def test_t04_sync_loop_pauses_instead_of_storming_while_storage_is_full(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "recordings"
    folder.mkdir()
    for i in range(6):
        (folder / f"audio_omi_opus_16000_1_fs160_{1_700_000_000 + 600 * i}.bin").write_bytes(BODY)
    backend = ScriptedBackend()
    clock = ManualClock(T0)
    engines: list[Engine] = []
    real_open = sync_run.open_engine

    def open_and_keep(*args: object, **kwargs: object) -> Engine:
        engine = real_open(*args, **kwargs)  # type: ignore[arg-type]
        engines.append(engine)
        return engine

    monkeypatch.setattr(sync_run, "open_engine", open_and_keep)
    full_for = 5  # passes
    sleeps: list[float] = []
    requests_while_full: list[int] = []
    state = {"full_passes": 0}

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        clock.advance(seconds)
        conn = engines[0].store.connection
        if len(sleeps) == 1:  # after the first pass: the disk fills up
            conn.execute(f"PRAGMA max_page_count={conn.execute('PRAGMA page_count').fetchone()[0]}")
            _fill(engines[0].store, "filler", [r.event_id for r in engines[0].store.read()])
            state["requests"] = len(backend.uploads) + len(backend.polls)
        elif len(sleeps) == 1 + full_for:  # space frees
            requests_while_full.append(len(backend.uploads) + len(backend.polls) - state["requests"])
            conn.execute("PRAGMA max_page_count=1073741823")

    out: list[str] = []
    started = time.monotonic()
    summary = sync_run.sync_directory(
        tmp_path / "log.db", backend_url="http://unused", token="secret-token", recordings_dir=folder,
        say=out.append, sleep=sleep, clock=clock, backend=backend, poll_seconds=20.0,
        max_seconds=3600.0)
    assert time.monotonic() - started < 30
    assert summary.storage_full_passes == full_for, out
    assert any("storage full, pausing" in line for line in out)
    # While full: no upload at all, at most one status poll per job per pass, and every pause
    # a whole poll interval.
    jobs = len({w for w in backend.polls})
    assert requests_while_full[0] <= full_for * max(jobs, 1), (requests_while_full, out)
    assert all(s >= 20.0 for s in sleeps[1:1 + full_for]), sleeps
    assert summary.synced + summary.uploaded == 6 and summary.finished_reason in (
        "all_synced", "stalled", "time_budget"), out
    check_sound(tmp_path / "log.db")
    record("T04 sync loop while storage full", "passes while full", full_for, 0)
