"""T50: connections are kept alive, one per request slot, and every call keeps its deadline.

Against real loopback servers: the simulated backend's HTTP face (which answers a kept-alive
call in one write, with TCP_NODELAY), and raw sockets that answer once and then trickle, or
close each connection after one answer.
"""

from __future__ import annotations

import socket
import threading
import time

from test_http_deadlines import LoopbackServer, read_request

from walsync.adapters.http.client import HttpBackend
from walsync.adapters.ports import UploadFile
from walsync.adapters.sim.backend import SimBackend
from walsync.adapters.sim.server import SimServer
from walsync.core.responses import JobStatus, JobUnreachable, UploadJobAccepted

OK_STATUS = (b'{"job_id": "job-1", "status": "queued", "total_segments": 0, '
             b'"processed_segments": 0, "successful_segments": 0, "failed_segments": 0}')


def _files() -> list[UploadFile]:
    """One recording the simulated backend accepts: made a minute ago, frames that decode."""
    name = f"audio_omi_opus_16000_1_fs160_{int(time.time()) - 60}.bin"
    return [UploadFile(name=name, content=b"\x02\x00\x00\x00ok" * 60)]


def _answer(body: bytes, *, close: bool = False) -> bytes:
    extra = b"Connection: close\r\n" if close else b""
    return (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n" + extra
            + b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)


class _CountingSim:
    """The simulated backend on loopback, counting the connections it accepted."""

    def __init__(self) -> None:
        self.model = SimBackend(epoch=time.time())
        self.server = SimServer(self.model, lambda: 0.0)
        self.connections = 0
        accept = self.server.httpd.process_request

        def counted(request: object, address: object) -> None:
            self.connections += 1
            accept(request, address)  # type: ignore[arg-type]  # the socketserver's own types

        self.server.httpd.process_request = counted  # type: ignore[method-assign]  # counting wrapper

    def __enter__(self) -> _CountingSim:
        self.server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.stop()


def test_t50_one_connection_serves_a_whole_run_of_sequential_calls() -> None:
    with _CountingSim() as sim, HttpBackend(sim.server.url, "token-0123456789") as http:
        answer = http.upload(_files())
        assert isinstance(answer, UploadJobAccepted)
        for _ in range(20):
            assert isinstance(http.job_status(answer.job_id), JobStatus)
    assert sim.model.counters["status_polls"] == 20
    assert sim.connections == 1, "every call after the first reuses the first connection"


def test_t50_concurrent_polls_take_one_connection_each_and_keep_them() -> None:
    with _CountingSim() as sim, HttpBackend(sim.server.url, "token-0123456789") as http:
        answer = http.upload(_files())
        assert isinstance(answer, UploadJobAccepted)
        start = threading.Barrier(3)

        def poll() -> None:
            start.wait()
            for _ in range(10):
                assert isinstance(http.job_status(answer.job_id), JobStatus)

        for _ in range(3):
            threads = [threading.Thread(target=poll) for _ in range(3)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            start.reset()
    assert sim.model.counters["status_polls"] == 90
    assert 1 <= sim.connections <= 4, "at most one connection per request slot"


def test_t50_a_call_on_a_reused_connection_still_ends_at_its_deadline() -> None:
    """The first call is answered and the connection kept; the second, on that very
    connection, is answered a byte every 0.25 s: the watchdog cuts it at the deadline."""
    def behaviour(conn: socket.socket, stop: threading.Event) -> None:
        read_request(conn, stop)
        conn.sendall(_answer(OK_STATUS))
        read_request(conn, stop)
        for byte in _answer(OK_STATUS):
            conn.sendall(bytes([byte]))
            if stop.wait(0.25):
                return

    with LoopbackServer(behaviour) as server, HttpBackend(
            server.url, "token-0123456789", deadline_seconds=1.5, read_timeout=1.0) as http:
        assert isinstance(http.job_status("job-1"), JobStatus)
        started = time.monotonic()
        late = http.job_status("job-1")
        took = time.monotonic() - started
        connections = len(server.threads)
    assert connections == 1, "the second call ran on the first call's connection"
    assert isinstance(late, JobUnreachable) and "deadline" in (late.detail or "")
    assert took < 3.0, f"a trickled answer on a kept-alive connection took {took:.1f}s"


def test_t50_a_server_that_closes_each_connection_gets_a_new_one_per_call() -> None:
    def behaviour(conn: socket.socket, stop: threading.Event) -> None:
        read_request(conn, stop)
        conn.sendall(_answer(OK_STATUS, close=True))

    with LoopbackServer(behaviour) as server, HttpBackend(server.url, "token-0123456789") as http:
        answers = [http.job_status("job-1") for _ in range(5)]
        connections = len(server.threads)
    assert all(isinstance(a, JobStatus) for a in answers)
    assert connections == 5
