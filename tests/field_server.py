"""A backend on loopback for field tests: real HTTP, the spec's paths, answers a test chooses.

It reads every request body in chunks (never whole: a test may stream gigabytes through it),
notes the multipart file names, the bytes and the headers of each request, and answers with
what `answer` returns. The default answers every upload 200 (synced at once).
"""

from __future__ import annotations

import json
import logging
import os
import re
import struct
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from attrs import define, field

_FILENAME = re.compile(rb'filename="([^"]*)"')
_CHUNK = 1 << 16


class _QuietServer(ThreadingHTTPServer):
    """A request that fails (a client that hung up: a stopped service, a spent time budget) is
    logged, not printed by socketserver to stderr from the request's thread, where it lands in
    whatever test the worker runs next (T93 read its line of dashes as `timeline`'s JSON)."""

    def handle_error(self, request: object, client_address: object) -> None:
        logging.getLogger("tests.field_server").info("a request from %s failed: %s",
                                                     client_address, sys.exc_info()[1])


@define
class Seen:
    """One request as the server received it."""

    method: str
    path: str
    headers: dict[str, str]
    names: list[str] = field(factory=list)
    size: int = 0


Reply = tuple[int, dict[str, str], Any]
Answer = Callable[[Seen], Reply]


def synced(_: Seen) -> Reply:
    """200: processed at once."""
    return 200, {}, {"new_memories": [], "updated_memories": []}


class FieldServer:
    """`with FieldServer(answer, delay=...) as server:` serve on 127.0.0.1 until the block ends."""

    def __init__(self, answer: Answer = synced, *, delay: float = 0.0,
                 on_headers: Callable[[Seen], None] | None = None) -> None:
        self.answer = answer
        self.delay = delay
        self.on_headers = on_headers  # called before the body is read (it may still be coming)
        self.seen: list[Seen] = []
        self.cut: list[Seen] = []  # requests whose body ended before its declared length
        self.lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # a kept-alive call is not held by a delayed ACK

            def _serve(self) -> None:
                seen = Seen(self.command, self.path, {k.lower(): v for k, v in self.headers.items()})
                if owner.on_headers is not None:
                    owner.on_headers(seen)
                owner._read_body(self, seen)
                if seen.size < int(self.headers.get("content-length") or 0):
                    with owner.lock:
                        owner.cut.append(seen)
                    return  # the client stopped sending: no answer, the connection is gone
                with owner.lock:
                    owner.seen.append(seen)
                if owner.delay:
                    time.sleep(owner.delay)
                status, headers, body = owner.answer(seen)
                data = body if isinstance(body, bytes) else json.dumps(body).encode()
                self.send_response(status)
                headers = {"content-type": "application/json", **headers}
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = _serve
            do_POST = _serve

            def log_message(self, format: str, *args: object) -> None:
                """Quiet."""

        self.httpd = _QuietServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @staticmethod
    def _read_body(handler: BaseHTTPRequestHandler, seen: Seen) -> None:
        """Read the body in chunks; a file name is counted where its match ends, so a name split
        across two chunks is found once (the tail of the last chunk is searched again)."""
        left = int(handler.headers.get("content-length") or 0)
        carry = b""
        while left > 0:
            chunk = handler.rfile.read(min(_CHUNK, left))
            if not chunk:
                break
            left -= len(chunk)
            seen.size += len(chunk)
            window = carry + chunk
            seen.names.extend(m[1].decode() for m in _FILENAME.finditer(window)
                              if m.end() > len(carry))
            carry = window[-300:]

    def __enter__(self) -> FieldServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def uploads(self) -> list[Seen]:
        with self.lock:
            return [s for s in self.seen if s.method == "POST"]

    def posted(self) -> Counter[str]:
        """How many times each file name was posted."""
        return Counter(name for s in self.uploads() for name in s.names)


WALSYNC = [str(Path(sys.executable).with_name("walsync"))]  # the CLI as installed
BODY = (struct.pack("<I", 2) + b"ok") * 60  # a small, well-formed recording


def recordings(folder: Path, count: int, *, body: bytes = BODY, device: str = "omi",
               start: int = 1_700_000_000) -> list[str]:
    """`count` recordings with spec file names in `folder` (made if missing); their names."""
    folder.mkdir(parents=True, exist_ok=True)
    names = [f"audio_{device}_opus_16000_1_fs160_{start + 600 * i}.bin" for i in range(count)]
    for name in names:
        (folder / name).write_bytes(body)
    return names


def walsync(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None,
            timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run the installed `walsync` CLI; stdout and stderr captured as text."""
    return subprocess.run([*WALSYNC, *args], capture_output=True, text=True, cwd=cwd,
                          env={**os.environ, **(env or {})}, timeout=timeout, check=False)
