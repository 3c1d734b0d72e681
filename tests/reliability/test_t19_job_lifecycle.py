"""T19: the job lifecycle against the backend model: stale guard, failed, partial_failure, 404.

Contract: a stale-guard failure sends the recording back to retryable with a reason event (under
walsync it is backend-busy: a 10-minute pause, no budget spent); a content failure spends one;
partial_failure keeps the per-part results; a job the server no longer knows (404) is "lost by
server" and re-uploaded under a new attempt key; `why` explains every step from the log.
"""

from __future__ import annotations

from pathlib import Path

from netfakes import ModelHarness

from walsync.adapters.diagnosis.why import explain_wal
from walsync.adapters.sim.backend import STALE_GUARD_ERROR, BackendConfig
from walsync.adapters.store.sqlite import SqliteStore
from walsync.core.events import JobFailed
from walsync.core.policies import WALSYNC
from walsync.core.responses import JobStatus, UploadJobAccepted

from fakes import Harness


def _stalled_model(tmp_path: Path) -> ModelHarness:
    # One worker busy for an hour per job: an accepted job sits until the stale guard fails it.
    config = BackendConfig(postprocess_workers=1, job_overhead_seconds=3600.0)
    return ModelHarness(config=config, store=SqliteStore(tmp_path / "log.db"))


def test_t19_stale_guard_sends_the_recording_back_with_a_reason_and_a_busy_pause(tmp_path: Path) -> None:
    h = _stalled_model(tmp_path)
    [w] = h.add(conversation_id="c")
    h.engine.auto_sync(w)
    job = h.engine.row(w).job_id
    assert job is not None
    h.advance(300)
    h.engine.reconcile()
    assert h.engine.row(w).state == "uploaded"
    h.advance(301)  # 601 s after the job was made
    h.engine.reconcile()
    row = h.engine.row(w)
    assert row.state == "miss" and row.job_id is None and row.retry_count == 0
    [failed] = [r.event for r in h.store.read() if isinstance(r.event, JobFailed)]
    assert failed.server_error == STALE_GUARD_ERROR and failed.classification == "backend_busy"
    gate = h.engine.gate().gate
    assert gate.reason == "backendBusy" and gate.until is not None
    assert (gate.until - h.clock.now()).total_seconds() == 600
    why = explain_wal(tmp_path / "log.db", w)
    assert why.stalled and why.last_failure is not None
    assert why.last_failure["server_error"] == STALE_GUARD_ERROR
    assert why.blocked_by is not None


def test_t19_a_job_the_server_forgot_is_reuploaded_under_a_new_key(tmp_path: Path) -> None:
    h = _stalled_model(tmp_path)
    [w] = h.add(conversation_id="c")
    h.engine.auto_sync(w)
    first_key = h.transport.uploads()[0].headers["idempotency-key"]
    h.model.jobs.clear()  # the server lost it (Redis flushed / expired): 404 from now on
    h.engine.reconcile()
    row = h.engine.row(w)
    assert row.state == "miss" and row.retry_count == 1 and "JobNotFound" in h.types()
    h.engine.auto_sync(w)
    assert h.transport.uploads()[1].headers["idempotency-key"] != first_key
    assert h.engine.row(w).state == "uploaded" and len(h.model.jobs) == 1
    why = explain_wal(tmp_path / "log.db", w)
    assert why.state == "uploaded" and "HTTP 404" in why.summary


def test_t19_failed_spends_budget_and_partial_failure_keeps_its_results() -> None:
    h = Harness(WALSYNC)
    [a, b] = h.add(2)
    h.backend.answer_uploads(UploadJobAccepted(job_id="job-f"), UploadJobAccepted(job_id="job-p"))
    h.engine.sync_wal(a)
    h.engine.sync_wal(b)
    h.backend.answer_job("job-f", JobStatus(job_id="job-f", status="failed", total_segments=3,
                                            failed_segments=3, error="decode error"))
    h.backend.answer_job("job-p", JobStatus(job_id="job-p", status="partial_failure",
                                            total_segments=4, failed_segments=1,
                                            error="segment 2: stt error",
                                            new_conversations=("conv-1",),
                                            updated_conversations=("conv-2",)))
    report = h.engine.reconcile()
    assert (h.row(a).state, h.row(a).retry_count) == ("miss", 1)
    assert (h.row(b).state, h.row(b).retry_count) == ("miss", 1)
    [partial] = [r.event for r in h.store.read()
                 if isinstance(r.event, JobFailed) and r.event.server_status == "partial_failure"]
    assert partial.new_conversations == ("conv-1",) and partial.updated_conversations == ("conv-2",)
    assert (partial.failed_segments, partial.total_segments) == (1, 4)
    assert set(report.conversations) == {"conv-1", "conv-2"}
