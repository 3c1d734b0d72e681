"""The simulated backend as the engine's Backend, called directly: no HTTP on the way.

A simulated job-status poll through the real HTTP client cost about 1 ms (building the
request, a deadline watchdog thread, httpx's send, the answer's parse) against 2 us in the
model. The reconciler asks every uploaded job on every pass, so polls per logged event grow
with the backlog, and with them the simulator's cost per event (bench/bench_sim.py prints
both). This backend gives the engine the very answers the HTTP client gives over
`SimTransport` (the same classes, texts and fields, the same seeded network faults drawn in
the same order), which tests/sim/test_inprocess_backend.py holds on whole runs; a run can
still go over HTTP (`over_http=True`). A status answer is made from the job record itself,
not from a JSON body parsed back (tests/sim/test_sim_scale.py holds the two equal).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from typing import Final

import httpx
from attrs import define

from walsync.adapters.http.answers import parse_upload_body, valid_job_id
from walsync.adapters.ports import Readable, UploadFile
from walsync.adapters.sim.backend import TERMINAL_STATUSES, SimBackend, SimJob, Upload
from walsync.core.responses import (
    JobStatus,
    JobStatusResult,
    JobUnreachable,
    JobVanished,
    UploadAnswer,
    UploadError,
    UploadLost,
    UploadThrottled,
)

__all__ = ["DEADLINE_SECONDS", "FlakyTransport", "InProcessBackend", "NetworkFaults",
           "job_status_of"]

# The HTTP client's default overall deadline: the engine derives an upload's claim from it.
DEADLINE_SECONDS: Final = 60.0
_REFUSED: Final = "simulated: network unreachable"
_LOST: Final = "simulated: answer lost"


@define
class NetworkFaults:
    """A bad connection, drawn from one seeded source: connect failures, and answers lost after
    the server applied the request (the client sees a read timeout)."""

    rng: random.Random
    connect_failure: float = 0.0
    lost_answer: float = 0.0

    def refuses(self) -> bool:
        """Does this request fail before it is sent?"""
        return bool(self.connect_failure) and self.rng.random() < self.connect_failure

    def loses(self) -> bool:
        """Is this applied request's answer lost on the way back?"""
        return bool(self.lost_answer) and self.rng.random() < self.lost_answer


class FlakyTransport(httpx.BaseTransport):
    """The faults in front of an httpx transport (a run over HTTP)."""

    def __init__(self, inner: httpx.BaseTransport, faults: NetworkFaults) -> None:
        self.inner, self.faults = inner, faults

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        """Maybe fail before sending, maybe lose the answer after the server applied it."""
        if self.faults.refuses():
            raise httpx.ConnectError(_REFUSED, request=request)
        response = self.inner.handle_request(request)
        if self.faults.loses():
            raise httpx.ReadTimeout(_LOST, request=request)
        return response


class InProcessBackend:
    """The engine's Backend port straight into the model at the virtual time `now()` says,
    answering as `HttpBackend` maps the simulated server's replies."""

    deadline_seconds: Final = DEADLINE_SECONDS

    def __init__(self, model: SimBackend, now: Callable[[], float],
                 faults: NetworkFaults) -> None:
        self.model, self.now, self.faults = model, now, faults
        self.log_head: Callable[[], str | None] | None = None  # set by open_engine

    def upload(self, files: Sequence[UploadFile], *, conversation_id: str | None = None,
               idempotency_key: str | None = None) -> UploadAnswer:
        """POST /v2/sync-local-files, answered as the HTTP client maps it."""
        del conversation_id  # the simulated server does not read it
        if not files:
            raise ValueError("upload needs at least one file")
        if self.faults.refuses():
            return UploadError(kind="network", message=f"ConnectError: {_REFUSED}")
        uploads = [Upload(name=f.name, content=_read(f.content)) for f in files]
        head = self.log_head() if self.log_head is not None else None
        status, body, headers = self.model.upload(self.now(), uploads,
                                                  idempotency_key=idempotency_key,
                                                  log_head=head)
        if self.faults.loses():
            return UploadLost(detail=f"ReadTimeout: {_LOST}")
        if status == 202:
            return parse_upload_body(status, body)
        if status == 429:
            return UploadThrottled(retry_after_raw=headers.get("Retry-After"),
                                   detail=_text(body.get("detail")))
        if status == 400:
            return UploadError(kind="bad_request",
                               message="Audio file could not be processed by server",
                               http_status=status)
        raise AssertionError(f"the simulated backend answered an upload with {status}")

    def job_status(self, job_id: str) -> JobStatusResult:
        """GET /v2/sync-local-files/{job_id}, answered as the HTTP client maps it."""
        if not valid_job_id(job_id):
            return JobUnreachable(http_status=None, detail="invalid job id")
        if self.faults.refuses():
            return JobUnreachable(http_status=None, detail=f"ConnectError: {_REFUSED}")
        job = self.model.read_job(self.now(), job_id)
        if self.faults.loses():
            return JobUnreachable(http_status=None, detail=f"ReadTimeout: {_LOST}")
        if job is None:
            return JobVanished(http_status=404)
        return job_status_of(job)


def job_status_of(job: SimJob) -> JobStatus:
    """The answer `parse_job_status` makes of `status_body(job)` (the fields; the result and
    error a body carries only once the job is done), made without the body: the reconciler
    asks every uploaded job every pass, so this runs per poll."""
    done = job.status in TERMINAL_STATUSES
    result = job.result if done and job.result else {}
    return JobStatus(job_id=job.job_id, status=job.status,
                     error=job.error if done and job.error else None,
                     total_segments=job.total_segments,
                     processed_segments=job.processed_segments,
                     successful_segments=job.successful_segments,
                     failed_segments=job.failed_segments,
                     new_conversations=tuple(result.get("new_memories", ())),
                     updated_conversations=tuple(result.get("updated_memories", ())))


def _read(content: bytes | Readable) -> bytes:
    """A part's bytes, from bytes or a stream read whole."""
    return content if isinstance(content, bytes) else bytes(content.read())


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None
