"""The simulated backend's HTTP face (spec section 6): `handle`, `SimTransport`, `SimServer`."""

from __future__ import annotations

import json
import struct
from typing import Any

import httpx
import pytest

from walsync.adapters.sim.backend import STALE_GUARD_ERROR, BackendConfig, SimBackend
from walsync.adapters.sim.fair_use import FairUseConfig
from walsync.adapters.sim.server import SimServer, SimTransport, handle

EPOCH = 1_750_000_000
AUTH = {"Authorization": "Bearer test-token"}
ACCEPTED_FIELDS = {"job_id", "status", "total_files", "total_segments", "poll_after_ms"}
STATUS_FIELDS = {"job_id", "status", "total_segments", "processed_segments",
                 "successful_segments", "failed_segments"}


def body_of(segments: int) -> bytes:
    """Frames with awkward bytes (CR, LF, NUL, 0xff) so the multipart round trip is tested."""
    frame = bytes([13, 10, 0, 255, 45, 45]) * 3
    return (struct.pack("<I", len(frame)) + frame) * (50 * segments)


def wal_name(n: int = 0) -> str:
    return f"audio_omi_opus_16000_1_fs160_{EPOCH - 3600 + n}.bin"


def post(backend: SimBackend, now: float, files: list[tuple[str, bytes]],
         headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], Any]:
    request = httpx.Request(
        "POST", "http://sim.invalid/v2/sync-local-files?conversation_id=c1",
        files=[("files", (name, content, "application/octet-stream")) for name, content in files],
        headers=AUTH if headers is None else headers)
    status, reply_headers, body = handle(backend, now, "POST", str(request.url),
                                         dict(request.headers), request.read())
    return status, reply_headers, json.loads(body)


def get(backend: SimBackend, now: float, target: str,
        headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], Any]:
    status, reply_headers, body = handle(backend, now, "GET", target,
                                         AUTH if headers is None else headers, b"")
    return status, reply_headers, json.loads(body)


# -- handle ------------------------------------------------------------------------------------


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Basic abc"}, {"Cookie": "t=1"}])
def test_missing_bearer_token_is_401(headers: dict[str, str]) -> None:
    backend = SimBackend(epoch=EPOCH)
    status, _, body = post(backend, 0.0, [(wal_name(), body_of(1))], headers=headers)
    assert (status, body) == (401, {"detail": "Not authenticated"})
    assert get(backend, 0.0, "/v2/sync-local-files/job-000001", headers=headers)[0] == 401
    assert backend.counters["upload_requests"] == 0
    assert backend.counters["status_polls"] == 0


def test_upload_returns_202_with_exact_fields_and_the_bytes_arrive_intact() -> None:
    backend = SimBackend(epoch=EPOCH)
    content = body_of(2)
    status, headers, body = post(backend, 0.0, [(wal_name(1), content), (wal_name(2), content)])
    assert status == 202
    assert headers["content-type"] == "application/json"
    assert set(body) == ACCEPTED_FIELDS
    assert body == {"job_id": "job-000001", "status": "queued", "total_files": 2,
                    "total_segments": 0, "poll_after_ms": 3000}
    files = backend.jobs["job-000001"].files
    assert [f.name for f in files] == [wal_name(1), wal_name(2)]
    assert all(f.content == content for f in files)


def test_status_fields_before_and_after_the_terminal_state() -> None:
    backend = SimBackend(epoch=EPOCH)
    job_id = post(backend, 0.0, [(wal_name(), body_of(2))])[2]["job_id"]
    status, _, running = get(backend, 10.0, f"/v2/sync-local-files/{job_id}")
    assert status == 200
    assert set(running) == STATUS_FIELDS
    assert running["status"] == "processing"
    status, _, done = get(backend, 100.0, f"/v2/sync-local-files/{job_id}")
    assert status == 200
    assert set(done) == STATUS_FIELDS | {"result"}
    assert done["status"] == "completed"
    assert (done["total_segments"], done["successful_segments"]) == (2, 2)
    assert set(done["result"]) == {"new_memories", "updated_memories"}


def test_stale_failed_status_carries_error_but_no_result() -> None:
    backend = SimBackend(epoch=EPOCH)
    backend.add_background_work([(0.0, 5000.0)] * 24)
    job_id = post(backend, 0.0, [(wal_name(), body_of(1))])[2]["job_id"]
    assert set(get(backend, 300.0, f"/v2/sync-local-files/{job_id}")[2]) == STATUS_FIELDS
    _, _, body = get(backend, 700.0, f"/v2/sync-local-files/{job_id}")
    assert set(body) == STATUS_FIELDS | {"error"}
    assert (body["status"], body["error"], body["total_segments"]) == (
        "failed", STALE_GUARD_ERROR, 0)


def test_job_id_in_the_path_is_url_decoded() -> None:
    backend = SimBackend(epoch=EPOCH)
    post(backend, 0.0, [(wal_name(), body_of(1))])
    status, _, body = get(backend, 100.0, "http://sim.invalid/v2/sync-local-files/job%2D000001/")
    assert (status, body["job_id"]) == (200, "job-000001")


def test_unknown_job_and_unknown_path_are_404() -> None:
    backend = SimBackend(epoch=EPOCH)
    assert get(backend, 0.0, "/v2/sync-local-files/nope")[:3:2] == (
        404, {"detail": "Sync job not found or expired"})
    assert get(backend, 0.0, "/v2/elsewhere")[:3:2] == (404, {"detail": "Not Found"})
    assert get(backend, 0.0, "/v2/sync-local-files")[0] == 404  # GET on the upload path
    status, _, _ = handle(backend, 0.0, "DELETE", "/v2/sync-local-files/job-000001", AUTH, b"")
    assert status == 404


def test_upload_without_multipart_files_is_422() -> None:
    backend = SimBackend(epoch=EPOCH)
    status, _, _ = handle(backend, 0.0, "POST", "/v2/sync-local-files",
                          {**AUTH, "Content-Type": "application/json"}, b"{}")
    assert status == 422
    assert backend.jobs == {}


def test_bad_name_is_400_and_429_passes_retry_after_through() -> None:
    assert post(SimBackend(epoch=EPOCH), 0.0, [("recording.wav", body_of(1))])[0] == 400
    config = BackendConfig(fair_use=FairUseConfig(start_stage="restrict", retry_after="120"))
    backend = SimBackend(config, epoch=EPOCH)
    backend.fair_use.meter(0.0, 7_200_001)
    status, headers, body = post(backend, 1.0, [(wal_name(), body_of(1))])
    assert (status, body) == (429, {"detail": "Account temporarily restricted due to fair-use policy"})
    assert headers["Retry-After"] == "120"


def test_idempotency_key_header_reaches_the_model() -> None:
    backend = SimBackend(epoch=EPOCH)
    headers = {**AUTH, "Idempotency-Key": "wal-1"}
    first = post(backend, 0.0, [(wal_name(), body_of(1))], headers=headers)[2]["job_id"]
    second = post(backend, 5.0, [(wal_name(), body_of(1))], headers=headers)[2]["job_id"]
    assert first == second
    assert backend.counters["duplicate_keys"] == 1


def test_sim_transport_answers_httpx_at_the_clock_it_is_given() -> None:
    backend = SimBackend(epoch=EPOCH)
    clock = [0.0]
    with httpx.Client(transport=SimTransport(backend, lambda: clock[0]),
                      base_url="http://sim.invalid/", headers=AUTH) as client:
        reply = client.post("v2/sync-local-files", files={"files": (wal_name(), body_of(1))})
        assert reply.status_code == 202
        job_id = reply.json()["job_id"]
        clock[0] = 100.0
        assert client.get(f"v2/sync-local-files/{job_id}").json()["status"] == "completed"


# -- SimServer over real loopback HTTP ---------------------------------------------------------


def test_sim_server_answers_a_real_multipart_post_and_get() -> None:
    backend = SimBackend(epoch=EPOCH)
    clock = [0.0]
    server = SimServer(backend, lambda: clock[0], port=0).start()
    try:
        assert server.port != 0
        assert server.url == f"http://127.0.0.1:{server.port}/"
        with httpx.Client(base_url=server.url, timeout=5.0) as client:
            assert client.get("v2/sync-local-files/job-000001").status_code == 401
            content = body_of(3)
            reply = client.post("v2/sync-local-files", headers=AUTH,
                                files=[("files", (wal_name(), content, "application/octet-stream"))])
            assert reply.status_code == 202
            assert reply.headers["content-type"] == "application/json"
            accepted = reply.json()
            assert set(accepted) == ACCEPTED_FIELDS
            assert backend.jobs[accepted["job_id"]].files[0].content == content
            clock[0] = 200.0
            reply = client.get(f"v2/sync-local-files/{accepted['job_id']}", headers=AUTH)
            assert reply.status_code == 200
            done = reply.json()
            assert set(done) == STATUS_FIELDS | {"result"}
            assert (done["status"], done["total_segments"]) == ("completed", 3)
            assert client.get("v2/nowhere", headers=AUTH).status_code == 404
    finally:
        server.stop()
