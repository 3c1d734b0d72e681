"""What the backend answered, as plain data the decisions read (the client maps HTTP to these)."""

from __future__ import annotations

from typing import Literal

from attrs import field, frozen

__all__ = [
    "TERMINAL_JOB_STATUSES",
    "JobStatus",
    "JobStatusResult",
    "JobUnreachable",
    "JobVanished",
    "UploadAnswer",
    "UploadError",
    "UploadJobAccepted",
    "UploadLost",
    "UploadProcessed",
    "UploadThrottled",
    "UploadUnusable",
]

TERMINAL_JOB_STATUSES = frozenset({"completed", "partial_failure", "failed"})
_strs = field(default=(), converter=tuple)


@frozen(kw_only=True)
class UploadProcessed:
    """200: the v2 fast path finished the files (the PR-era server never sends it)."""

    new_conversations: tuple[str, ...] = _strs
    updated_conversations: tuple[str, ...] = _strs


@frozen(kw_only=True)
class UploadJobAccepted:
    """202 with a non-empty job id."""

    job_id: str


@frozen(kw_only=True)
class UploadThrottled:
    """429, with the raw Retry-After header and the server's detail text."""

    retry_after_raw: str | None = None
    detail: str | None = None


@frozen(kw_only=True)
class UploadError:
    """Any other answer, or no answer: kind plus the client's message and the HTTP status."""

    kind: Literal["bad_request", "too_large", "server_error", "unexpected", "network",
                  "file_changed"]
    message: str
    http_status: int | None = None


@frozen(kw_only=True)
class UploadLost:
    """The request may have been applied but the answer was lost (a timeout after sending, a
    body cut off or over the size cap)."""

    detail: str


@frozen(kw_only=True)
class UploadUnusable:
    """A 200 or 202 whose body was read in full but is of no use: no (or an empty) job id, or
    not the JSON expected. The server took the files; the app throws on it like on an error."""

    http_status: int
    detail: str


UploadAnswer = (UploadProcessed | UploadJobAccepted | UploadThrottled | UploadError | UploadLost
                | UploadUnusable)


@frozen(kw_only=True)
class JobStatus:
    """200 from the status endpoint, parsed."""

    job_id: str
    status: str
    total_segments: int = 0
    processed_segments: int = 0
    successful_segments: int = 0
    failed_segments: int = 0
    error: str | None = None
    new_conversations: tuple[str, ...] = _strs
    updated_conversations: tuple[str, ...] = _strs

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL_JOB_STATUSES


@frozen(kw_only=True)
class JobVanished:
    """404 or 403: the server no longer has the job for us."""

    http_status: int


@frozen(kw_only=True)
class JobUnreachable:
    """No usable answer (network error, other status, unparseable body): try again later."""

    http_status: int | None = None
    detail: str = ""


JobStatusResult = JobStatus | JobVanished | JobUnreachable
