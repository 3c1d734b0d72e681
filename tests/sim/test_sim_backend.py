"""The simulated backend's rules (spec sections 6, 10 and 11), over virtual time."""

from __future__ import annotations

import struct
from datetime import UTC, datetime

import pytest

from walsync.adapters.sim.backend import STALE_GUARD_ERROR, BackendConfig, SimBackend, Upload

EPOCH = 1_750_000_000  # unix seconds at virtual time 0 (2025-06-15)
SATURATION = [(0.0, 900.0)] * 104  # 24 busy workers and 80 queued, each for 15 minutes


def frames(count: int, payload: bytes = b"") -> bytes:
    """A body of `count` (4-byte LE length, frame) records."""
    return b"".join(struct.pack("<I", len(payload)) + payload for _ in range(count))


def audio(segments: int) -> bytes:
    """A valid body that VAD turns into `segments` segments (50 one-second frames each)."""
    return frames(50 * segments)


def name(stamp: int = EPOCH - 3600, device: str = "omi") -> str:
    return f"audio_{device}_opus_16000_1_fs160_{stamp}.bin"


def upload(backend: SimBackend, now: float, *files: Upload, key: str | None = None) -> str:
    status, body, _ = backend.upload(now, list(files), idempotency_key=key)
    assert status == 202, body
    return str(body["job_id"])


def good(segments: int = 1, stamp: int = EPOCH - 3600) -> Upload:
    return Upload(name=name(stamp), content=audio(segments))


def read(backend: SimBackend, now: float, job_id: str) -> dict:
    status, body = backend.status(now, job_id)
    assert status == 200, body
    return body


# -- stale guard -------------------------------------------------------------------------------


@pytest.mark.parametrize("storage_seconds", [0.0, 0.5])
def test_stale_guard_fails_a_queued_job_just_after_600_seconds(storage_seconds: float) -> None:
    backend = SimBackend(BackendConfig(storage_seconds=storage_seconds), epoch=EPOCH)
    backend.add_background_work(SATURATION)
    job_id = upload(backend, 0.0, good())
    created = backend.jobs[job_id].created_at
    assert created == storage_seconds

    at_limit = read(backend, created + 600.0, job_id)
    assert at_limit["status"] == "queued"
    assert "error" not in at_limit

    stale = read(backend, created + 600.001, job_id)
    assert stale["status"] == "failed"
    assert stale["error"] == STALE_GUARD_ERROR == "Job timed out (background worker likely died)"
    assert stale["total_segments"] == 0
    assert backend.counters["stale_guard_failures"] == 1


def test_stale_guard_applies_to_a_job_read_once_long_after() -> None:
    backend = SimBackend(epoch=EPOCH)
    backend.add_background_work(SATURATION)
    job_id = upload(backend, 0.0, good())
    body = read(backend, 2000.0, job_id)  # the job only reaches a worker at 3600 s
    assert body["status"] == "failed"
    assert body["error"] == STALE_GUARD_ERROR
    assert body["total_segments"] == 0
    assert backend.jobs[job_id].updated_at == 2000.0  # the rewrite is persisted


def test_queued_job_that_starts_within_600_seconds_is_not_failed() -> None:
    backend = SimBackend(epoch=EPOCH)
    backend.add_background_work([(0.0, 500.0)] * 24)
    job_id = upload(backend, 0.0, good(2))
    assert read(backend, 450.0, job_id)["status"] == "queued"
    assert read(backend, 510.0, job_id)["status"] == "processing"
    done = read(backend, 2000.0, job_id)
    assert done["status"] == "completed"
    assert backend.counters["stale_guard_failures"] == 0


def test_processing_job_with_chunk_progress_is_not_rewritten() -> None:
    backend = SimBackend(epoch=EPOCH)
    job_id = upload(backend, 0.0, good(200))  # 20 s + 200 x 6 s = 1220 s of processing
    started = backend.jobs[job_id].created_at
    body = read(backend, started + 900.0, job_id)  # the first read, well past 600 s
    assert body["status"] == "processing"
    assert "error" not in body
    assert body["total_segments"] == 200
    assert body["processed_segments"] == 145  # (900 - 20) // 6 = 146 done, written per chunk of 5
    assert backend.counters["stale_guard_failures"] == 0
    assert read(backend, started + 1220.0, job_id)["status"] == "completed"


def test_stale_failed_job_is_overwritten_when_it_reaches_a_worker() -> None:
    backend = SimBackend(epoch=EPOCH)
    backend.add_background_work(SATURATION)
    job_id = upload(backend, 0.0, good())
    assert read(backend, 700.0, job_id)["error"] == STALE_GUARD_ERROR
    # 80 queued items ahead of it on 24 workers: waves at 900, 1800 and 2700 s leave 8,
    # which start at 3600 s alongside it.
    assert read(backend, 3599.0, job_id)["status"] == "failed"
    processing = read(backend, 3610.0, job_id)
    assert processing["status"] == "processing"
    assert "error" not in processing
    assert backend.jobs[job_id].started_at == 3600.0
    done = read(backend, 3626.0, job_id)
    assert done["status"] == "completed"
    assert "error" not in done
    assert done["successful_segments"] == 1
    assert len(done["result"]["new_memories"]) == 1


# Regression: a job the stale guard rewrote to `failed` once stayed failed after its worker finished.
def test_stale_failed_processing_job_is_completed_by_its_worker() -> None:
    # 200 s per segment: no chunk of 5 is written within 600 s of the worker starting.
    backend = SimBackend(BackendConfig(seconds_per_segment=200.0), epoch=EPOCH)
    job_id = upload(backend, 0.0, good(6))  # 20 s + 6 x 200 s = 1220 s
    assert read(backend, 700.0, job_id)["error"] == STALE_GUARD_ERROR
    done = read(backend, 5000.0, job_id)  # the worker finished at 1220.5 s
    assert done["status"] == "completed"
    assert len(done["result"]["new_memories"]) == 6


# -- TTL ---------------------------------------------------------------------------------------


def test_job_expires_86400_seconds_after_its_last_update() -> None:
    backend = SimBackend(epoch=EPOCH)
    job_id = upload(backend, 0.0, good())
    assert read(backend, 100.0, job_id)["status"] == "completed"
    last = backend.jobs[job_id].updated_at
    assert last == pytest.approx(26.5)  # 0.5 s storage + 20 s overhead + 6 s per segment
    assert backend.status(last + 86_400.0, job_id)[0] == 200
    assert backend.status(last + 86_400.001, job_id) == (
        404, {"detail": "Sync job not found or expired"})


def test_stale_rewrite_counts_as_an_update_for_the_ttl() -> None:
    backend = SimBackend(epoch=EPOCH)
    backend.add_background_work([(0.0, 200_000.0)] * 24)  # no worker for days
    job_id = upload(backend, 0.0, good())
    assert read(backend, 1000.0, job_id)["status"] == "failed"
    assert backend.status(87_400.0, job_id)[0] == 200
    assert backend.status(87_400.001, job_id)[0] == 404


def test_unknown_job_is_404() -> None:
    assert SimBackend(epoch=EPOCH).status(0.0, "job-999999") == (
        404, {"detail": "Sync job not found or expired"})


# -- FIFO pool ---------------------------------------------------------------------------------


def test_jobs_start_in_arrival_order_on_a_small_pool() -> None:
    backend = SimBackend(BackendConfig(postprocess_workers=2), epoch=EPOCH)
    first = upload(backend, 0.0, good(1))   # 26 s
    second = upload(backend, 1.0, good(10))  # 80 s
    third = upload(backend, 2.0, good(1))
    fourth = upload(backend, 3.0, good(1))
    read(backend, 1000.0, first)
    started = {j: backend.jobs[j].started_at for j in (first, second, third, fourth)}
    assert started == {first: 0.5, second: 1.5, third: 26.5, fourth: 52.5}


def test_background_work_shares_the_fifo_queue() -> None:
    backend = SimBackend(BackendConfig(postprocess_workers=2), epoch=EPOCH)
    backend.add_background_work([(0.0, 100.0), (0.0, 100.0), (1.0, 50.0), (1.0, 50.0),
                                 (3.0, 10.0)])
    early = upload(backend, 2.0, good())  # behind the four items that arrived before it
    late = upload(backend, 4.0, good())   # behind the item that arrived at 3 s
    assert read(backend, 149.0, early)["status"] == "queued"
    read(backend, 1000.0, early)
    assert backend.jobs[early].started_at == 150.0
    assert backend.jobs[late].started_at == 160.0


# -- content failures --------------------------------------------------------------------------


@pytest.mark.parametrize("content", [b"", b"\x05\x00\x00\x00ab", frames(3) + b"\x01"])
def test_decode_failure_fails_with_zero_segments(content: bytes) -> None:
    backend = SimBackend(epoch=EPOCH)
    job_id = upload(backend, 0.0, Upload(name=name(), content=content))
    body = read(backend, 100.0, job_id)
    assert body["status"] == "failed"
    assert body["error"].startswith("Decode failed")
    assert body["total_segments"] == 0
    assert body["failed_segments"] == 0


def test_segfail_body_fails_every_segment_with_the_count() -> None:
    backend = SimBackend(epoch=EPOCH)
    broken = Upload(name=name(), content=frames(99) + frames(1, b"SEGFAIL"))
    job_id = upload(backend, 0.0, broken)
    body = read(backend, 100.0, job_id)
    assert body["status"] == "failed"
    assert body["error"] == "All 2 segments failed processing"
    assert (body["total_segments"], body["failed_segments"], body["successful_segments"]) == (2, 2, 0)
    assert body["processed_segments"] == 2


def test_mixed_job_is_partial_failure() -> None:
    backend = SimBackend(epoch=EPOCH)
    broken = Upload(name=name(EPOCH - 7200), content=frames(149) + frames(1, b"SEGFAIL"))
    job_id = upload(backend, 0.0, good(2), broken)
    body = read(backend, 200.0, job_id)
    assert body["status"] == "partial_failure"
    assert (body["total_segments"], body["failed_segments"], body["successful_segments"]) == (5, 3, 2)
    assert "error" not in body
    assert len(body["result"]["new_memories"]) == 2


# Regression: a job that failed decoding once landed the segments of the files before the broken one.
def test_decode_failed_job_lands_no_segments() -> None:
    backend = SimBackend(epoch=EPOCH)
    job_id = upload(backend, 0.0, good(2), Upload(name=name(EPOCH - 7200), content=b"\x05"))
    assert read(backend, 100.0, job_id)["error"].startswith("Decode failed")
    retry = upload(backend, 200.0, good(2))
    body = read(backend, 300.0, retry)
    assert backend.counters["segments_deduplicated"] == 0
    assert len(body["result"]["new_memories"]) == 2


# -- dedup -------------------------------------------------------------------------------------


def test_reupload_after_completion_lands_no_new_conversations() -> None:
    backend = SimBackend(epoch=EPOCH)
    first = upload(backend, 0.0, good(3))
    body = read(backend, 100.0, first)
    assert body["status"] == "completed"
    assert len(body["result"]["new_memories"]) == 3
    assert backend.counters["segments_deduplicated"] == 0

    again = upload(backend, 200.0, good(3))
    body = read(backend, 300.0, again)
    assert body["status"] == "completed"
    assert body["successful_segments"] == 3
    assert body["result"]["new_memories"] == []
    assert backend.counters["segments_deduplicated"] == 3

    other = upload(backend, 400.0, good(3, stamp=EPOCH - 60))  # another file still lands
    assert len(read(backend, 500.0, other)["result"]["new_memories"]) == 3


# -- Idempotency-Key ---------------------------------------------------------------------------


def test_same_idempotency_key_returns_the_same_job() -> None:
    backend = SimBackend(epoch=EPOCH)
    first = upload(backend, 0.0, good(), key="k-1")
    second = upload(backend, 5.0, good(), key="k-1")
    assert second == first
    assert len(backend.jobs) == 1
    assert backend.counters["duplicate_keys"] == 1
    assert upload(backend, 6.0, good(), key="k-2") != first


def test_unhonoured_idempotency_key_creates_a_second_job_but_counts_it() -> None:
    backend = SimBackend(BackendConfig(honour_idempotency_key=False), epoch=EPOCH)
    first = upload(backend, 0.0, good(), key="k-1")
    second = upload(backend, 5.0, good(), key="k-1")
    assert second != first
    assert len(backend.jobs) == 2
    assert backend.counters["duplicate_keys"] == 1


# -- file names --------------------------------------------------------------------------------

_BEFORE_2024 = int(datetime(2023, 12, 31, 23, 59, 59, tzinfo=UTC).timestamp())
_START_2024 = int(datetime(2024, 1, 1, tzinfo=UTC).timestamp())


@pytest.mark.parametrize("bad", [
    f"audio_omi_opus_16000_1_fs160_{EPOCH - 60}.wav",
    f"audio_omi_opus_16000_1_fs160_{EPOCH - 60}",
    f"audio_omi_opus_16000_1_fs160_{_BEFORE_2024}.bin",
    f"audio_omi_opus_16000_1_fs160_{EPOCH + 101}.bin",
    "audio_omi_opus_16000_1_fs160_notanumber.bin",
])
def test_bad_file_name_is_400(bad: str) -> None:
    backend = SimBackend(epoch=EPOCH)
    status, body, _ = backend.upload(100.0, [good(), Upload(name=bad, content=audio(1))])
    assert (status, body) == (400, {"detail": "Invalid file name"})
    assert backend.jobs == {}
    assert backend.counters["responses_400"] == 1


@pytest.mark.parametrize("stamp", [_START_2024, EPOCH + 100])
def test_file_name_timestamp_bounds_are_inclusive(stamp: int) -> None:
    backend = SimBackend(epoch=EPOCH)
    status, _, _ = backend.upload(100.0, [Upload(name=name(stamp), content=audio(1))])
    assert status == 202


def test_empty_upload_is_400() -> None:
    assert SimBackend(epoch=EPOCH).upload(0.0, [])[0] == 400
