"""T24: redirects, TLS and auth leakage.

Contract: a redirect (307 to another origin, or http -> https on the same host) is never
followed, so the bearer token never reaches a request to any other origin; a self-signed
certificate on loopback is a ConnectError (certificate verify failed), never a silent downgrade;
and no code in the package turns TLS verification off or redirects on (an AST check).
"""

from __future__ import annotations

import ast
import shutil
import socket
import ssl
import subprocess
import threading
from pathlib import Path

import httpx
import pytest
from tier import record

from walsync.adapters.http.client import HttpBackend
from walsync.adapters.ports import UploadFile
from walsync.core.responses import JobUnreachable, UploadError

from sources import library_sources

ROOT = Path(__file__).resolve().parents[2]
FILES = [UploadFile(name="audio_omi_opus_16000_1_fs160_1700000000.bin", content=b"\x01\x00\x00\x00a")]
TOKEN = "CANARY-TOKEN-T24"


def _recording(status: int, location: str) -> tuple[HttpBackend, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.host == "api.example.test":
            return httpx.Response(status, headers={"location": location})
        return httpx.Response(202, json={"job_id": "stolen"})

    base = "http://api.example.test/" if location.startswith("https://api.example.test") else \
        "https://api.example.test/"
    return HttpBackend(base, TOKEN, transport=httpx.MockTransport(handler)), seen


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
@pytest.mark.parametrize("location", ["https://evil.example.net/v2/sync-local-files",
                                      "https://api.example.test/v2/sync-local-files"],
                         ids=["cross-origin", "http-to-https"])
def test_t24_redirects_are_not_followed_and_the_token_stays_home(status: int, location: str) -> None:
    client, seen = _recording(status, location)
    answer = client.upload(FILES)
    assert isinstance(answer, UploadError) and answer.http_status == status
    polled = client.job_status("job-1")
    assert isinstance(polled, JobUnreachable) and polled.http_status == status
    origin = (seen[0].url.scheme, seen[0].url.host)
    assert all((r.url.scheme, r.url.host) == origin for r in seen), "a redirect was followed"
    leaked = [r for r in seen if (r.url.scheme, r.url.host) != origin and "authorization" in r.headers]
    assert leaked == []
    record("t24", "redirects refused", 2, lost=len(seen) - 2)


def _self_signed(tmp: Path) -> tuple[Path, Path]:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed: cannot make a throwaway certificate")
    cert, key = tmp / "cert.pem", tmp / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True, timeout=60)
    return cert, key


def test_t24_self_signed_tls_on_loopback_is_a_connect_error(tmp_path: Path) -> None:
    cert, key = _self_signed(tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(5)
    port = listener.getsockname()[1]
    received: list[bytes] = []

    def serve() -> None:
        try:
            conn, _ = listener.accept()
        except OSError:
            return
        try:
            with context.wrap_socket(conn, server_side=True) as tls:
                tls.settimeout(2)
                received.append(tls.recv(65536))
        except (OSError, ssl.SSLError):
            pass  # the client refused the handshake, as it must

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    with HttpBackend(f"https://127.0.0.1:{port}/", TOKEN, connect_timeout=2, read_timeout=2,
                     deadline_seconds=5) as client:
        answer = client.upload(FILES)
    thread.join(timeout=5)
    listener.close()
    assert isinstance(answer, UploadError) and answer.kind == "network"
    assert "ConnectError" in answer.message and "CERTIFICATE_VERIFY_FAILED" in answer.message.upper() \
        .replace(" ", "_")
    assert received == [], "no request bytes (and no token) went over the unverified connection"
    assert TOKEN not in answer.message


def _violations(tree: ast.AST) -> list[str]:
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        for kw in node.keywords:
            safe = {"verify": True, "follow_redirects": False}.get(kw.arg or "")
            if safe is None:
                continue
            if not (isinstance(kw.value, ast.Constant) and kw.value.value is safe):
                found.append(f"line {node.lineno}: {kw.arg}={ast.unparse(kw.value)}")
    return found


def test_t24_no_code_turns_verification_off_or_redirects_on() -> None:
    problems = {}
    for path in library_sources():
        found = _violations(ast.parse(path.read_text(encoding="utf-8")))
        if found:
            problems[str(path.relative_to(ROOT))] = found
    assert problems == {}


def test_t24_the_lint_itself_catches_the_bad_forms() -> None:
    bad = ast.parse("httpx.Client(verify=False, follow_redirects=True)\n"
                    "httpx.get(u, verify=ctx_off)\nc.send(r, follow_redirects=flag)\n")
    assert len(_violations(bad)) == 4
