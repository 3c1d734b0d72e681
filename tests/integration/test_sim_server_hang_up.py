"""`serve-sim` and a client that hangs up before its answer: the server logs one line
(logger `walsync.serve_sim`) instead of printing a traceback to the process's stderr. Before,
socketserver printed it there from the request's thread, whenever the write failed: into the
terminal of `walsync serve-sim`, and in the test suite into the output of whichever test the
worker ran at that moment (a `walsync replay ... timeline --json` read a line of dashes)."""

from __future__ import annotations

import logging
import socket
import struct
import time

import pytest

from walsync.adapters.sim.backend import SimBackend
from walsync.adapters.sim.server import SimServer


def test_a_client_that_hangs_up_is_logged_not_printed(
        capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture) -> None:
    server = SimServer(SimBackend(), lambda: 0.0, upload_delay=0.3).start()
    try:
        with caplog.at_level(logging.INFO, logger="walsync.serve_sim"):
            client = socket.create_connection(("127.0.0.1", server.port))
            client.sendall(b"POST /v2/sync-local-files HTTP/1.1\r\nHost: x\r\n"
                           b"Content-Length: 2\r\n\r\n{}")
            # Closed with a reset (linger 0): the server's answer, written after the delay,
            # meets a connection that is gone.
            client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            client.close()
            deadline = time.monotonic() + 10
            while "hung up" not in caplog.text and time.monotonic() < deadline:
                time.sleep(0.05)
    finally:
        server.stop()
    assert "hung up before its answer" in caplog.text
    assert capsys.readouterr().err == ""
