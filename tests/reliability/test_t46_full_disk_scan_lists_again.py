"""T46: a full disk while registering never makes the folder scan forget a file. A listing is
trusted once the folder's time is older than the racy window (folder_scan: later scans look only
at the files left to look at again); when the commit of what that scan found fails, the next
scan lists the folder whole, so every file it saw is registered once there is room."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from walsync.adapters.bootstrap import open_engine
from walsync.adapters.engine import Engine
from walsync.adapters.service.folder_scan import RACY_NS, FolderScan
from walsync.core.errors import StorageFull

from fakes import ScriptedBackend

BODY = b"\x02\x00\x00\x00ok" * 60
BASE = int(time.time()) - 86_400


def _name(i: int) -> str:
    return f"audio_omi_opus_16000_1_fs160_{BASE + 60 * i}.bin"


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    opened = open_engine(tmp_path / "log.db", backend=ScriptedBackend(),
                         recordings_dir=tmp_path / "rec")
    yield opened
    opened.close()


def _full(engine: Engine) -> None:
    """The log's page limit at its size now: the next commit that needs a page fails."""
    conn = engine.store.connection  # type: ignore[attr-defined]
    conn.execute(f"PRAGMA max_page_count={conn.execute('PRAGMA page_count').fetchone()[0]}")


def _room(engine: Engine) -> None:
    engine.store.connection.execute(  # type: ignore[attr-defined]
        "PRAGMA max_page_count=1073741823")


def _scan(folder: Path) -> FolderScan:
    """A scan whose clock reads the folder as written well before (a field folder)."""
    now = folder.stat().st_mtime_ns + 10 * RACY_NS
    return FolderScan(folder, tell=lambda _: None, now_ns=lambda: now)


def test_t46_files_a_full_disk_kept_out_are_registered_at_the_next_scan(
        tmp_path: Path, engine: Engine) -> None:
    """Regression: the scan's listing was trusted though its commit failed, and the scan after
    the pause looked at no file: `walsync sync` ended "all_synced" with none registered."""
    folder = tmp_path / "rec"
    folder.mkdir()
    for i in range(40):
        (folder / _name(i)).write_bytes(BODY)
    scan = _scan(folder)
    _full(engine)
    with pytest.raises(StorageFull):
        scan.register_new(engine)
    assert engine.recordings() == []
    _room(engine)
    assert scan.register_new(engine) == 40


def test_t46_a_file_left_to_look_at_again_is_not_dropped_by_a_full_disk(
        tmp_path: Path, engine: Engine) -> None:
    """Empty files (left to look at again; filling them moves no folder time) found full by a
    full disk: the next scan still registers them."""
    folder = tmp_path / "rec"
    folder.mkdir()
    (folder / _name(0)).write_bytes(BODY)
    late = [folder / _name(i) for i in range(1, 31)]
    for path in late:
        path.write_bytes(b"")
    scan = _scan(folder)
    assert scan.register_new(engine) == 1  # the empty ones are skipped, to be looked at again
    mtime = folder.stat().st_mtime_ns
    for path in late:
        path.write_bytes(BODY)
    assert folder.stat().st_mtime_ns == mtime  # the shortcut applies
    _full(engine)
    with pytest.raises(StorageFull):
        scan.register_new(engine)
    _room(engine)
    assert scan.register_new(engine) == 30
    assert len(engine.recordings()) == 31
