"""A scan of a folder whose own time has not moved since a trusted listing looks only at the
files it left to look at again (issue 17: a scan cost 15 us a file, every pass, however many
recordings the folder had already given). What the shortcut must never do is miss a file: one
added in the same tick of a coarse filesystem clock, one still being written, one empty at
first, one added while the clock was set back."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from walsync.adapters.bootstrap import open_engine
from walsync.adapters.engine import Engine
from walsync.adapters.service import folder_scan
from walsync.adapters.service.folder_scan import RACY_NS, RELIST_NS, FolderScan

from fakes import ScriptedBackend

BODY = b"\x02\x00\x00\x00ok" * 60
BASE = int(time.time()) - 86_400


def _name(i: int) -> str:
    return f"audio_omi_opus_16000_1_fs160_{BASE + 60 * i}.bin"


def _folder(root: Path, count: int) -> Path:
    folder = root / "rec"
    folder.mkdir()
    for i in range(count):
        (folder / _name(i)).write_bytes(BODY)
    return folder


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    opened = open_engine(tmp_path / "log.db", backend=ScriptedBackend(),
                         recordings_dir=tmp_path / "rec")
    yield opened
    opened.close()


class _Clock:
    """The scan's wall clock, set by the test (ns)."""

    def __init__(self, folder: Path) -> None:
        self.ns = folder.stat().st_mtime_ns + 10 * RACY_NS

    def __call__(self) -> int:
        return self.ns


def _looked_at(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names the next scans parse (every file looked at is parsed first)."""
    looked: list[str] = []
    parse = folder_scan.parse_recording_name

    def spy(name: str) -> object:
        looked.append(name)
        return parse(name)
    monkeypatch.setattr(folder_scan, "parse_recording_name", spy)
    return looked


def test_an_unchanged_folder_is_not_listed_again(
        tmp_path: Path, engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = _folder(tmp_path, 30)
    clock = _Clock(folder)
    scan = FolderScan(folder, tell=lambda _: None, now_ns=clock)
    assert scan.register_new(engine) == 30
    looked = _looked_at(monkeypatch)
    assert scan.register_new(engine) == 0
    assert looked == []  # nothing added, removed or renamed: no file looked at
    (folder / _name(30)).write_bytes(BODY)  # the folder's time moves
    clock.ns = folder.stat().st_mtime_ns + 10 * RACY_NS
    assert scan.register_new(engine) == 1
    assert len(looked) == 31  # listed whole again


def test_a_file_added_in_the_same_tick_as_the_listing_is_found(
        tmp_path: Path, engine: Engine) -> None:
    """On a filesystem with a coarse clock (FAT: 2 s) a file added just after the listing can
    leave the folder's time where it was: a listing read that close to the folder's time is
    not trusted."""
    folder = _folder(tmp_path, 3)
    listed = folder.stat().st_mtime_ns
    clock = _Clock(folder)
    clock.ns = listed + RACY_NS // 2  # read within the tick of the folder's time
    scan = FolderScan(folder, tell=lambda _: None, now_ns=clock)
    assert scan.register_new(engine) == 3
    (folder / _name(3)).write_bytes(BODY)
    os.utime(folder, ns=(listed, listed))  # the coarse clock: the time did not move
    clock.ns = listed + 10 * RACY_NS
    assert scan.register_new(engine) == 1


def test_files_left_to_look_at_again_are_looked_at_though_the_folder_did_not_move(
        tmp_path: Path, engine: Engine) -> None:
    """A file still being written, and one empty at first, change no folder time when they
    are done: the scan looks at them again until they are registered."""
    folder = _folder(tmp_path, 2)
    (folder / _name(2)).write_bytes(b"")
    clock = _Clock(folder)
    writing = {_name(1)}
    scan = FolderScan(folder, tell=lambda _: None, now_ns=clock)
    assert scan.register_new(engine, ready=lambda p: p.name not in writing) == 1
    mtime = folder.stat().st_mtime_ns
    writing.clear()
    (folder / _name(2)).write_bytes(BODY)
    assert folder.stat().st_mtime_ns == mtime
    assert scan.register_new(engine, ready=lambda p: p.name not in writing) == 2
    assert sorted(w.wal_id for w in engine.recordings()) == sorted(
        f"omi_{BASE + 60 * i}" for i in range(3))


def test_the_folder_is_listed_whole_again_after_a_while_or_a_clock_set_back(
        tmp_path: Path, engine: Engine) -> None:
    """A file whose adding left the folder's time where a trusted listing saw it (a clock set
    back, a network filesystem's cached time) is found by the next whole listing: after
    RELIST_NS, or at once when the clock went back."""
    folder = _folder(tmp_path, 2)
    clock = _Clock(folder)
    scan = FolderScan(folder, tell=lambda _: None, now_ns=clock)
    assert scan.register_new(engine) == 2
    listed = folder.stat().st_mtime_ns
    for i, move in ((2, RELIST_NS), (3, -1)):
        (folder / _name(i)).write_bytes(BODY)
        os.utime(folder, ns=(listed, listed))
        assert scan.register_new(engine) == 0  # the shortcut cannot see it
        clock.ns += move
        assert scan.register_new(engine) == 1
