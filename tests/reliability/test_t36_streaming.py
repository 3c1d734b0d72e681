"""T36: recordings stream from disk. An upload reads its file in chunks as the request goes
out, so a process's memory does not grow with the file's size; a file that shrinks, grows or
vanishes while it is being sent is an upload error for that recording (`file_changed`), spends
no budget, and goes again once the file is still (or is marked missing when it is gone)."""

from __future__ import annotations

import os
import resource
import subprocess
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from field_server import WALSYNC, FieldServer, Seen, recordings
from tier import LONG, record

from walsync.adapters.bootstrap import open_engine
from walsync.adapters.http.client import HttpBackend
from walsync.adapters.ports import ManualClock
from walsync.core.policies import WALSYNC as WALSYNC_POLICY

TOKEN = "tok-t36-0123456789abcdef"
MIB = 1 << 20


def _sync_measured(folder: Path, db: Path, url: str, limit: int | None = None
                   ) -> tuple[int, int, str]:
    """`walsync sync --once` as a child process: (exit code, its peak RSS in bytes, stderr);
    with `limit`, under that address-space limit."""
    def limited() -> None:
        if limit is not None:
            resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    proc = subprocess.Popen([*WALSYNC, "sync", "--db", str(db), "--backend", url, "--token",
                             TOKEN, "--recordings", str(folder), "--once"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            preexec_fn=limited)
    assert proc.stderr is not None
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, usage.ru_maxrss * 1024, err


def _big(folder: Path, size: int) -> str:
    """One recording of `size` bytes, sparse (no disk used), named after its size."""
    [name] = recordings(folder, 1, start=1_700_000_000 + size % 1_000_000)
    with (folder / name).open("r+b") as file:
        file.truncate(size)
    return name


def test_t36_memory_does_not_grow_with_the_recording(tmp_path: Path) -> None:
    """Regression: every recording was read whole into memory (a 3 GB file under a 1.5 GB
    address-space limit failed with MemoryError on every run)."""
    big = 3 * 1024 * MIB if LONG else 256 * MIB
    with FieldServer() as server:
        _big(tmp_path / "small", MIB)
        code, small_rss, err = _sync_measured(tmp_path / "small", tmp_path / "small.db", server.url)
        assert code == 0, err
        name = _big(tmp_path / "big", big)
        limit = 1536 * MIB if LONG else None  # the field case: a 3 GB file under 1.5 GB
        code, big_rss, err = _sync_measured(tmp_path / "big", tmp_path / "big.db", server.url,
                                            limit)
        assert code == 0 and "MemoryError" not in err, err
    [upload] = [s for s in server.uploads() if name in s.names]
    assert upload.size > big  # the whole file went out, in one request
    assert big_rss - small_rss < 64 * MIB, (small_rss, big_rss)
    record("T36 streaming upload", "bytes uploaded from disk", big, 0)


Change = Callable[[Path], None]


def _shrink(path: Path) -> None:
    with path.open("r+b") as file:
        file.truncate(path.stat().st_size // 2)


def _grow(path: Path) -> None:
    with path.open("ab") as file:
        file.write(b"\0" * MIB)


def _vanish(path: Path) -> None:
    path.unlink()


@pytest.mark.parametrize("change", [_shrink, _grow, _vanish], ids=["shrinks", "grows", "vanishes"])
def test_t36_a_file_changing_mid_upload_is_an_error_that_spends_no_budget(
        tmp_path: Path, change: Change) -> None:
    [name] = recordings(tmp_path / "rec", 1)
    path = tmp_path / "rec" / name
    with path.open("r+b") as file:
        file.truncate(64 * MIB)  # larger than the socket buffers: still being read when it changes
    changed: list[str] = []

    def change_once(seen: Seen) -> None:
        if seen.method == "POST" and not changed:
            changed.append(seen.path)
            change(path)

    clock = ManualClock(datetime.now(UTC))
    with FieldServer(on_headers=change_once) as server, HttpBackend(server.url, TOKEN) as client:
        engine = open_engine(tmp_path / "log.db", backend=client, recordings_dir=tmp_path / "rec",
                             policy=WALSYNC_POLICY, clock=clock)
        wal_id = engine.register(device="omi", timer_start=int(name[-14:-4]), file_path=name)
        engine.auto_sync(wal_id)  # the capture path: the one that spends budget on errors
        row = engine.row(wal_id)
        assert (row.state, row.retry_count) == ("miss", 0), row
        failed = [r.event for r in engine.store.read() if r.type == "UploadFailed"]
        assert [f.kind for f in failed] == ["file_changed"]  # type: ignore[attr-defined]
        # Nothing complete reached it. The server's handler notes the cut body when it reads
        # the end of the connection, which may come a moment after the client gave up.
        deadline = time.monotonic() + 10
        while not server.cut and time.monotonic() < deadline:
            time.sleep(0.01)
        assert server.uploads() == [] and len(server.cut) == 1
        engine.sync_all()  # at once: the file was modified a moment ago, so it waits
        assert engine.row(wal_id).state == ("corrupted" if change is _vanish else "miss")
        clock.advance(10)  # the file has been still for a while
        engine.sync_all()
        final = engine.row(wal_id).state
        engine.close()
    if change is _vanish:
        assert final == "corrupted" and server.uploads() == []
    else:
        assert final == "synced"
        [upload] = server.uploads()
        assert upload.size > path.stat().st_size  # the file as it is now, whole
