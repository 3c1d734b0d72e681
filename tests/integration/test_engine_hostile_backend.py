"""A backend that hangs, trickles or answers garbage never stalls the engine past its deadline."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from walsync.adapters.engine import Engine
from walsync.adapters.http.client import HttpBackend
from walsync.adapters.store.sqlite import SqliteStore
from walsync.core.policies import WALSYNC

from fakes import Harness


def _serve(behaviour: Callable[[socket.socket], None]) -> Iterator[str]:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    stop = threading.Event()

    def loop() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            threading.Thread(target=behaviour, args=(conn,), daemon=True).start()

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}/"
    stop.set()
    thread.join(timeout=2)
    listener.close()


def _hang(conn: socket.socket) -> None:
    time.sleep(5)
    conn.close()


def _trickle(conn: socket.socket) -> None:
    conn.recv(65536)
    try:
        for byte in b"HTTP/1.1 202 Accepted\r\ncontent-length: 100\r\n\r\n" + b"{" * 100:
            conn.sendall(bytes([byte]))
            time.sleep(0.2)
    except OSError:
        pass
    conn.close()


def _garbage(conn: socket.socket) -> None:
    conn.recv(65536)
    body = b'{"job_id": "j", "job_id": "k", "status": NaN}'
    conn.sendall(b"HTTP/1.1 202 Accepted\r\ncontent-type: application/json\r\n"
                 b"content-length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
    conn.close()


def _cut(conn: socket.socket) -> None:
    conn.recv(65536)
    conn.sendall(b"HTTP/1.1 202 Accepted\r\ncontent-length: 100\r\n\r\n{\"job_id\": \"jo")
    conn.close()


def _flood(conn: socket.socket) -> None:
    conn.recv(65536)
    try:
        conn.sendall(b"HTTP/1.1 202 Accepted\r\ntransfer-encoding: chunked\r\n\r\n")
        while True:
            conn.sendall(b"1000\r\n" + b" " * 4096 + b"\r\n")
    except OSError:
        pass
    conn.close()


@pytest.mark.parametrize("behaviour", [_hang, _trickle, _cut, _flood, _garbage],
                         ids=["hang", "trickle", "cut", "flood", "garbage"])
def test_t22_t23_upload_returns_by_the_deadline_and_changes_nothing_but_a_transport_record(
        behaviour: Callable[[socket.socket], None], tmp_path: Path) -> None:
    for url in _serve(behaviour):
        h = Harness(WALSYNC, store=SqliteStore(tmp_path / "log.db"))
        [wal] = h.add(1, conversation_id="c")
        before = [r.hash for r in h.store.read()]
        client = HttpBackend(url, "tok", connect_timeout=1.0, read_timeout=1.0,
                             deadline_seconds=1.0)
        engine = Engine(h.store, client, clock=h.clock, files=h.files, policy=WALSYNC)
        started = time.monotonic()
        engine.auto_sync(wal)
        assert time.monotonic() - started < 3.0
        row = engine.row(wal)
        assert (row.state, row.retry_count, row.job_id) == ("miss", 0, None)
        added = [r.type for r in h.store.read()][len(before):]
        # Only the attempt and its transport record (auto-sync has no run): no other change.
        assert added == ["UploadStarted", "UploadOutcomeUnknown"]
        assert [r.hash for r in h.store.read()][: len(before)] == before
        assert not engine.gate().gate.limited
        client.close()
        engine.close()


def test_t23_a_malformed_status_answer_is_a_transient_poll(tmp_path: Path) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            return httpx.Response(202, json={"job_id": "job-1", "status": "queued",
                                             "total_files": 1, "total_segments": 0,
                                             "poll_after_ms": 3000})
        return httpx.Response(200, content=b'{"job_id": "job-1", "status": 3}')

    h = Harness(WALSYNC, store=SqliteStore(tmp_path / "log.db"))
    [wal] = h.add(1)
    engine = Engine(h.store, HttpBackend("https://x.invalid/", "t",
                                         transport=httpx.MockTransport(handler)),
                    clock=h.clock, files=h.files, policy=WALSYNC)
    engine.sync_all()
    engine.reconcile()
    polled = [r.event for r in h.store.read() if r.type == "JobPolled"]
    assert [p.outcome for p in polled] == ["transient"]  # type: ignore[attr-defined]
    assert engine.row(wal).state == "uploaded" and engine.row(wal).retry_count == 0
    engine.close()
