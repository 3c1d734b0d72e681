"""A folder's new recordings are registered in one commit per chunk, not one each (issue 17:
commits and fsyncs per synced recording); what another process registered meanwhile, a file
the engine refuses, and a full chunk boundary change nothing of what is registered."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

import pytest

from walsync.adapters.bootstrap import open_engine
from walsync.adapters.ports import StoredEvent
from walsync.adapters.service import folder_scan
from walsync.adapters.service.folder_scan import FolderScan

from fakes import ScriptedBackend

BODY = b"\x02\x00\x00\x00ok" * 60


def _folder(root: Path, count: int) -> Path:
    folder = root / "rec"
    folder.mkdir()
    base = int(time.time()) - 86_400
    for i in range(count):
        (folder / f"audio_omi_opus_16000_1_fs160_{base + 60 * i}.bin").write_bytes(BODY)
    return folder


def _commits(engine_db: Path, folder: Path) -> tuple[int, list[int]]:
    """(recordings registered, events per commit) of one scan on a fresh engine."""
    engine = open_engine(engine_db, backend=ScriptedBackend(), recordings_dir=folder)
    commits: list[int] = []

    def heard(stored: Sequence[StoredEvent]) -> None:
        commits.append(len(stored))

    engine.subscribe(heard)
    try:
        added = FolderScan(folder, tell=lambda _: None).register_new(engine)
    finally:
        engine.close()
    return added, commits


def test_a_folder_of_new_recordings_is_one_commit(tmp_path: Path) -> None:
    folder = _folder(tmp_path, 40)
    added, commits = _commits(tmp_path / "log.db", folder)
    assert added == 40
    assert commits == [40]


def test_a_folder_larger_than_a_chunk_is_one_commit_per_chunk(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(folder_scan, "CHUNK", 16)
    folder = _folder(tmp_path, 40)
    added, commits = _commits(tmp_path / "log.db", folder)
    assert added == 40
    assert commits == [16, 16, 8]


def test_what_another_process_registered_meanwhile_is_left_out(tmp_path: Path) -> None:
    """Another engine on the same log registers some of the files first: this scan records
    only the rest, in one commit, and nothing twice."""
    folder = _folder(tmp_path, 10)
    db = tmp_path / "log.db"
    other = open_engine(db, backend=ScriptedBackend(), recordings_dir=folder)
    mine = open_engine(db, backend=ScriptedBackend(), recordings_dir=folder)
    try:
        names = sorted(p.name for p in folder.iterdir())
        scan = FolderScan(folder, tell=lambda _: None)
        pending = [mine.registration(device="omi", timer_start=int(n.rsplit("_", 1)[1][:-4]),
                                     file_path=n) for n in names]
        for name in names[:4]:  # the other process gets there first
            other.register(device="omi", timer_start=int(name.rsplit("_", 1)[1][:-4]),
                           file_path=name)
        recorded = mine.register_all(pending + pending[:2])  # and a repeat in the list
        assert len(recorded) == 6 and len(set(recorded)) == 6
        assert scan.register_new(mine) == 0
        assert len(mine.rows()) == 10
    finally:
        mine.close()
        other.close()
