"""The backend over HTTP (spec section 6): one hardened httpx client whose answers become plain data."""

from __future__ import annotations

import asyncio
import re
import threading
import time
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Any, Final, TypeVar, cast
from urllib.parse import quote

import attrs
import httpx

from walsync.adapters.http.answers import parse_job_status, parse_json_object, parse_upload_body, valid_job_id
from walsync.adapters.http.credentials import Credentials, TokenProvider
from walsync.adapters.http.watchdog import KEEPALIVE_SECONDS, Watchdog, WatchedTransport, watching
from walsync.adapters.ports import Readable, UploadFile
from walsync.core.errors import BackendError, MalformedResponse, RecordingChanged, ResponseTooLarge
from walsync.core.redaction import REDACTED
from walsync.core.responses import (
    JobStatusResult,
    JobUnreachable,
    JobVanished,
    UploadAnswer,
    UploadError,
    UploadJobAccepted,
    UploadLost,
    UploadThrottled,
    UploadUnusable,
)

__all__ = ["HttpBackend", "TokenProvider", "check_base_url"]

_Answer = TypeVar("_Answer", UploadAnswer, JobStatusResult)

_UPLOAD_PATH: Final = "v2/sync-local-files"
_LOG_HEAD_HEADER: Final = "X-Walsync-Log-Head"
_MAX_DETAIL: Final = 200
_Parts = list[tuple[str, tuple[str, "bytes | Readable", str]]]
_HEADER_VALUE = re.compile(r"[\x20-\x7e]{1,512}")
# Failures that happen before any byte of the request can have reached the server.
_NOT_SENT: Final = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.ProxyError,
                    httpx.UnsupportedProtocol, httpx.LocalProtocolError)


def _check_json_type(headers: httpx.Headers) -> None:
    """A body declared as something other than JSON (an HTML error page with 200) is refused;
    an absent Content-Type is left to the strict parser."""
    declared = headers.get("content-type")
    if declared is None:
        return
    media = declared.split(";", 1)[0].strip().lower()
    if media != "application/json" and not (media.startswith("application/") and media.endswith("+json")):
        raise MalformedResponse(f"Content-Type {media[:40]!r} is not JSON")


class _DeadlineExceeded(BackendError):
    """The overall per-call deadline passed."""


@attrs.frozen
class _Reply:
    status: int
    headers: httpx.Headers
    body: bytes | None = None  # None when not read, or when reading it failed (see problem)
    problem: str | None = None


@attrs.frozen
class _NoReply:
    maybe_sent: bool
    detail: str


class HttpBackend:
    """Spec section 6 over httpx: no redirects, TLS verified, an overall deadline and a body cap per call."""

    def __init__(self, base_url: str, token: str | TokenProvider, *,
                 transport: httpx.BaseTransport | None = None,
                 connect_timeout: float = 5.0, read_timeout: float = 30.0, deadline_seconds: float = 60.0,
                 max_response_bytes: int = 1_048_576, idempotency_header: bool = True,
                 log_head: Callable[[], str | None] | None = None, request_slots: int = 4) -> None:
        try:
            check_base_url(base_url)
        except ValueError as error:
            raise ValueError(f"base_url {error}") from error
        # A token, or a provider asked at the first request and when the token is refused.
        self._credentials = Credentials(token, timeout=deadline_seconds)
        self._scrub = self._credentials.scrub
        self._connect, self._read, self._deadline = connect_timeout, read_timeout, deadline_seconds
        self._cap = max_response_bytes
        self._active: set[Watchdog] = set()  # the requests in flight, for abort()
        self._active_lock = threading.Lock()
        self._idempotency_header = idempotency_header
        self.log_head = log_head
        # Connections are kept alive, one per request slot (an upload, and the reconciler's
        # concurrent polls), each call bounded by its deadline whichever one it runs on.
        self._client = httpx.Client(
            base_url=base_url, transport=transport or WatchedTransport(request_slots),
            follow_redirects=False, verify=True,
            timeout=httpx.Timeout(connect=connect_timeout, read=read_timeout, write=read_timeout,
                                  pool=connect_timeout),
            limits=httpx.Limits(max_connections=request_slots, max_keepalive_connections=request_slots,
                                keepalive_expiry=KEEPALIVE_SECONDS),
            headers={"Accept": "application/json", "Accept-Encoding": "identity",
                     "User-Agent": "walsync"})

    def close(self) -> None:
        """Close the connection pool."""
        self._client.close()

    def use_loop(self, loop: asyncio.AbstractEventLoop) -> None:
        """Run an async token provider on `loop` (`AsyncSyncService` sets it); without one, an
        async provider runs on a loop of its own in the requesting thread."""
        self._credentials.use_loop(loop)

    def renew_credentials(self) -> bool:
        """Ask the token provider for a new token now (a sign-in): True when it gave one."""
        return self._credentials.renew(self._credentials.current())

    def __enter__(self) -> HttpBackend:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    @property
    def deadline_seconds(self) -> float:
        """The overall deadline of one call: no request outlives it."""
        return self._deadline

    def upload(self, files: Sequence[UploadFile], *, conversation_id: str | None = None,
               idempotency_key: str | None = None) -> UploadAnswer:
        """POST the files as multipart `files` parts and map the answer (spec section 6).

        Whatever the server or the network does comes back as an answer, never as an exception;
        only an empty `files` or a key that is not printable ASCII raises ValueError. Every text
        in the answer is scrubbed of the token (a server may echo it).
        """
        answer = self._scrubbed(self._upload(files, conversation_id, idempotency_key))
        if isinstance(answer, UploadJobAccepted) and REDACTED in answer.job_id:
            return UploadUnusable(http_status=202,
                                  detail="malformed HTTP 202 body: the job id carries the credential")
        return answer

    def _upload(self, files: Sequence[UploadFile], conversation_id: str | None,
                idempotency_key: str | None) -> UploadAnswer:
        if not files:
            raise ValueError("upload needs at least one file")
        headers: dict[str, str] = {}
        if idempotency_key is not None and self._idempotency_header:
            if not _HEADER_VALUE.fullmatch(idempotency_key):
                raise ValueError("idempotency key must be 1-512 printable ASCII characters")
            headers["Idempotency-Key"] = idempotency_key
        params = None if conversation_id is None else {"conversation_id": conversation_id}
        parts = [("files", (f.name, f.content, "application/octet-stream")) for f in files]
        try:
            reply = self._exchange("POST", _UPLOAD_PATH, params=params, files=parts,
                                   headers=headers, read_body_for={200, 202, 429},
                                   renew_on=frozenset({401, 403}))
        except RecordingChanged as changed:  # the body was cut short: nothing complete went out
            return UploadError(kind="file_changed", message=self._clean(str(changed)))
        if isinstance(reply, _NoReply):
            if reply.maybe_sent:
                return UploadLost(detail=reply.detail)
            return UploadError(kind="network", message=reply.detail)
        status = reply.status
        if status in (200, 202):
            if reply.body is None:
                return UploadLost(detail=f"HTTP {status} but the body was lost: {reply.problem}")
            try:
                _check_json_type(reply.headers)
                return parse_upload_body(status, parse_json_object(reply.body))
            except MalformedResponse as exc:
                return UploadUnusable(http_status=status,
                                      detail=f"malformed HTTP {status} body: {self._clean(str(exc))}")
        if status == 429:
            return UploadThrottled(retry_after_raw=reply.headers.get("retry-after"),
                                   detail=self._detail(reply.body))
        if status == 400:
            return UploadError(kind="bad_request", message="Audio file could not be processed by server",
                               http_status=status)
        if status == 413:
            return UploadError(kind="too_large", message="Audio file is too large to upload",
                               http_status=status)
        if status >= 500:
            return UploadError(kind="server_error", message="Server is temporarily unavailable",
                               http_status=status)
        return UploadError(kind="unexpected", message="Upload failed unexpectedly", http_status=status)

    def job_status(self, job_id: str) -> JobStatusResult:
        """GET the job's status and map it (404/403 vanished, anything unusable unreachable); never
        raises. Every text in the answer is scrubbed of the token."""
        return self._scrubbed(self._job_status(job_id))

    def _scrubbed(self, answer: _Answer) -> _Answer:
        """The answer with the token scrubbed from every server-provided text in it."""
        changes: dict[str, object] = {}
        for name, value in attrs.asdict(answer, recurse=False).items():
            if isinstance(value, str):
                clean: object = self._scrub(value)
            elif isinstance(value, tuple):
                clean = tuple(self._scrub(v) if isinstance(v, str) else v for v in value)
            else:
                continue
            if clean != value:
                changes[name] = clean
        # evolve over a union of answer classes, each with its own fields: typed as the input
        return cast(_Answer, attrs.evolve(cast(Any, answer), **changes)) if changes else answer

    def _job_status(self, job_id: str) -> JobStatusResult:
        if not valid_job_id(job_id):
            return JobUnreachable(http_status=None, detail="invalid job id")
        # a 403 here is the spec's "job not found", not a question of credentials
        reply = self._exchange("GET", f"{_UPLOAD_PATH}/{quote(job_id, safe='')}", read_body_for={200},
                               renew_on=frozenset({401}))
        if isinstance(reply, _NoReply):
            return JobUnreachable(http_status=None, detail=reply.detail)
        if reply.status in (403, 404):
            return JobVanished(http_status=reply.status)
        if reply.status != 200:
            return JobUnreachable(http_status=reply.status, detail=f"HTTP {reply.status}")
        if reply.body is None:
            return JobUnreachable(http_status=None, detail=f"HTTP 200 but the body was lost: {reply.problem}")
        try:
            _check_json_type(reply.headers)
            return parse_job_status(job_id, parse_json_object(reply.body))
        except MalformedResponse as exc:
            return JobUnreachable(http_status=200, detail=f"malformed status body: {self._clean(str(exc))}")

    def _exchange(self, method: str, path: str, *, read_body_for: set[int],
                  params: dict[str, str] | None = None, files: _Parts | None = None,
                  headers: dict[str, str] | None = None,
                  renew_on: frozenset[int] = frozenset()) -> _Reply | _NoReply:
        """One request; when the backend refuses its token (a status in `renew_on`) and the
        token provider gives a fresh one, once more with it (a refused request was not
        applied, so sending it again is safe)."""
        used = self._credentials.current()
        if used is None:  # the provider has no token to give: as the backend would answer
            return _Reply(status=401, headers=httpx.Headers())
        reply = self._deadlined(method, path, read_body_for, params, files, headers, used)
        if isinstance(reply, _Reply) and reply.status in renew_on and self._credentials.renew(used):
            fresh = self._credentials.current()
            if fresh is not None:
                for _, (_, content, _) in files or []:
                    if not isinstance(content, bytes):
                        content.seek(0)  # a recording streamed from disk goes out again whole
                reply = self._deadlined(method, path, read_body_for, params, files, headers, fresh)
        return reply

    def _deadlined(self, method: str, path: str, read_body_for: set[int],
                   params: dict[str, str] | None, files: _Parts | None,
                   headers: dict[str, str] | None, token: str) -> _Reply | _NoReply:
        """One request under the overall deadline; transport failures come back as _NoReply."""
        headers = {**(headers or {}), "Authorization": f"Bearer {token}"}
        watchdog = Watchdog(time.monotonic() + self._deadline)
        with self._active_lock:
            self._active.add(watchdog)
        try:
            with watching(watchdog):
                return self._watched(watchdog, method, path, read_body_for, params, files,
                                     dict(headers or {}))
        finally:
            with self._active_lock:
                self._active.discard(watchdog)

    def abort(self, reason: str) -> None:
        """End every request in flight now, from any thread (a service that stops): each comes
        back as if its deadline had passed (an upload's outcome unknown), its detail `reason`.
        A transport that reports no socket (a test double) is not cut short."""
        with self._active_lock:
            active = list(self._active)
        for watchdog in active:
            watchdog.abort(reason)

    def _watched(self, watchdog: Watchdog, method: str, path: str, read_body_for: set[int],
                 params: dict[str, str] | None, files: _Parts | None,
                 headers: dict[str, str]) -> _Reply | _NoReply:
        head = self.log_head() if self.log_head is not None else None
        if head is not None and _HEADER_VALUE.fullmatch(head):
            headers[_LOG_HEAD_HEADER] = head
        timeout = httpx.Timeout(connect=min(self._connect, self._deadline),
                                read=min(self._read, self._deadline), write=min(self._read, self._deadline),
                                pool=min(self._connect, self._deadline))
        # httpx types a file as IO[bytes]; it reads one through read/seek/tell only (Readable)
        request = self._client.build_request(method, path, params=params, files=cast(Any, files),
                                             headers=headers, timeout=timeout)
        try:
            response = self._client.send(request, stream=True)
        except httpx.HTTPError as exc:
            detail = self._late(watchdog) if watchdog.fired else self._describe(exc)
            return _NoReply(maybe_sent=not isinstance(exc, _NOT_SENT), detail=detail)
        try:
            if response.status_code not in read_body_for:
                return _Reply(status=response.status_code, headers=response.headers)
            try:
                body = self._read_capped(response, watchdog)
            except (BackendError, httpx.HTTPError) as exc:
                problem = self._late(watchdog) if watchdog.fired else self._describe(exc)
                return _Reply(status=response.status_code, headers=response.headers, problem=problem)
            return _Reply(status=response.status_code, headers=response.headers, body=body)
        finally:
            response.close()

    def _read_capped(self, response: httpx.Response, watchdog: Watchdog) -> bytes:
        """The body, checked against the size cap and the deadline on every chunk."""
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self._cap:
            raise ResponseTooLarge(f"declared body of {declared} bytes is over the {self._cap}-byte cap")
        chunks: list[bytes] = []
        size = 0
        for chunk in response.iter_bytes():
            size += len(chunk)
            if size > self._cap:
                raise ResponseTooLarge(f"body over the {self._cap}-byte cap")
            if watchdog.fired or time.monotonic() >= watchdog.deadline:
                raise _DeadlineExceeded(self._late(watchdog))
            chunks.append(chunk)
        return b"".join(chunks)

    def _late(self, watchdog: Watchdog) -> str:
        return watchdog.reason or f"overall deadline of {self._deadline:g} s passed"

    def _detail(self, body: bytes | None) -> str | None:
        if body is None:
            return None
        try:
            detail = parse_json_object(body).get("detail")
        except MalformedResponse:
            return None
        return self._clean(detail) if isinstance(detail, str) else None

    def _describe(self, exc: Exception) -> str:
        if isinstance(exc, BackendError):
            return self._clean(str(exc))
        return self._clean(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)

    def _clean(self, text: str) -> str:
        """Short, single-line, and never carrying the token."""
        text = self._scrub(text)
        text = "".join(ch if ch.isprintable() else " " for ch in text)
        return text if len(text) <= _MAX_DETAIL else text[: _MAX_DETAIL - 1] + "…"


def check_base_url(text: str) -> None:
    """A base URL every request can be sent to (absolute http(s), with a host), or ValueError
    saying why: a typo (`htps://`, no scheme) otherwise failed every upload, recorded, while the
    app showed "Waiting to sync". The CLI's --backend checks with it too."""
    try:
        url = httpx.URL(text)
    except (httpx.InvalidURL, ValueError, TypeError) as error:
        raise ValueError(f"{text!r} is not a URL: {error}") from error
    if url.scheme not in ("http", "https") or not url.host:
        raise ValueError(f"{text!r} is not an http:// or https:// URL with a host "
                         "(e.g. https://api.example.com/)")
