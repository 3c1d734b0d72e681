"""Rebuilding every projection from seq 0 gives exactly the incrementally written tables."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from walsync.adapters.store.share.replay import replay_into
from walsync.adapters.store.sqlite import SqliteStore
from walsync.adapters.store.tables import dump_projection_tables
from walsync.core.errors import WalsyncError
from walsync.core.policies import POLICIES
from walsync.core.responses import (
    JobStatus,
    JobUnreachable,
    JobVanished,
    UploadError,
    UploadJobAccepted,
    UploadLost,
    UploadProcessed,
    UploadThrottled,
)

from fakes import Harness

STALE = "Job timed out (background worker likely died)"

upload_answers = st.sampled_from([
    UploadJobAccepted(job_id="job-a"), UploadJobAccepted(job_id="job-b"), UploadProcessed(),
    UploadThrottled(), UploadThrottled(retry_after_raw="120"),
    UploadError(kind="server_error", message="Server is temporarily unavailable",
                http_status=503),
    UploadError(kind="network", message="connection refused"), UploadLost(detail="timeout"),
])
job_answers = st.sampled_from([
    JobStatus(job_id="x", status="queued"), JobStatus(job_id="x", status="completed"),
    JobStatus(job_id="x", status="failed", error=STALE),
    JobStatus(job_id="x", status="failed", total_segments=4, failed_segments=4, error="all"),
    JobStatus(job_id="x", status="partial_failure", total_segments=4, failed_segments=1),
    JobVanished(http_status=404), JobUnreachable(http_status=500, detail="boom"),
])
commands = st.lists(st.tuples(
    st.sampled_from(["add", "sync_all", "sync_wal", "auto_sync", "reconcile", "tick", "advance",
                     "delete", "lose_file"]),
    st.integers(0, 5), upload_answers, job_answers), min_size=1, max_size=40)


def drive(h: Harness, script: list[tuple[str, int, object, object]]) -> None:
    for name, pick, upload, job in script:
        wals = [r.wal_id for r in h.engine.rows()]
        target = wals[pick % len(wals)] if wals else None
        h.backend.answer_uploads(upload)  # type: ignore[arg-type]
        for job_id in ("job-a", "job-b"):
            h.backend.job_answers.pop(job_id, None)
            h.backend.answer_job(job_id, job)  # type: ignore[arg-type]
        try:
            if name == "add":
                h.add(1, conversation_id="conv" if pick % 2 else None)
            elif name == "sync_all":
                h.engine.sync_all()
            elif name in ("sync_wal", "auto_sync") and target:
                getattr(h.engine, name)(target)
            elif name == "reconcile":
                h.engine.reconcile()
            elif name == "tick":
                h.engine.tick()
            elif name == "advance":
                h.clock.advance(60 * (pick + 1) ** 3)
            elif name == "delete" and target:
                h.engine.delete(target)
            elif name == "lose_file" and target:
                h.files.contents.pop(target, None)
        except WalsyncError:
            pass  # illegal commands are refused; the invariant must still hold


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
@given(policy=st.sampled_from(sorted(POLICIES)), script=commands)
def test_rebuild_from_seq_zero_equals_the_incremental_tables(
        tmp_path_factory: object, policy: str, script: list[tuple[str, int, object, object]]
) -> None:
    folder = Path(tmp_path_factory.mktemp("replay"))  # type: ignore[attr-defined]
    live_path = folder / "live.db"
    h = Harness(POLICIES[policy], store=SqliteStore(live_path))
    drive(h, script)
    h.engine.close()
    with sqlite3.connect(live_path) as live:
        incremental = dump_projection_tables(live)
    copy = folder / "replayed.db"
    replay_into(live_path, copy)
    with sqlite3.connect(copy) as replayed:
        assert dump_projection_tables(replayed) == incremental
    rebuilt = SqliteStore(live_path)
    rebuilt.rebuild_projections()
    rebuilt.close()
    with sqlite3.connect(live_path) as again:
        assert dump_projection_tables(again) == incremental
