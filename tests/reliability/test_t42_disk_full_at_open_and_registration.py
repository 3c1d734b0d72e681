"""T42: a full disk says so, wherever it strikes. Full while registering a folder's recordings,
or already full when the log is opened, `walsync sync` takes the storage-full pause (a whole
poll interval, nothing sent) with its message, and resumes once there is room: every recording
registered before it stays, none is posted twice."""

from __future__ import annotations

import os
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from field_server import BODY, FieldServer, recordings, walsync
from storage_fixtures import check_sound
from tier import record
from tmpfs import tmpfs

from walsync.adapters.engine import Engine
from walsync.adapters.ports import ManualClock
from walsync.adapters.service import folder_sync
from walsync.adapters.service.folder_scan import CHUNK
from walsync.adapters.store.sqlite import SqliteStore

from fakes import T0, ScriptedBackend

TOKEN = "tok-t42-0123456789abcdef"


def test_t42_full_while_registering_pauses_and_resumes(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Regression: StorageFull from a registration ended the run (an exception) instead of
    the documented pause. And (T46) the folder is older than the scan's racy window, as a
    field folder is: the listing that saw the 20 files was trusted though their commit
    failed, so the pass after the pause looked at none of them and the run ended
    "all_synced" with nothing registered (it failed so only when a loaded machine took 2 s
    between writing the files and the scan)."""
    names = recordings(tmp_path / "rec", 20)
    old = time.time_ns() - 3600 * 10**9  # written an hour ago
    os.utime(tmp_path / "rec", ns=(old, old))
    engines: list[Engine] = []
    real_open = folder_sync.open_engine

    def open_then_fill(*args: object, **kwargs: object) -> Engine:
        engine = real_open(*args, **kwargs)  # type: ignore[arg-type]
        conn = engine.store.connection  # type: ignore[attr-defined]
        conn.execute(f"PRAGMA max_page_count={conn.execute('PRAGMA page_count').fetchone()[0] + 1}")
        engines.append(engine)
        return engine

    monkeypatch.setattr(folder_sync, "open_engine", open_then_fill)
    clock = ManualClock(T0)
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        clock.advance(seconds)
        if len(sleeps) == 2:  # room again after two pauses
            engines[0].store.connection.execute(  # type: ignore[attr-defined]
                "PRAGMA max_page_count=1073741823")

    backend = ScriptedBackend()
    out: list[str] = []
    summary = folder_sync.sync_directory(
        tmp_path / "log.db", backend_url="http://unused", token=TOKEN,
        recordings_dir=tmp_path / "rec", say=out.append, sleep=sleep, clock=clock,
        backend=backend, poll_seconds=20.0)
    assert summary.storage_full_passes == 2, out
    assert sum("storage full, pausing 20s (registering recordings" in line for line in out) == 2
    assert sleeps[:2] == [20.0, 20.0]
    assert summary.registered == 20 and summary.synced + summary.uploaded == 20, out
    sent = [name for upload in backend.uploads for name in upload["files"]]
    assert sorted(sent) == sorted(names)  # each once
    check_sound(tmp_path / "log.db")
    record("T42 disk full while registering", "passes while full", 2, 0)


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 8 MiB tmpfs: room for a run once the ballast that fills it is gone (the WAL of
    60 recordings' run grows to a few MiB before its checkpoint)."""
    with tmpfs(tmp_path / "tiny", "8m", "T42 mounts a real tmpfs") as mount:
        yield mount


def _fill(disk: Path, leave: int) -> Path:
    """A ballast file taking all but about `leave` bytes of the disk."""
    ballast = disk / "ballast"
    free = os.statvfs(disk).f_bavail * os.statvfs(disk).f_frsize
    with ballast.open("wb") as file:
        file.write(b"\0" * max(0, free - leave))
    while os.statvfs(disk).f_bavail * os.statvfs(disk).f_frsize > leave:
        with ballast.open("ab") as file:
            file.write(b"\0" * 4096)
    return ballast


def _sync(folder: Path, db: Path, url: str) -> subprocess.CompletedProcess[str]:
    return walsync("sync", "--db", str(db), "--backend", url, "--token", TOKEN,
                   "--recordings", str(folder), "--once")


def test_t42_a_disk_already_full_at_open_is_the_storage_full_pause(
        tmp_path: Path, tiny_disk: Path) -> None:
    """Regression: reported as "the disk failed under the log (SQLITE_IOERR_SHMSIZE)", and the
    run ended with an error instead of the pause."""
    names = recordings(tmp_path / "rec", 4)
    db = tiny_disk / "log.db"
    SqliteStore(db).close()  # a log exists, closed: no -shm to reuse
    ballast = _fill(tiny_disk, 0)
    with FieldServer() as server:
        full = _sync(tmp_path / "rec", db, server.url)
        assert full.returncode == 0 and "Traceback" not in full.stderr, full.stderr
        assert "storage full, pausing" in full.stdout and "opening the log" in full.stdout
        assert "disk failed" not in full.stdout + full.stderr
        assert "finished: storage_full" in full.stdout and server.seen == []
        ballast.unlink()
        again = _sync(tmp_path / "rec", db, server.url)
        assert again.returncode == 0, again.stderr
    assert server.posted() == dict.fromkeys(names, 1), (full.stdout, again.stdout)
    check_sound(db)


def test_t42_a_disk_filling_up_while_registering_pauses_then_resumes(
        tmp_path: Path, tiny_disk: Path) -> None:
    # More recordings than one registration commit takes (folder_scan.CHUNK): the first
    # chunks fit, a later one finds the disk full.
    names = recordings(tmp_path / "rec", 3 * CHUNK, body=BODY)
    db = tiny_disk / "log.db"
    SqliteStore(db).close()
    ballast = _fill(tiny_disk, 400 * 1024)  # room to open and register a chunk, not three
    with FieldServer() as server:
        full = _sync(tmp_path / "rec", db, server.url)
        assert full.returncode == 0 and "Traceback" not in full.stderr, full.stderr
        assert "storage full, pausing 20s (registering recordings" in full.stdout, full.stdout
        assert "finished: storage_full" in full.stdout
        [waiting] = re.findall(r"(\d+) waiting", full.stdout.split("finished (storage_full)")[1])
        assert 0 < int(waiting) < len(names), full.stdout  # the chunks before the full one stay
        ballast.unlink()
        again = _sync(tmp_path / "rec", db, server.url)
        assert again.returncode == 0, again.stderr
    assert server.posted() == dict.fromkeys(names, 1), (full.stdout, again.stdout)
    check_sound(db)
