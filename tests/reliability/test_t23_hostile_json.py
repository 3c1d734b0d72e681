"""T23: malformed and hostile JSON from the backend never crashes the sync loop.

Contract: a strict parser (no NaN/Infinity, finite floats, no duplicate keys, the schema's types,
known statuses, bounded nesting, a JSON Content-Type when one is declared); a body it refuses
is recorded (an upload as outcome-unknown, a status poll as transient) and changes nothing
else. Hypothesis builds JSON trees with st.recursive and then mutates their bytes.
"""

from __future__ import annotations

import json

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tier import record, scale

from walsync.adapters.http.answers import parse_job_status, parse_json_object, parse_upload_body
from walsync.adapters.http.client import HttpBackend
from walsync.core.errors import MalformedResponse
from walsync.core.policies import WALSYNC

from fakes import Harness

_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20) | st.sampled_from(["queued", "processing", "completed", "failed",
                                             "partial_failure", "job-1"]),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.sampled_from(["job_id", "status", "total_segments", "result", "error",
                                       "new_memories", "processed_segments", "x"]) | st.text(max_size=8),
                      children, max_size=5),
    max_leaves=20)


@st.composite
def _mutated(draw: st.DrawFn) -> tuple[bytes, str | None]:
    """Serialised JSON (often a plausible answer), then 0-3 byte mutations; and a Content-Type."""
    tree = draw(_JSON)
    if draw(st.booleans()):
        tree = {"job_id": "job-1", "status": draw(st.sampled_from(["queued", "completed", "failed"])),
                "total_segments": draw(st.integers(-2, 5)), "extra": tree}
    body = bytearray(json.dumps(tree).encode())
    for _ in range(draw(st.integers(0, 3))):
        op = draw(st.sampled_from(["flip", "insert", "delete", "truncate"]))
        at = draw(st.integers(0, max(len(body) - 1, 0)))
        if op == "flip" and body:
            body[at] ^= 1 << draw(st.integers(0, 7))
        elif op == "insert":
            body[at:at] = draw(st.sampled_from([b"NaN", b"1e999", b"-Infinity", b'"\\ud800"', b"{",
                                                b"]", b"\xff", b',"job_id":"job-2"']))
        elif op == "delete" and body:
            del body[at]
        else:
            del body[at:]
    ctype = draw(st.sampled_from(["application/json", None, "text/html; charset=utf-8",
                                  "application/problem+json", "text/plain"]))
    return bytes(body), ctype


def _valid(status: int, body: bytes, ctype: str | None, job: str = "job-1") -> str | None:
    """The job id the strict rules accept (202), or the status they accept for `job` (200),
    or None when they refuse the body."""
    if ctype is not None and ctype.split(";")[0] not in ("application/json", "application/problem+json"):
        return None
    try:
        parsed = parse_json_object(body)
        if status == 202:
            return parse_upload_body(202, parsed).job_id  # type: ignore[union-attr]
        return parse_job_status(job, parsed).status
    except MalformedResponse:
        return None


def _engine(upload: tuple[bytes, str | None], status: tuple[bytes, str | None]) -> Harness:
    def handler(request: httpx.Request) -> httpx.Response:
        body, ctype = upload if request.method == "POST" else status
        headers = {} if ctype is None else {"content-type": ctype}
        return httpx.Response(202 if request.method == "POST" else 200, content=body, headers=headers)

    h = Harness(WALSYNC)
    h.engine.backend = HttpBackend("https://api.example.test/", "T",
                                   transport=httpx.MockTransport(handler))
    return h


_GOOD_202 = (b'{"job_id": "job-1", "status": "queued"}', "application/json")


@settings(max_examples=scale(300, 3000), deadline=None, print_blob=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(upload=_mutated(), status=_mutated())
def test_t23_any_body_is_parsed_strictly_and_never_crashes_the_loop(
        upload: tuple[bytes, str | None], status: tuple[bytes, str | None]) -> None:
    h = _engine(upload, status)
    [w] = h.add()
    h.engine.sync_all()
    record("t23", "hostile JSON bodies (upload + status)", 2, lost=0)
    job = _valid(202, *upload)
    types = h.types()
    if job is None:
        assert h.engine.row(w).state == "miss" and "UploadOutcomeUnknown" in types
        assert h.engine.row(w).retry_count == 0
        return
    assert h.engine.row(w).state == "uploaded" and h.engine.row(w).job_id == job
    head = len(types)
    h.engine.reconcile()
    added = h.types()[head:]
    # The status answer is judged for the job the upload created (a fuzzed job id can match
    # the fuzzed status body too: the long tier found "-Infinityjob-1" on both).
    verdict = _valid(200, *status, job=job)
    if verdict is None:
        assert h.engine.row(w).state == "uploaded"
        assert added in (["JobPolled"], []), added
    else:
        assert h.engine.row(w).state == {"queued": "uploaded", "processing": "uploaded",
                                         "completed": "synced"}.get(verdict, "miss")


_HOSTILE = {
    "truncated": b'{"job_id": "job-1", "sta',
    "nan": b'{"job_id": "job-1", "status": "queued", "total_segments": NaN}',
    "1e999": b'{"job_id": "job-1", "status": "queued", "total_segments": 1e999}',
    "duplicate-keys": b'{"job_id": "job-1", "status": "queued", "status": "completed"}',
    "wrong-type": b'{"job_id": "job-1", "status": 3}',
    "unknown-status": b'{"job_id": "job-1", "status": "exploded"}',
    "deep": b'{"job_id": "job-1", "status": "completed", "result": ' + b"[" * 10_000 + b"]" * 10_000 + b"}",
    "html-200": b"<html><body>502 Bad Gateway</body></html>",
}


@pytest.mark.parametrize("name", sorted(_HOSTILE))
@pytest.mark.parametrize("ctype", ["application/json", "text/html"])
def test_t23_catalogue_bodies_leave_the_recording_uploaded_with_a_transient_record(
        name: str, ctype: str) -> None:
    h = _engine(_GOOD_202, (_HOSTILE[name], ctype))
    [w] = h.add()
    h.engine.sync_all()
    h.engine.reconcile()
    polled = [r.event for r in h.store.read() if r.type == "JobPolled"]
    assert [p.outcome for p in polled] == ["transient"]  # type: ignore[attr-defined]
    assert "exploded" not in str(polled[0]), "the raw unknown status is not echoed into the log"
    assert h.engine.row(w).state == "uploaded" and h.engine.row(w).retry_count == 0


def test_t23_a_valid_body_declared_as_html_is_refused() -> None:
    h = _engine(_GOOD_202, (b'{"job_id": "job-1", "status": "completed"}', "text/html"))
    [w] = h.add()
    h.engine.sync_all()
    h.engine.reconcile()
    assert h.engine.row(w).state == "uploaded"


def test_t23_regression_a_fuzzed_job_id_whose_status_body_matches_it() -> None:
    """Found by the long tier: the upload's job id and the status body's both read
    "-Infinityjob-1"; the server says that job completed, so the recording is synced."""
    upload = (b'{"job_id": "-Infinityjob-1", "status": "pueued", "total_segments": 0, "extra": null}',
              "application/json")
    status = (b'{"job_id": "-Infinityjob-1", "status": "completed", "total_segments": 0, '
              b'"extra": null}', "application/json")
    h = _engine(upload, status)
    [w] = h.add()
    h.engine.sync_all()
    assert h.engine.row(w).job_id == "-Infinityjob-1"
    h.engine.reconcile()
    assert _valid(200, *status, job="-Infinityjob-1") == "completed"
    assert h.engine.row(w).state == "synced"
