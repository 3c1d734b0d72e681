"""`verify --full` folds the log a chunk at a time and keeps only the recordings that can still
move (issue 17: the whole fold held every recording ever made, 156 MB on a year's log): the
tables it builds and compares are those of the whole fold, and a damaged row of a recording
that finished long before is still found."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import pytest
from click.testing import CliRunner

from walsync.adapters.cli.main import cli
from walsync.adapters.store.readonly import verify_tables
from walsync.adapters.store.readonly.full_check import verify_full
from walsync.adapters.store.sqlite import SqliteStore
from walsync.adapters.store.tables import dump_projection_tables
from walsync.core.policies import SEED
from walsync.core.responses import UploadProcessed, UploadThrottled
from walsync.projections.view import Delta, Projection

from fakes import Harness


@pytest.fixture
def log(tmp_path: Path) -> tuple[Path, int]:
    """Eight recordings: six synced (one of them deleted afterwards: a finished one moving
    again), one throttled and one never sent."""
    path = tmp_path / "log.db"
    h = Harness(SEED, store=SqliteStore(path))
    wal_ids = h.add(8)
    h.backend.answer_uploads(*[UploadProcessed()] * 6, UploadThrottled(retry_after_raw="60"))
    for wal_id in wal_ids[:7]:
        h.engine.sync_wal(wal_id)
        h.clock.advance(120)
    h.engine.delete(wal_ids[0])
    h.engine.close()
    return path, len(wal_ids)


def _held(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Folds of 3 events at a time; the recordings in memory after each, as they come."""
    held: list[int] = []
    commit = Projection.commit

    def counted(view: Projection, delta: Delta) -> None:
        commit(view, delta)
        held.append(len(view.wals))
    monkeypatch.setattr(Projection, "commit", counted)
    monkeypatch.setattr(verify_tables, "CHUNK", 3)
    return held


def test_the_whole_check_keeps_only_live_recordings_and_finds_a_finished_one_damaged(
        log: tuple[Path, int], monkeypatch: pytest.MonkeyPatch) -> None:
    path, recordings = log
    held = _held(monkeypatch)
    report = verify_full(path)
    assert report.ok and report.checks["projection_tables"], report.problem
    assert len(held) > 3 and held[-1] == 2 < recordings, held  # chunks; the live ones kept

    with closing(sqlite3.connect(path)) as conn, conn:
        synced = conn.execute("SELECT wal_id FROM wal_rows WHERE state = 'synced' "
                              "ORDER BY last_seq LIMIT 1").fetchone()[0]
        conn.execute("UPDATE wal_rows SET retry_count = 2 WHERE wal_id = ?", (synced,))
    report = verify_full(path)
    assert not report.ok and report.checks["projection_tables"] is False


def test_verify_full_without_a_time_limit_from_the_cli(log: tuple[Path, int]) -> None:
    """`--timeout 0`: no limit on the walk (a year's log takes minutes); a small one stops."""
    path, _ = log
    runner = CliRunner()
    done = runner.invoke(cli, ["verify", "--full", "--timeout", "0", "--db", str(path)])
    assert done.exit_code == 0 and done.output.startswith("ok:"), done.output
    stopped = runner.invoke(cli, ["verify", "--full", "--timeout", "0.000001", "--db", str(path)])
    assert stopped.exit_code == 1 and "was stopped after" in stopped.output, stopped.output


def test_a_rebuild_folds_a_chunk_at_a_time_into_the_same_tables(
        log: tuple[Path, int], monkeypatch: pytest.MonkeyPatch) -> None:
    """The store's bounded rebuild (a redacted `.db` export's) folds as the whole check does:
    the whole fold held every recording ever made (150 MB for a year's redacted `.db` export)."""
    path, recordings = log
    with closing(sqlite3.connect(path)) as conn:
        before = dump_projection_tables(conn)
    store = SqliteStore(path)
    held = _held(monkeypatch)
    try:
        store.rebuild_projections(bounded=True)
        assert store.projection.displays_snapshot()
    finally:
        store.close()
    assert len(held) > 3 and held[-1] == 2 < recordings, held
    with closing(sqlite3.connect(path)) as conn:
        assert dump_projection_tables(conn) == before
