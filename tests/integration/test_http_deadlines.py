"""HttpBackend against real loopback sockets (reliability.md T22): stalls, slowloris, cut bodies, floods."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from typing import TypeVar

import pytest

from walsync.adapters.http.client import HttpBackend
from walsync.adapters.ports import UploadFile
from walsync.core.responses import JobUnreachable, UploadError, UploadLost

FILES = [UploadFile(name="audio_omi_opus_16000_1_fs160_1700000000.bin", content=b"\x01\x00\x00\x00a" * 100)]
T = TypeVar("T")
Behaviour = Callable[[socket.socket, threading.Event], None]


class LoopbackServer:
    """A thread per connection on 127.0.0.1:0, each running `behaviour` until it returns or stop is set."""

    def __init__(self, behaviour: Behaviour) -> None:
        self.behaviour = behaviour
        self.stop = threading.Event()
        self.errors: list[str] = []  # how each connection ended on the server side
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.05)
        self.port = self.listener.getsockname()[1]
        self.threads: list[threading.Thread] = []
        self.acceptor = threading.Thread(target=self._accept, daemon=True)

    def __enter__(self) -> LoopbackServer:
        self.acceptor.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.acceptor.join(timeout=2)
        self.listener.close()
        for thread in self.threads:
            thread.join(timeout=2)
        assert not self.acceptor.is_alive()
        assert not any(thread.is_alive() for thread in self.threads)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.listener.accept()
            except TimeoutError:
                continue
            thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            self.threads.append(thread)
            thread.start()

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(0.2)
            try:
                self.behaviour(conn, self.stop)
                self.errors.append("done")
            except OSError as exc:
                self.errors.append(type(exc).__name__)


def read_request(conn: socket.socket, stop: threading.Event) -> bytes:
    """Headers plus a Content-Length body, so the client has finished sending."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += _recv(conn, stop)
    head, _, body = data.partition(b"\r\n\r\n")
    length = next((int(line.split(b":")[1]) for line in head.lower().split(b"\r\n")
                   if line.startswith(b"content-length:")), 0)
    while len(body) < length:
        body += _recv(conn, stop)
    return head


def _recv(conn: socket.socket, stop: threading.Event) -> bytes:
    while not stop.is_set():
        try:
            chunk = conn.recv(65536)
        except TimeoutError:
            continue
        if not chunk:
            raise ConnectionResetError("client closed")
        return chunk
    raise ConnectionAbortedError("server stopping")


def as_answer_to(head: bytes, response: bytes) -> bytes:
    """The upload's 202 becomes a 200 for a status GET, so both calls read the same hostile body."""
    return response.replace(b"202 Accepted", b"200 OK", 1) if head.startswith(b"GET ") else response


def never_answer(conn: socket.socket, stop: threading.Event) -> None:
    read_request(conn, stop)
    stop.wait()


def dribble(response: bytes) -> Behaviour:
    def behaviour(conn: socket.socket, stop: threading.Event) -> None:
        answer = as_answer_to(read_request(conn, stop), response)
        for i in range(len(answer)):
            conn.sendall(answer[i:i + 1])
            if stop.wait(0.25):
                return
    return behaviour


def close_after(response: bytes) -> Behaviour:
    def behaviour(conn: socket.socket, stop: threading.Event) -> None:
        conn.sendall(as_answer_to(read_request(conn, stop), response))
    return behaviour


def flood(head: bytes, chunk: bytes) -> Behaviour:
    def behaviour(conn: socket.socket, stop: threading.Event) -> None:
        conn.sendall(as_answer_to(read_request(conn, stop), head))
        while not stop.is_set():
            try:
                conn.sendall(chunk)
            except TimeoutError:  # the client stopped reading but kept the socket: wait and see
                continue
    return behaviour


def timed(call: Callable[[], T]) -> tuple[T, float]:
    """The call's result and how long it took."""
    start = time.monotonic()
    result = call()
    return result, time.monotonic() - start


def client(url: str, *, deadline_seconds: float = 5.0, max_response_bytes: int = 1_048_576) -> HttpBackend:
    """Short timeouts: connect 1 s, each read 0.5 s."""
    return HttpBackend(url, "tok-loopback", connect_timeout=1.0, read_timeout=0.5,
                       deadline_seconds=deadline_seconds, max_response_bytes=max_response_bytes)


def test_t22_a_silent_server_is_given_up_at_the_read_timeout() -> None:
    with LoopbackServer(never_answer) as server, client(server.url) as backend:
        answer, took = timed(lambda: backend.upload(FILES))
        assert isinstance(answer, UploadLost)  # the request went out: the server may have applied it
        assert "ReadTimeout" in answer.detail
        assert 0.4 <= took < 1.5
        status, took = timed(lambda: backend.job_status("job-1"))
        assert isinstance(status, JobUnreachable) and status.http_status is None
        assert "ReadTimeout" in status.detail
        assert 0.4 <= took < 1.5


BODY_DRIBBLE = b"HTTP/1.1 202 Accepted\r\nContent-Length: 400\r\n\r\n" + b" " * 400
HEAD_DRIBBLE = b"HTTP/1.1 200 OK\r\nX-Padding: " + b"x" * 400 + b"\r\n\r\n{}"


@pytest.mark.parametrize("response", [BODY_DRIBBLE, HEAD_DRIBBLE], ids=["body", "headers"])
def test_t22_slowloris_is_cut_at_the_overall_deadline(response: bytes) -> None:
    # Every byte arrives well inside the 0.5 s read timeout: only the 1 s deadline can stop it (P9).
    with LoopbackServer(dribble(response)) as server, client(server.url, deadline_seconds=1.0) as backend:
        answer, took = timed(lambda: backend.upload(FILES))
        assert isinstance(answer, UploadLost)
        assert "deadline" in answer.detail
        assert 0.9 <= took < 3.0
        status, took = timed(lambda: backend.job_status("job-1"))
        assert isinstance(status, JobUnreachable) and "deadline" in status.detail
        assert 0.9 <= took < 3.0


@pytest.mark.parametrize("response", [
    b"",  # accepted the request, then hung up without a word
    b"HTTP/1.1 202 Accepted\r\nContent-Length: 100\r\n\r\n" + b'{"job_id": "jo',
    b"HTTP/1.1 202 Accepted\r\nTransfer-Encoding: chunked\r\n\r\n10\r\n{\"job_id\": \"job",
    b"HTTP/1.1 20",
], ids=["no-answer", "cut-body", "cut-chunk", "cut-status-line"])
def test_t22_a_connection_closed_mid_answer_gives_a_typed_result(response: bytes) -> None:
    with LoopbackServer(close_after(response)) as server, client(server.url) as backend:
        answer, took = timed(lambda: backend.upload(FILES))
        assert isinstance(answer, UploadLost)
        assert took < 1.0
        status = backend.job_status("job-1")
        assert isinstance(status, JobUnreachable) and status.http_status is None


@pytest.mark.parametrize(("head", "chunk"), [
    (b"HTTP/1.1 202 Accepted\r\nTransfer-Encoding: chunked\r\n\r\n", b"1000\r\n" + b" " * 4096 + b"\r\n"),
    (b"HTTP/1.1 202 Accepted\r\nContent-Length: 104857600\r\n\r\n", b" " * 4096),
], ids=["endless-chunked", "declared-100MB"])
def test_t22_a_flood_is_stopped_at_the_size_cap(head: bytes, chunk: bytes) -> None:
    with LoopbackServer(flood(head, chunk)) as server, \
            client(server.url, max_response_bytes=65_536) as backend:
        answer, took = timed(lambda: backend.upload(FILES))
        assert isinstance(answer, UploadLost)
        assert "cap" in answer.detail
        assert took < 2.0
        status, took = timed(lambda: backend.job_status("job-1"))
        assert isinstance(status, JobUnreachable) and "cap" in status.detail
        assert took < 2.0
        deadline = time.monotonic() + 2
        while len(server.errors) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        # The client hung up on the flood: the server saw its writes fail, it was not told to stop.
        assert len(server.errors) == 2 and "done" not in server.errors


def test_t22_a_refused_connection_is_a_network_error_not_a_lost_upload() -> None:
    probe = socket.create_server(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    with client(f"http://127.0.0.1:{port}") as backend:
        answer = backend.upload(FILES)
        assert isinstance(answer, UploadError)
        assert (answer.kind, answer.http_status) == ("network", None)
        assert "ConnectError" in answer.message
