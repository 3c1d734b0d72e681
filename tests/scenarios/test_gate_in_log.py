"""Spec section 5 and docs/design.md (The gate): the cooldown gate lives in the log."""

from __future__ import annotations

from pathlib import Path

import pytest

from walsync.adapters.store.sqlite import SqliteStore
from walsync.core.policies import SEED, WALSYNC
from walsync.core.responses import JobStatus, UploadJobAccepted, UploadThrottled

from fakes import Harness

STALE = "Job timed out (background worker likely died)"


def throttle(h: Harness, retry_after: str | None) -> None:
    h.add(1)
    h.backend.answer_uploads(UploadThrottled(retry_after_raw=retry_after))
    h.engine.sync_all()


@pytest.mark.parametrize(("raw", "seconds", "default"), [
    (None, 1800, True), ("120", 120, False), ("0", 1800, True), ("-5", 1800, True),
    ("soon", 1800, True), ("999999999", 86_400, False),
])
def test_retry_after_sets_the_pause_with_default_and_cap(raw: str | None, seconds: int,
                                                         default: bool) -> None:
    h = Harness(SEED)
    throttle(h, raw)
    started = next(r.event for r in h.store.read() if r.type == "CooldownStarted")
    assert started.seconds == seconds  # type: ignore[attr-defined]
    assert started.default_applied is default  # type: ignore[attr-defined]
    assert started.retry_after_raw == raw  # type: ignore[attr-defined]


def test_http_date_retry_after_is_read_by_walsync_and_defaulted_by_seed() -> None:
    results = {}
    for policy in (SEED, WALSYNC):
        h = Harness(policy)
        throttle(h, "Wed, 20 May 2026 09:00:00 GMT")  # one hour after the harness clock
        results[policy.name] = h.engine.gate().gate.until
    assert (results["seed"] - results["walsync"]).total_seconds() == 1800 - 3600


def test_busy_revert_during_a_fair_use_pause_through_the_engine() -> None:
    for policy, expected_reason in ((SEED, "backendBusy"), (WALSYNC, "rateLimit")):
        h = Harness(policy)
        [w] = h.add(1)
        h.backend.answer_uploads(UploadJobAccepted(job_id="job-1"))
        h.engine.sync_all()
        throttle(h, "10800")
        h.clock.advance(601)
        h.backend.answer_job("job-1", JobStatus(job_id="job-1", status="failed", error=STALE))
        h.engine.reconcile()
        assert h.engine.gate().gate.reason == expected_reason, policy.name
        started = [r.event for r in h.store.read() if r.type == "CooldownStarted"][-1]
        assert started.requested_reason == "backendBusy"  # type: ignore[attr-defined]
        assert h.row(w).retry_count == 0


def test_expiry_is_recorded_at_the_first_tick_past_the_deadline() -> None:
    h = Harness(SEED)
    throttle(h, "60")
    h.clock.advance(59)
    h.engine.tick()
    assert "CooldownExpired" not in h.types()
    h.clock.advance(2)
    h.engine.tick()
    h.engine.tick()
    assert h.types().count("CooldownExpired") == 1
    assert not h.engine.gate().gate.limited
    assert h.engine.card().text == "1 recording ready to sync"


def test_walsync_resumes_uploads_after_a_jittered_pause_and_seed_waits_for_a_trigger() -> None:
    uploads = {}
    for policy in (SEED, WALSYNC):
        h = Harness(policy)
        throttle(h, "60")
        h.clock.advance(61)
        h.engine.tick()
        for _ in range(20):  # 20 ticks of 10 s: past the 120 s jitter ceiling
            h.clock.advance(10)
            h.engine.tick()
        uploads[policy.name] = len(h.backend.uploads)
        if policy is WALSYNC:
            expired = next(r.event for r in h.store.read() if r.type == "CooldownExpired")
            resume_at = expired.resume_at  # type: ignore[attr-defined]
            assert 0 <= (resume_at - expired.at).total_seconds() <= 120
            assert "UploadsResumed" in h.types()
    assert uploads == {"seed": 1, "walsync": 2}


def test_any_successful_upload_clears_the_gate() -> None:
    h = Harness(SEED)
    throttle(h, "600")
    [w] = h.add(1)
    h.backend.answer_uploads(UploadJobAccepted(job_id="j"))
    h.engine.sync_wal(w)
    assert not h.engine.gate().gate.limited
    cleared = next(r.event for r in h.store.read() if r.type == "CooldownCleared")
    assert cleared.cause_wal_id == w and cleared.http_status == 202  # type: ignore[attr-defined]


def test_reopening_the_database_restores_the_gate_rows_and_card(tmp_path: Path) -> None:
    path = tmp_path / "log.db"
    h = Harness(SEED, store=SqliteStore(path))
    throttle(h, "3600")
    h.add(2)
    before = (h.engine.rows(), h.engine.card(), h.engine.card("auto_sync"), h.engine.gate())
    h.engine.close()
    reopened = Harness(SEED, store=SqliteStore(path))
    after = (reopened.engine.rows(), reopened.engine.card(), reopened.engine.card("auto_sync"),
             reopened.engine.gate())
    assert after == before
    assert reopened.engine.gate().gate.limited
    assert reopened.types().count("PolicyApplied") == 1  # same policy: not recorded twice
