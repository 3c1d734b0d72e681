"""The SQL views answer the common audit questions on the log file as is."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from walsync.adapters.store.sqlite import SqliteStore
from walsync.core.policies import SEED
from walsync.core.responses import JobStatus, UploadThrottled

from fakes import Harness

STALE = "Job timed out (background worker likely died)"


def test_views_over_a_real_log(tmp_path: Path) -> None:
    path = tmp_path / "log.db"
    h = Harness(SEED, store=SqliteStore(path))
    a, b = h.add(2)
    h.engine.sync_wal(a)
    h.clock.advance(601)
    h.backend.answer_job("job-1", JobStatus(job_id="job-1", status="failed", error=STALE))
    h.engine.reconcile()
    h.clock.advance(601)
    h.backend.answer_uploads(UploadThrottled(retry_after_raw="120"))
    h.engine.sync_wal(b)
    h.engine.sync_all()
    h.engine.close()
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT wal_id, job_id, server_error, total_segments, "
                            "classification, retry_count_bumped FROM job_failures").fetchall() == [
            (a, "job-1", STALE, 0, "backend_busy", 0)]
        assert [r[0] for r in conn.execute(
            "SELECT reason FROM cooldowns WHERE type = 'CooldownStarted' ORDER BY seq")] == [
            "backendBusy", "rateLimit"]
        assert conn.execute("SELECT retry_after_raw FROM cooldowns WHERE reason = 'rateLimit'"
                            ).fetchone() == ("120",)
        answers = conn.execute("SELECT wal_id, type, http_status FROM upload_answers "
                               "ORDER BY seq").fetchall()
        assert answers == [(a, "UploadAccepted", 202), (b, "UploadRateLimited", 429)]
        # One row per pass the pause held (both recordings waiting), none per recording.
        assert conn.execute("SELECT path, count, gate_reason, wal_ids FROM held_passes"
                            ).fetchall() == [("batch", 2, "rateLimit", "[]")]
        assert conn.execute("SELECT count(*) FROM skipped_uploads").fetchone() == (0,)
        assert conn.execute("SELECT count(*) FROM retry_bumps").fetchone() == (0,)
