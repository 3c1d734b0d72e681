"""HttpBackend against httpx.MockTransport: request shape, every status mapping, hostile bodies."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from email.parser import BytesParser
from email.policy import HTTP

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from walsync.adapters.http.answers import JOB_STATUSES, MAX_DEPTH, parse_json_object
from walsync.adapters.http.client import HttpBackend
from walsync.adapters.ports import UploadFile
from walsync.adapters.recordings.names import upload_file_name
from walsync.core.errors import MalformedResponse
from walsync.core.responses import (
    JobStatus,
    JobUnreachable,
    JobVanished,
    UploadError,
    UploadJobAccepted,
    UploadLost,
    UploadProcessed,
    UploadThrottled,
    UploadUnusable,
)

TOKEN = "tok-SECRET-5f2c9a"
BASE = "https://api.example.invalid"
FILES = [UploadFile(name="audio_omi_opus_16000_1_fs160_1700000000.bin", content=b"\x03\x00\x00\x00abc"),
         UploadFile(name="audio_omi_opus_16000_1_fs160_1700000060.bin", content=b"\x01\x00\x00\x00z")]

Handler = Callable[[httpx.Request], httpx.Response]


class Recorder:
    """A MockTransport handler that records every request and answers from a function."""

    def __init__(self, answer: Handler) -> None:
        self.answer = answer
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        request.read()
        self.requests.append(request)
        return self.answer(request)


def backend(answer: Handler, **kwargs: object) -> tuple[HttpBackend, Recorder]:
    recorder = Recorder(answer)
    client = HttpBackend(BASE, TOKEN, transport=httpx.MockTransport(recorder), **kwargs)  # type: ignore[arg-type]
    return client, recorder


def reply(status: int, body: object = None, *, raw: bytes | None = None,
          headers: dict[str, str] | None = None) -> Handler:
    content = raw if raw is not None else (b"" if body is None else json.dumps(body).encode())
    return lambda request: httpx.Response(status, content=content, headers=headers)


def raises(exc_type: type[httpx.TransportError], message: str = "boom") -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        raise exc_type(message, request=request)
    return handler


def multipart_parts(request: httpx.Request) -> list[tuple[object, ...]]:
    head = f"Content-Type: {request.headers['content-type']}\r\n\r\n".encode()
    message = BytesParser(policy=HTTP).parsebytes(head + request.content)
    return [(part.get_param("name", header="content-disposition"), part.get_filename(),
             part.get_content_type(), part.get_payload(decode=True))
            for part in message.iter_parts()]


# --- request shape ------------------------------------------------------------------------------


def test_upload_sends_one_files_part_per_file_with_bearer_query_and_key() -> None:
    client, rec = backend(reply(202, {"job_id": "job-1", "status": "queued"}))
    answer = client.upload(FILES, conversation_id="conv 1&x", idempotency_key="attempt-42")
    assert answer == UploadJobAccepted(job_id="job-1")
    (request,) = rec.requests
    assert request.method == "POST"
    assert request.url.path == "/v2/sync-local-files"
    assert request.url.params["conversation_id"] == "conv 1&x"
    assert request.headers["authorization"] == f"Bearer {TOKEN}"
    assert request.headers["idempotency-key"] == "attempt-42"
    assert multipart_parts(request) == [("files", f.name, "application/octet-stream", f.content)
                                        for f in FILES]


def test_upload_without_options_sends_no_query_no_key_and_honours_base_path() -> None:
    rec = Recorder(reply(202, {"job_id": "j"}))
    client = HttpBackend(f"{BASE}/api/", TOKEN, transport=httpx.MockTransport(rec))
    client.upload(FILES[:1])
    (request,) = rec.requests
    assert request.url.path == "/api/v2/sync-local-files"
    assert "conversation_id" not in request.url.params
    assert "idempotency-key" not in request.headers


def test_idempotency_header_can_be_switched_off() -> None:
    client, rec = backend(reply(202, {"job_id": "j"}), idempotency_header=False)
    client.upload(FILES, idempotency_key="attempt-42")
    assert "idempotency-key" not in rec.requests[0].headers


def test_log_head_header_is_sent_when_the_callback_gives_one() -> None:
    heads = iter(["17:ab12", None])
    client, rec = backend(reply(202, {"job_id": "j"}), log_head=lambda: next(heads))
    client.upload(FILES)
    client.upload(FILES)
    assert rec.requests[0].headers["x-walsync-log-head"] == "17:ab12"
    assert "x-walsync-log-head" not in rec.requests[1].headers


def test_upload_of_nothing_is_a_programming_error() -> None:
    client, rec = backend(reply(202, {"job_id": "j"}))
    with pytest.raises(ValueError):
        client.upload([])
    assert rec.requests == []


def test_upload_file_name_follows_spec_section_2() -> None:
    assert (upload_file_name("Omi-DevKit 2!", "opus", 16000, 1, 160, 1700000000)
            == "audio_omidevkit2_opus_16000_1_fs160_1700000000.bin")
    assert upload_file_name("Phone", "pcm8", 8000, 2, 80, 5) == "audio_phone_pcm8_8000_2_fs80_5.bin"


def test_client_is_a_context_manager_and_close_closes_it() -> None:
    client, _ = backend(reply(202, {"job_id": "j"}))
    with client as same:
        assert same is client
    with pytest.raises(RuntimeError):
        client.upload(FILES)


# --- upload status mapping ----------------------------------------------------------------------


def test_200_maps_to_processed_with_ids_or_objects() -> None:
    body = {"new_memories": ["c1", {"id": "c2", "title": "x"}], "updated_memories": [{"id": "c3"}],
            "failed_segments": 0, "total_segments": 2, "errors": []}
    client, _ = backend(reply(200, body))
    assert client.upload(FILES) == UploadProcessed(new_conversations=("c1", "c2"),
                                                   updated_conversations=("c3",))


@pytest.mark.parametrize("raw", [b'{"new_memories": "c1"}', b'{"new_memories": [{"title": 1}]}', b"<html>"])
def test_malformed_200_is_unusable_not_crashed(raw: bytes) -> None:
    client, _ = backend(reply(200, raw=raw))
    answer = client.upload(FILES)
    assert isinstance(answer, UploadUnusable) and answer.http_status == 200


@pytest.mark.parametrize("raw", [
    b'{"job_id": ""}', b'{"status": "queued"}', b'{"job_id": 7}', b'{"job_id": null}', b'{"job_id": ".."}',
    b'{"job_id": "j1"', b"garbage", b"", b'{"job_id": NaN}', b'{"job_id": "a", "job_id": "b"}', b'["job-1"]'])
def test_202_without_a_usable_job_id_is_unusable(raw: bytes) -> None:
    client, _ = backend(reply(202, raw=raw))
    answer = client.upload(FILES)
    assert isinstance(answer, UploadUnusable) and answer.http_status == 202
    assert "202" in answer.detail


@pytest.mark.parametrize(("status", "kind", "message"), [
    (400, "bad_request", "Audio file could not be processed by server"),
    (413, "too_large", "Audio file is too large to upload"),
    (500, "server_error", "Server is temporarily unavailable"),
    (503, "server_error", "Server is temporarily unavailable"),
    (599, "server_error", "Server is temporarily unavailable"),
    (401, "unexpected", "Upload failed unexpectedly"),
    (404, "unexpected", "Upload failed unexpectedly"),
    (204, "unexpected", "Upload failed unexpectedly"),
])
def test_error_statuses_map_to_the_spec_messages(status: int, kind: str, message: str) -> None:
    client, _ = backend(reply(status, {"detail": "whatever"}))
    assert client.upload(FILES) == UploadError(kind=kind, message=message, http_status=status)  # type: ignore[arg-type]


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_redirects_are_not_followed(status: int) -> None:
    client, rec = backend(reply(status, headers={"location": "https://evil.invalid/steal"}))
    answer = client.upload(FILES)
    assert answer == UploadError(kind="unexpected", message="Upload failed unexpectedly", http_status=status)
    assert [str(r.url.host) for r in rec.requests] == ["api.example.invalid"]


def test_429_keeps_the_raw_retry_after_and_the_detail() -> None:
    body = {"detail": "Account temporarily restricted due to fair-use policy"}
    client, _ = backend(reply(429, body, headers={"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}))
    assert client.upload(FILES) == UploadThrottled(retry_after_raw="Wed, 21 Oct 2015 07:28:00 GMT",
                                                   detail=body["detail"])


def test_429_without_retry_after_or_with_junk_body() -> None:
    client, _ = backend(reply(429, raw=b"<html>Too many</html>"))
    assert client.upload(FILES) == UploadThrottled(retry_after_raw=None, detail=None)
    client, _ = backend(reply(429, {"detail": [{"msg": "not a string"}]}))
    assert client.upload(FILES) == UploadThrottled(retry_after_raw=None, detail=None)


def test_429_duplicate_retry_after_headers_arrive_joined_and_raw() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(429, headers=[("Retry-After", "120"), ("Retry-After", "60")])
    client, _ = backend(answer)
    assert client.upload(FILES) == UploadThrottled(retry_after_raw="120, 60", detail=None)


# --- network failures ---------------------------------------------------------------------------


@pytest.mark.parametrize("exc_type", [httpx.ReadTimeout, httpx.RemoteProtocolError, httpx.ReadError,
                                      httpx.WriteError, httpx.WriteTimeout])
def test_failure_after_sending_is_lost(exc_type: type[httpx.TransportError]) -> None:
    client, _ = backend(raises(exc_type))
    answer = client.upload(FILES)
    assert isinstance(answer, UploadLost)
    assert exc_type.__name__ in answer.detail


@pytest.mark.parametrize("exc_type", [httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout])
def test_failure_before_sending_is_a_network_error(exc_type: type[httpx.TransportError]) -> None:
    client, _ = backend(raises(exc_type, "[Errno 111] Connection refused"))
    answer = client.upload(FILES)
    assert isinstance(answer, UploadError)
    assert (answer.kind, answer.http_status) == ("network", None)
    assert exc_type.__name__ in answer.message


def test_body_lost_after_a_202_status_line_is_lost() -> None:
    def body() -> Iterator[bytes]:
        yield b'{"job_id": "jo'
        raise httpx.RemoteProtocolError("peer closed connection without sending complete message body")
    client, _ = backend(lambda request: httpx.Response(202, content=body()))
    answer = client.upload(FILES)
    assert isinstance(answer, UploadLost)
    assert "RemoteProtocolError" in answer.detail


# --- size cap -----------------------------------------------------------------------------------


def test_declared_oversized_body_is_refused_without_reading() -> None:
    client, _ = backend(reply(202, raw=b'{"job_id": "' + b"x" * 2000 + b'"}'), max_response_bytes=1000)
    answer = client.upload(FILES)
    assert isinstance(answer, UploadLost)
    assert "cap" in answer.detail


def test_streamed_oversized_body_stops_at_the_cap() -> None:
    sent: list[int] = []

    def endless() -> Iterator[bytes]:
        for i in range(10_000):
            sent.append(i)
            yield b" " * 1024
    client, _ = backend(lambda request: httpx.Response(202, content=endless()), max_response_bytes=8192)
    answer = client.upload(FILES)
    assert isinstance(answer, UploadLost)
    assert "cap" in answer.detail
    assert len(sent) <= 10  # stopped right after passing the cap, not after the whole stream
    client, _ = backend(lambda request: httpx.Response(200, content=endless()), max_response_bytes=8192)
    status = client.job_status("job-1")
    assert isinstance(status, JobUnreachable)
    assert status.http_status is None and "cap" in status.detail


# --- job status ---------------------------------------------------------------------------------

GOOD_STATUS = {"job_id": "job-1", "status": "completed", "total_segments": 4, "processed_segments": 4,
               "successful_segments": 3, "failed_segments": 1,
               "result": {"new_memories": ["c1"], "updated_memories": [{"id": "c2"}]}, "error": "one failed"}


def test_status_200_is_parsed() -> None:
    client, rec = backend(reply(200, GOOD_STATUS))
    assert client.job_status("job-1") == JobStatus(
        job_id="job-1", status="completed", total_segments=4, processed_segments=4, successful_segments=3,
        failed_segments=1, error="one failed", new_conversations=("c1",), updated_conversations=("c2",))
    (request,) = rec.requests
    assert (request.method, request.url.path) == ("GET", "/v2/sync-local-files/job-1")
    assert request.headers["authorization"] == f"Bearer {TOKEN}"


@pytest.mark.parametrize("status", sorted(JOB_STATUSES))
def test_every_valid_status_string_is_accepted(status: str) -> None:
    client, _ = backend(reply(200, {"job_id": "j", "status": status}))
    answer = client.job_status("j")
    assert isinstance(answer, JobStatus)
    assert answer.status == status


def test_job_id_is_quoted_as_one_path_segment() -> None:
    job_id = "a/b?c#d %"
    client, rec = backend(reply(200, {"job_id": job_id, "status": "queued"}))
    assert isinstance(client.job_status(job_id), JobStatus)
    assert rec.requests[0].url.raw_path == b"/v2/sync-local-files/a%2Fb%3Fc%23d%20%25"


@pytest.mark.parametrize("job_id", ["", ".", "..", "a\nb", " padded"])
def test_unusable_job_id_is_not_requested(job_id: str) -> None:
    client, rec = backend(reply(200, GOOD_STATUS))
    assert isinstance(client.job_status(job_id), JobUnreachable)
    assert rec.requests == []


@pytest.mark.parametrize("status", [403, 404])
def test_status_404_and_403_mean_vanished(status: int) -> None:
    client, _ = backend(reply(status, {"detail": "Sync job not found or expired"}))
    assert client.job_status("job-1") == JobVanished(http_status=status)


@pytest.mark.parametrize("status", [500, 502, 401, 302, 202])
def test_other_statuses_are_unreachable_with_the_status(status: int) -> None:
    client, _ = backend(reply(status, GOOD_STATUS, headers={"location": "https://evil.invalid/"}))
    answer = client.job_status("job-1")
    assert isinstance(answer, JobUnreachable)
    assert answer.http_status == status


@pytest.mark.parametrize("exc_type", [httpx.ConnectError, httpx.ReadTimeout, httpx.RemoteProtocolError])
def test_status_network_errors_are_unreachable_without_status(exc_type: type[httpx.TransportError]) -> None:
    client, _ = backend(raises(exc_type))
    answer = client.job_status("job-1")
    assert isinstance(answer, JobUnreachable)
    assert answer.http_status is None and exc_type.__name__ in answer.detail


def _with(**changes: object) -> bytes:
    return json.dumps({**GOOD_STATUS, **changes}).encode()


HOSTILE_STATUS_BODIES = {
    "truncated": _with()[:-5],
    "nan": b'{"job_id": "job-1", "status": "queued", "total_segments": NaN}',
    "infinity": b'{"job_id": "job-1", "status": "queued", "total_segments": -Infinity}',
    "1e999": b'{"job_id": "job-1", "status": "queued", "total_segments": 1e999}',
    "duplicate keys": b'{"job_id": "job-1", "status": "queued", "status": "completed"}',
    "status int": _with(status=3),
    "unknown status": _with(status="done"),
    "status case": _with(status="Completed"),
    "negative count": _with(failed_segments=-1),
    "float count": _with(total_segments=2.0),
    "bool count": _with(total_segments=True),
    "string count": _with(total_segments="4"),
    "result list": _with(result=["c1"]),
    "ids not strings": _with(result={"new_memories": [1, 2]}),
    "error not string": _with(error={"code": 1}),
    "missing job id": json.dumps({"status": "queued"}).encode(),
    "other job id": _with(job_id="job-2"),
    "deep nesting": b'{"job_id": "job-1", "status": "queued", "x": ' + b"[" * 10_000 + b"]" * 10_000 + b"}",
    "html page": b"<!doctype html><html><body>502 Bad Gateway</body></html>",
    "top-level list": b'[{"job_id": "job-1"}]',
    "not utf-8": b'{"job_id": "job-1", "status": "\xff"}',
    "lone surrogate": b'{"job_id": "job-1", "status": "queued", "error": "\\ud800"}',
    "empty": b"",
}


@pytest.mark.parametrize("raw", HOSTILE_STATUS_BODIES.values(), ids=HOSTILE_STATUS_BODIES.keys())
def test_hostile_200_status_bodies_are_unreachable(raw: bytes) -> None:
    client, _ = backend(reply(200, raw=raw, headers={"content-type": "application/json"}))
    answer = client.job_status("job-1")
    assert isinstance(answer, JobUnreachable)
    assert answer.http_status == 200
    assert answer.detail.startswith("malformed")


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.binary(max_size=200),
                 json_values.map(lambda v: json.dumps(v).encode()),
                 st.dictionaries(st.sampled_from(sorted(GOOD_STATUS)), json_values).map(
                     lambda d: json.dumps({**GOOD_STATUS, **d}).encode())))
def test_any_200_body_gives_a_result_never_an_exception(raw: bytes) -> None:
    client, _ = backend(reply(200, raw=raw))
    answer = client.job_status("job-1")
    assert isinstance(answer, JobStatus | JobUnreachable)
    if isinstance(answer, JobStatus):
        assert answer.status in JOB_STATUSES
        assert min(answer.total_segments, answer.failed_segments) >= 0


# --- strict JSON, directly ----------------------------------------------------------------------


def test_parse_json_object_accepts_plain_objects() -> None:
    assert parse_json_object(b'{"a": [1, 2.5, "x", null, true], "b": {"c": -3}}') == {
        "a": [1, 2.5, "x", None, True], "b": {"c": -3}}
    assert parse_json_object(b'{"d": ' + b"[" * (MAX_DEPTH - 1) + b"]" * (MAX_DEPTH - 1) + b"}")


@pytest.mark.parametrize(("raw", "reason"), [
    (b'{"a": NaN}', "non-finite"),
    (b'{"a": Infinity}', "non-finite"),
    (b'{"a": 1e999}', "non-finite"),
    (b'{"a": 1, "a": 2}', "duplicate"),
    (b'{"a": ' + b"[" * MAX_DEPTH + b"]" * MAX_DEPTH + b"}", "nesting"),
    (b"[" * 10_000 + b"]" * 10_000, "nesting"),
    (b'{"a": 1', "invalid JSON"),
    (b"", "invalid JSON"),
    (b"\xef\xbb\xbf{}", "invalid JSON"),
    (b"\xff", "UTF-8"),
    (b'"just a string"', "object"),
    (b'{"a": "\\udc00"}', "surrogate"),
    (b'{"a": ' + b"9" * 5000 + b"}", "range"),
])
def test_parse_json_object_raises_typed_errors(raw: bytes, reason: str) -> None:
    with pytest.raises(MalformedResponse, match=reason):
        parse_json_object(raw)


# --- the token never leaks ----------------------------------------------------------------------


def _echo_token(kind: str) -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        auth = request.headers["authorization"]
        if kind == "exception":
            raise httpx.ReadTimeout(f"timed out sending {auth}", request=request)
        if kind == "connect":
            raise httpx.ConnectError(f"refused for {auth}", request=request)
        if kind == "detail":
            return httpx.Response(429, json={"detail": f"restricted: {auth}"})
        if kind == "key":
            return httpx.Response(200, content=f'{{"{auth}": 1, "{auth}": 2}}'.encode())
        return httpx.Response(202, json={"job_id": "", "echo": auth})
    return handler


@pytest.mark.parametrize("kind", ["exception", "connect", "detail", "key", "body"])
def test_the_token_never_appears_in_any_answer(kind: str) -> None:
    client, _ = backend(_echo_token(kind))
    answers = [client.upload(FILES), client.job_status("job-1")]
    assert all(TOKEN not in repr(answer) for answer in answers), answers


# --- overall deadline on a transport that cannot be interrupted -------------------------------------


def test_slow_body_is_cut_at_the_deadline_between_chunks() -> None:
    def slow() -> Iterator[bytes]:
        for _ in range(50):
            time.sleep(0.05)
            yield b" "
    client, _ = backend(lambda request: httpx.Response(202, content=slow()), deadline_seconds=0.3)
    start = time.monotonic()
    answer = client.upload(FILES)
    assert isinstance(answer, UploadLost)
    assert "deadline" in answer.detail
    assert 0.25 <= time.monotonic() - start < 1.0  # not the 2.5 s the whole body would take
