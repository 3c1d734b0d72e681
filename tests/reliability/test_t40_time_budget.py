"""T40: time budgets hold inside a pass. The budget is checked before every request (upload or
poll), so a run ends within its budget plus the one request in flight; what was not sent waits,
untouched, and the log says the run ran out of time."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from contextlib import closing
from pathlib import Path
from typing import Any

from field_server import FieldServer, recordings, walsync

from walsync.adapters.ports import ManualClock
from walsync.adapters.service.folder_sync import sync_directory
from walsync.core.responses import JobStatusResult, UploadAnswer

from fakes import T0, ScriptedBackend

SLOW = 20.0  # virtual seconds each request takes


class SlowBackend(ScriptedBackend):
    """Each request takes SLOW seconds of the engine's clock."""

    def __init__(self, clock: ManualClock) -> None:
        super().__init__()
        self.clock = clock

    def upload(self, files: Sequence[Any], **kwargs: Any) -> UploadAnswer:
        self.clock.advance(SLOW)
        return super().upload(files, **kwargs)

    def job_status(self, job_id: str) -> JobStatusResult:
        self.clock.advance(SLOW)
        return super().job_status(job_id)


def _out_of_time_runs(db: Path) -> int:
    with closing(sqlite3.connect(db)) as conn:
        return int(conn.execute("SELECT count(*) FROM events WHERE type = 'SyncRunFinished' "
                                "AND json_extract(data, '$.out_of_time')").fetchone()[0])


def test_t40_a_run_ends_within_its_budget_plus_one_request(tmp_path: Path) -> None:
    """Regression: the budget was checked between passes only; the first pass sent all ten
    batches (200 virtual seconds against a 30-second budget)."""
    recordings(tmp_path / "rec", 30)
    clock = ManualClock(T0)
    backend = SlowBackend(clock)
    summary = sync_directory(tmp_path / "log.db", backend_url="http://unused", token="t" * 20,
                             recordings_dir=tmp_path / "rec", say=lambda _: None,
                             sleep=clock.advance, clock=clock, backend=backend, max_seconds=30.0)
    assert summary.finished_reason == "time_budget"
    assert clock.monotonic() <= 30.0 + SLOW
    assert len(backend.uploads) == 2 and backend.polls == []
    assert summary.uploaded == 6 and summary.stalled == 24  # the rest waits, untouched
    assert _out_of_time_runs(tmp_path / "log.db") == 1


def test_t40_polls_stop_at_the_budget_too(tmp_path: Path) -> None:
    recordings(tmp_path / "rec", 12)
    clock = ManualClock(T0)
    backend = SlowBackend(clock)
    sync_directory(tmp_path / "log.db", backend_url="http://unused", token="t" * 20,
                   recordings_dir=tmp_path / "rec", say=lambda _: None, sleep=clock.advance,
                   clock=clock, backend=backend, max_seconds=100.0)  # 4 uploads, then polls
    assert len(backend.uploads) == 4
    # After the check at 80 s one slice goes out: the reconciler's 3 polls sent together (spec
    # section 8). This fake's requests take their time one after another, so the slice takes
    # 3 x SLOW here where a server answers them side by side; the budget stops the next slice.
    assert sorted(backend.polls) == ["job-1", "job-2", "job-3"] and clock.monotonic() <= 100.0 + 3 * SLOW


def test_t40_walsync_sync_against_a_slow_server_stops_sending_at_its_budget(
        tmp_path: Path) -> None:
    recordings(tmp_path / "rec", 30)
    with FieldServer(delay=0.5) as server:
        done = walsync("sync", "--db", "log.db", "--backend", server.url, "--token",
                       "tok-t40-0123456789abcdef", "--recordings", "rec", "--max-minutes",
                       "0.02", cwd=tmp_path)  # 1.2 s: at most 3 requests of 0.5 s, and one more
    assert done.returncode == 0, done.stderr
    assert "finished: time_budget" in done.stdout
    assert 1 <= len(server.uploads()) <= 4, len(server.uploads())
