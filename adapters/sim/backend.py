"""The simulated backend (spec sections 6, 10, 11): fair-use, storage, a FIFO postprocess pool,
jobs with the 10-minute stale guard applied on read, a 24 h TTL, content failures and dedup.

Time is virtual seconds since the scenario started; the model advances lazily to the time
of each request, so it never needs a thread or a clock of its own.
"""

from __future__ import annotations

import heapq
import re
import struct
from collections import Counter, deque
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any, Final

from attrs import define, field, frozen

from walsync.adapters.sim.fair_use import FairUse, FairUseConfig

__all__ = ["STALE_GUARD_ERROR", "TERMINAL_STATUSES", "BackendConfig", "SimBackend", "SimJob",
           "Upload", "status_body"]

STALE_GUARD_ERROR: Final = "Job timed out (background worker likely died)"
# A job's body carries its result and error only in these statuses.
TERMINAL_STATUSES: Final = frozenset({"completed", "partial_failure", "failed"})
_EARLIEST: Final = datetime(2024, 1, 1, tzinfo=UTC).timestamp()
_NAME: Final = re.compile(r"^audio_.*_(\d+)\.bin$")
_CHUNK: Final = 5  # processed_segments is written after every chunk of 5 segments


@frozen(kw_only=True)
class BackendConfig:
    """Capacities and costs; the defaults are the spec's numbers."""

    postprocess_workers: int = 24
    storage_workers: int = 96
    storage_seconds: float = 0.5
    job_overhead_seconds: float = 20.0
    seconds_per_segment: float = 6.0
    audio_seconds_per_segment: float = 30.0
    frame_seconds: float = 1.0
    speech_ratio: float = 0.6
    stale_after_seconds: float = 600.0
    job_ttl_seconds: float = 86_400.0
    fair_use: FairUseConfig = field(factory=FairUseConfig)
    honour_idempotency_key: bool = True
    # A throttling server for a test or a trial (`serve-sim --throttle-first N`): the first N
    # upload requests are answered 429, with this Retry-After value when one is given.
    throttle_first: int = 0
    throttle_retry_after: str | None = None


@frozen(kw_only=True)
class Upload:
    """One file as the backend received it."""

    name: str
    content: bytes


@define(kw_only=True)
class SimJob:
    """A Redis job record (`sync_job:<id>`) plus the schedule the pool gave it."""

    job_id: str
    created_at: float
    files: list[Upload]
    updated_at: float
    status: str = "queued"
    total_segments: int = 0
    processed_segments: int = 0
    successful_segments: int = 0
    failed_segments: int = 0
    error: str | None = None
    result: dict[str, list[str]] | None = None
    started_at: float | None = None
    finished_at: float | None = None
    outcome: dict[str, Any] | None = None
    worker_done: bool = False


def status_body(job: SimJob) -> dict[str, Any]:
    """The JSON body a status request gets for the job: its result and error once done."""
    body: dict[str, Any] = {
        "job_id": job.job_id, "status": job.status, "total_segments": job.total_segments,
        "processed_segments": job.processed_segments,
        "successful_segments": job.successful_segments,
        "failed_segments": job.failed_segments,
    }
    if job.status in TERMINAL_STATUSES:
        if job.result:
            body["result"] = job.result
        if job.error:
            body["error"] = job.error
    return body


@define(kw_only=True)
class _Work:
    arrival: float
    duration: float
    job_id: str | None = None


@define
class SimBackend:
    """The backend's state and its two endpoints as plain methods over virtual time."""

    config: BackendConfig = field(factory=BackendConfig)
    epoch: float = 0.0  # unix seconds at virtual time 0, for file-name timestamp checks
    jobs: dict[str, SimJob] = field(factory=dict)
    counters: Counter[str] = field(factory=Counter)
    log_heads: list[str] = field(factory=list)
    fair_use: FairUse = field(init=False)
    _workers: list[float] = field(init=False)
    _storage: list[float] = field(init=False)
    _queue: deque[_Work] = field(factory=deque)
    _background: deque[_Work] = field(factory=deque)
    _finishing: list[tuple[float, str]] = field(factory=list)
    _keys: dict[str, str] = field(factory=dict)
    _landed: set[tuple[str, int]] = field(factory=set)
    _now: float = 0.0

    def __attrs_post_init__(self) -> None:
        self.fair_use = FairUse(self.config.fair_use)
        self._workers = [0.0] * self.config.postprocess_workers
        self._storage = [0.0] * self.config.storage_workers

    # -- load from elsewhere ------------------------------------------------------------

    def add_background_work(self, arrivals: list[tuple[float, float]]) -> None:
        """Other post-processing work sharing the pool: (arrival, duration) pairs."""
        merged = [*self._background, *(_Work(arrival=a, duration=d) for a, d in arrivals)]
        self._background = deque(sorted(merged, key=lambda work: work.arrival))

    # -- the two endpoints --------------------------------------------------------------

    def upload(self, now: float, files: list[Upload], *, idempotency_key: str | None = None,
               log_head: str | None = None) -> tuple[int, dict[str, Any], dict[str, str]]:
        """POST /v2/sync-local-files -> (status, JSON body, headers)."""
        self._advance(now)
        self.counters["upload_requests"] += 1
        if log_head:
            self.log_heads.append(log_head)
        if idempotency_key and idempotency_key in self._keys:
            self.counters["duplicate_keys"] += 1
            if self.config.honour_idempotency_key:
                job = self.jobs[self._keys[idempotency_key]]
                return 202, self._accepted(job), {}
        if self.counters["upload_requests"] <= self.config.throttle_first:
            self.counters["responses_429"] += 1
            retry_after = self.config.throttle_retry_after
            return 429, {"detail": "Too many requests"}, (
                {"Retry-After": retry_after} if retry_after is not None else {})
        if self.fair_use.blocks_upload(now):
            self.counters["responses_429"] += 1
            return 429, {"detail": "Account temporarily restricted due to fair-use policy"}, (
                self._retry_after(now))
        if not files or any(not self._valid_name(f.name, now) for f in files):
            self.counters["responses_400"] += 1
            return 400, {"detail": "Invalid file name"}, {}
        created = self._store(now, len(files))
        job = SimJob(job_id=f"job-{len(self.jobs) + 1:06d}", created_at=created, files=files,
                     updated_at=created)
        self.jobs[job.job_id] = job
        if idempotency_key:
            self._keys[idempotency_key] = job.job_id
        self._admit_background(created)
        self._queue.append(_Work(arrival=created, duration=self._duration(job),
                                 job_id=job.job_id))
        self.counters["responses_202"] += 1
        return 202, self._accepted(job), {}

    def status(self, now: float, job_id: str) -> tuple[int, dict[str, Any]]:
        """GET /v2/sync-local-files/{job_id} -> (status, JSON body)."""
        job = self.read_job(now, job_id)
        if job is None:
            return 404, {"detail": "Sync job not found or expired"}
        return 200, status_body(job)

    def read_job(self, now: float, job_id: str) -> SimJob | None:
        """The job record a status request reads at `now` (None: not found or expired, a 404);
        the stale guard runs here. The record itself, not a copy: read it, never change it."""
        self._advance(now)
        self.counters["status_polls"] += 1
        job = self.jobs.get(job_id)
        if job is None or now - job.updated_at > self.config.job_ttl_seconds:
            return None
        self._settle(job, now)
        if job.status in ("queued", "processing") and (
                now - job.updated_at > self.config.stale_after_seconds):
            job.status, job.error = "failed", STALE_GUARD_ERROR
            job.updated_at = now
            self.counters["stale_guard_failures"] += 1
        return job

    # -- the pipeline -------------------------------------------------------------------

    def _retry_after(self, now: float) -> dict[str, str]:
        """The 429's Retry-After header, as the fair-use configuration asks (none by default)."""
        config = self.config.fair_use
        if config.retry_after_date_in is not None:
            moment = datetime.fromtimestamp(self.epoch + now + config.retry_after_date_in, UTC)
            return {"Retry-After": format_datetime(moment, usegmt=True)}
        return {"Retry-After": config.retry_after} if config.retry_after is not None else {}

    def _accepted(self, job: SimJob) -> dict[str, Any]:
        return {"job_id": job.job_id, "status": "queued", "total_files": len(job.files),
                "total_segments": 0, "poll_after_ms": 3000}

    def _valid_name(self, name: str, now: float) -> bool:
        match = _NAME.match(name)
        if not match or "_" not in name:
            return False
        stamp = int(match.group(1))
        return _EARLIEST <= stamp <= self.epoch + now

    def _store(self, now: float, files: int) -> float:
        """The raw-file save on the storage pool; a saturated pool delays the job's creation."""
        done = now
        for _ in range(files):
            start = max(now, heapq.heappop(self._storage))
            heapq.heappush(self._storage, start + self.config.storage_seconds)
            done = max(done, start + self.config.storage_seconds)
        return done

    def _segments(self, upload: Upload) -> tuple[int, bool]:
        """(VAD segments, decode ok) from the body: (4-byte LE length, frame) records."""
        body, offset, frames = upload.content, 0, 0
        while offset + 4 <= len(body):
            (length,) = struct.unpack_from("<I", body, offset)
            offset += 4 + length
            frames += 1
        if offset != len(body) or frames == 0:
            return 0, False
        speech = frames * self.config.frame_seconds * self.config.speech_ratio
        return max(1, round(speech / self.config.audio_seconds_per_segment)), True

    def _duration(self, job: SimJob) -> float:
        segments = sum(self._segments(f)[0] for f in job.files)
        return self.config.job_overhead_seconds + segments * self.config.seconds_per_segment

    def _admit_background(self, upto: float) -> None:
        while self._background and self._background[0].arrival <= upto:
            self._queue.append(self._background.popleft())

    def _advance(self, now: float) -> None:
        """Start queued work on free workers and finish jobs, in time order, up to `now`.

        Invariant: background work that arrived before a job was admitted ahead of it
        (`upload` admits up to the job's arrival), so the queue is in arrival order.
        """
        now = max(now, self._now)
        while True:
            if not self._queue and self._background and self._background[0].arrival <= now:
                self._queue.append(self._background.popleft())
            if not self._queue:
                break
            work = self._queue[0]
            start = max(self._workers[0], work.arrival)
            if start > now:
                break
            self._queue.popleft()
            heapq.heapreplace(self._workers, start + work.duration)
            if work.job_id is not None:
                self._start(self.jobs[work.job_id], start, start + work.duration)
        while self._finishing and self._finishing[0][0] <= now:
            _, job_id = heapq.heappop(self._finishing)
            self._settle(self.jobs[job_id], now)
        self._now = now

    def _start(self, job: SimJob, start: float, finish: float) -> None:
        """mark_job_processing overwrites whatever is there, even a stale-guard failure."""
        job.status, job.error, job.started_at, job.finished_at = "processing", None, start, finish
        job.updated_at, job.worker_done = start, False
        heapq.heappush(self._finishing, (finish, job.job_id))

    def _settle(self, job: SimJob, now: float) -> None:
        """Bring a started job's record up to `now`: decode, VAD, chunk progress, the end.

        The worker's writes never check the status first: a job the stale guard rewrote to
        `failed` keeps being processed and its completion overwrites it (spec section 11).
        """
        if job.started_at is None or job.finished_at is None or job.worker_done:
            return
        outcome = job.outcome or self._process(job)
        job.outcome = outcome
        decoded_at = job.started_at + self.config.job_overhead_seconds
        if now < decoded_at:
            return
        if outcome["decode_failed"]:
            job.status, job.error, job.updated_at = "failed", outcome["error"], decoded_at
            job.worker_done = True
            self.counters["jobs_failed"] += 1
            return
        total = outcome["total"]
        job.total_segments = total
        elapsed = min(now, job.finished_at) - decoded_at
        done = min(total, max(0, int(elapsed // self.config.seconds_per_segment)))
        chunks = done // _CHUNK
        job.processed_segments = chunks * _CHUNK
        job.updated_at = max(job.updated_at,
                             decoded_at + chunks * _CHUNK * self.config.seconds_per_segment)
        if now >= job.finished_at:
            self._complete(job, outcome)
            job.worker_done = True

    def _process(self, job: SimJob) -> dict[str, Any]:
        """Decode every file first (a decode failure lands nothing), then VAD and STT."""
        counted = []
        for upload in job.files:
            segments, ok = self._segments(upload)
            if not ok:
                return {"decode_failed": True, "total": 0,
                        "error": f"Decode failed: {upload.name} is not a valid frame stream"}
            counted.append((upload, segments))
        total = failed = 0
        new: list[str] = []
        for upload, segments in counted:
            broken = b"SEGFAIL" in upload.content
            for index in range(segments):
                total += 1
                if broken:
                    failed += 1
                    continue
                key = (upload.name, index)
                if key in self._landed:
                    self.counters["segments_deduplicated"] += 1
                    continue
                self._landed.add(key)
                new.append(f"conv-{upload.name.rsplit('_', 1)[1][:-4]}-{index}")
        return {"decode_failed": False, "total": total, "failed": failed, "new": new}

    def _complete(self, job: SimJob, outcome: dict[str, Any]) -> None:
        """mark_job_completed: completed, partial_failure, or failed when every segment failed."""
        total, failed = outcome["total"], outcome["failed"]
        job.processed_segments, job.failed_segments = total, failed
        job.successful_segments = max(0, total - failed)
        job.result = {"new_memories": outcome["new"], "updated_memories": []}
        if total > 0 and failed >= total:
            job.status, job.error = "failed", f"All {total} segments failed processing"
        elif failed > 0:
            job.status = "partial_failure"
        else:
            job.status = "completed"
        assert job.finished_at is not None
        job.updated_at = job.finished_at
        speech_ms = int(job.successful_segments * self.config.audio_seconds_per_segment * 1000)
        self.fair_use.meter(job.finished_at, speech_ms)
        self.counters[f"jobs_{job.status}"] += 1
