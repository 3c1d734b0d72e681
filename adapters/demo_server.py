"""A tiny in-process backend for the built-in demo, spoken to through the real HTTP client.

It follows spec sections 6 and 10 in miniature: while the account is over its fair-use cap
uploads get 429 without Retry-After; while the postprocess pool is saturated accepted jobs
stay `queued` and the stale guard rewrites them `failed` after 600 s; otherwise a job
completes 60 s after it was created. Time is the demo's virtual clock.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Final

import httpx
from attrs import define, field

from walsync.adapters.ports import Clock

__all__ = ["STALE_GUARD_ERROR", "DemoServer"]

STALE_GUARD_ERROR: Final = "Job timed out (background worker likely died)"
_STALE_AFTER: Final = timedelta(seconds=600)
_PROCESSING_TIME: Final = timedelta(seconds=60)


@define
class _Job:
    job_id: str
    created_at: datetime
    files: int
    stuck: bool
    status: str = "queued"
    error: str | None = None


@define
class DemoServer:
    """The backend's two endpoints over a virtual clock, with two switchable incidents."""

    clock: Clock
    fair_use_restricted_until: datetime | None = None
    saturated_until: datetime | None = None
    jobs: dict[str, _Job] = field(factory=dict)
    requests: list[str] = field(factory=list)

    def transport(self) -> httpx.MockTransport:
        """The server as an httpx transport."""
        return httpx.MockTransport(self.handle)

    def handle(self, request: httpx.Request) -> httpx.Response:
        """Route one request."""
        now = self.clock.now()
        path = request.url.path
        self.requests.append(f"{request.method} {path}")
        if request.method == "POST" and path.endswith("/v2/sync-local-files"):
            return self._upload(request, now)
        if request.method == "GET" and "/v2/sync-local-files/" in path:
            return self._status(path.rsplit("/", 1)[-1], now)
        return httpx.Response(404, json={"detail": "Not Found"})

    def _upload(self, request: httpx.Request, now: datetime) -> httpx.Response:
        if self.fair_use_restricted_until and now < self.fair_use_restricted_until:
            return httpx.Response(
                429, json={"detail": "Account temporarily restricted due to fair-use policy"})
        files = request.read().count(b'name="files"')
        job_id = f"job-{len(self.jobs) + 1}"
        stuck = bool(self.saturated_until and now < self.saturated_until)
        self.jobs[job_id] = _Job(job_id=job_id, created_at=now, files=files, stuck=stuck)
        return httpx.Response(202, json={"job_id": job_id, "status": "queued",
                                         "total_files": files, "total_segments": 0,
                                         "poll_after_ms": 3000})

    def _status(self, job_id: str, now: datetime) -> httpx.Response:
        job = self.jobs.get(job_id)
        if job is None:
            return httpx.Response(404, json={"detail": "Sync job not found or expired"})
        age = now - job.created_at
        if job.status == "queued" and job.stuck and age > _STALE_AFTER:
            job.status, job.error = "failed", STALE_GUARD_ERROR
        elif job.status == "queued" and not job.stuck and age >= _PROCESSING_TIME:
            job.status = "completed"
        body: dict[str, object] = {
            "job_id": job.job_id, "status": job.status,
            "total_segments": 0 if job.stuck else job.files * 2,
            "processed_segments": 0 if job.stuck or job.status == "queued" else job.files * 2,
            "successful_segments": 0 if job.status != "completed" else job.files * 2,
            "failed_segments": 0,
        }
        if job.status == "completed":
            body["result"] = {"new_memories": [f"conv-{job.job_id}"], "updated_memories": []}
        if job.error:
            body["error"] = job.error
        return httpx.Response(200, content=json.dumps(body).encode(),
                              headers={"content-type": "application/json"})
