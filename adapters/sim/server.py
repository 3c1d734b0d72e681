"""The simulated backend's HTTP face: the exact paths, fields and codes of spec section 6.

`handle` is shared by the in-process transport (virtual-time simulation, no sockets) and
`serve` (a real HTTP server on loopback for integration tests and `walsync sync`).
"""

from __future__ import annotations

import json
import logging
import sys
import threading
import time
from collections.abc import Callable, Mapping
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Final
from urllib.parse import unquote, urlsplit

import httpx

from walsync.adapters.sim.backend import SimBackend, Upload

__all__ = ["SimServer", "SimTransport", "handle"]

_UPLOAD: Final = "/v2/sync-local-files"
_MAX_BODY: Final = 64 * 1024 * 1024
_LOG: Final = logging.getLogger("walsync.serve_sim")
Reply = tuple[int, dict[str, str], bytes]


def _json(status: int, body: object, headers: dict[str, str] | None = None) -> Reply:
    return status, {"content-type": "application/json", **(headers or {})}, json.dumps(
        body).encode()


def _files(content_type: str, body: bytes) -> list[Upload] | None:
    """The `files` parts of a multipart/form-data body, or None when it is not one."""
    if not content_type.startswith("multipart/form-data"):
        return None
    message = BytesParser(policy=HTTP).parsebytes(
        b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body)
    if not message.is_multipart():
        return None
    uploads = []
    for part in message.iter_parts():
        if part.get_param("name", header="content-disposition") != "files":
            continue
        payload = part.get_payload(decode=True)
        uploads.append(Upload(name=part.get_filename() or "",
                              content=payload if isinstance(payload, bytes) else b""))
    return uploads


def handle(backend: SimBackend, now: float, method: str, target: str, headers: dict[str, str],
           body: bytes) -> Reply:
    """One request to the model at virtual time `now` -> (status, headers, body)."""
    lowered = {k.lower(): v for k, v in headers.items()}
    scheme, _, token = lowered.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return _json(401, {"detail": "Not authenticated"})
    path = urlsplit(target).path.rstrip("/")
    if method == "POST" and path.endswith(_UPLOAD):
        files = _files(lowered.get("content-type", ""), body)
        if files is None:
            return _json(422, {"detail": "multipart field 'files' required"})
        status, payload, extra = backend.upload(
            now, files, idempotency_key=lowered.get("idempotency-key"),
            log_head=lowered.get("x-walsync-log-head"))
        return _json(status, payload, extra)
    if method == "GET" and _UPLOAD + "/" in path:
        job_id = unquote(path.rsplit("/", 1)[1])
        status, payload = backend.status(now, job_id)
        return _json(status, payload)
    return _json(404, {"detail": "Not Found"})


def _response_bytes(version: str, status: int, phrases: Mapping[int, tuple[str, str]],
                    headers: dict[str, str], body: bytes) -> bytes:
    """A whole HTTP/1.1 response: status line, headers (with Content-Length) and body."""
    phrase = phrases.get(status, ("",))[0]
    lines = [f"{version} {status} {phrase}", *(f"{k}: {v}" for k, v in headers.items()),
             f"content-length: {len(body)}", "", ""]
    return "\r\n".join(lines).encode("latin-1") + body


class SimTransport(httpx.BaseTransport):
    """An httpx transport into the model at the time `now_seconds()` says (no sockets)."""

    def __init__(self, backend: SimBackend, now_seconds: Callable[[], float]) -> None:
        self.backend = backend
        self.now_seconds = now_seconds

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        """Answer one request from the model."""
        status, headers, body = handle(self.backend, self.now_seconds(), request.method,
                                       str(request.url), dict(request.headers), request.read())
        return httpx.Response(status, headers=headers, content=body)


class _LoggingServer(ThreadingHTTPServer):
    """A request that fails is logged (logger `walsync.serve_sim`), not printed as a traceback
    to the process's stderr, where it lands in whatever else the process prints (a client
    that hung up before its answer is the usual case, and a line of its own)."""

    def handle_error(self, request: object, client_address: object) -> None:
        error = sys.exc_info()[1]
        if isinstance(error, ConnectionError):
            _LOG.info("a client at %s hung up before its answer (%s)", client_address,
                      type(error).__name__)
        else:
            _LOG.exception("serving a request from %s failed", client_address)


class SimServer:
    """The model served over real HTTP on loopback; time is wall seconds since start."""

    def __init__(self, backend: SimBackend, now_seconds: Callable[[], float],
                 host: str = "127.0.0.1", port: int = 0, upload_delay: float = 0.0) -> None:
        """`upload_delay`: wall seconds every upload waits before it is answered (a slow
        network or server: a client stopping meanwhile has a request in flight)."""
        lock = threading.Lock()

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # A kept-alive connection answers at once: the status line, headers and body go
            # out in one write, and with TCP_NODELAY (written in two, with Nagle's algorithm,
            # the body waited for the client's delayed ACK of the headers: about 40 ms a call).
            disable_nagle_algorithm = True

            def _serve(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                if length > _MAX_BODY:
                    status, headers, body = _json(413, {"detail": "Request too large"},
                                                  {"connection": "close"})
                    self.close_connection = True  # its body is left unread on the connection
                else:
                    data = self.rfile.read(length) if length else b""
                    if upload_delay and self.command == "POST":
                        time.sleep(upload_delay)
                    with lock:
                        status, headers, body = handle(backend, now_seconds(), self.command,
                                                       self.path, dict(self.headers), data)
                self.wfile.write(_response_bytes(self.protocol_version, status, self.responses,
                                                 headers, body))

            do_GET = _serve
            do_POST = _serve

            def log_message(self, format: str, *args: object) -> None:
                """Quiet: the model keeps its own counters."""

        self.httpd = _LoggingServer((host, port), Handler)
        self.port = self.httpd.server_address[1]
        self.url = f"http://{host}:{self.port}/"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def start(self) -> SimServer:
        """Serve in a background thread."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self.httpd.shutdown()
        self.httpd.server_close()
