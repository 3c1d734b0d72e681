"""The overall deadline of one call on pooled, kept-alive connections (P9).

Per-phase timeouts alone do not bound a call: a server that trickles a byte before each read
timeout keeps it going. A watchdog per call shuts the call's socket down at its deadline. With
keep-alive a call usually runs on a connection opened by an earlier one, so the socket cannot
come from the call's connect: every network stream of the pool is wrapped, and the stream a
thread reads or writes tells the watchdog that thread is running (a sync httpx call runs in
its caller's thread) which socket it is on. A reused connection is watched exactly like a new
one, and a connection opened after the deadline fired is shut down as it is handed over.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
import time
from collections.abc import Iterable, Iterator
from typing import Any, Final

import httpcore
import httpx

__all__ = ["KEEPALIVE_SECONDS", "Watchdog", "WatchedTransport", "watching"]

# How long an idle connection is kept for the next call. Long enough for a whole `walsync
# sync` run of 20 s passes; short enough that a connection a mobile network's NAT forgot
# without a word is not sent a request into the void (a server that closes one is noticed
# before it is reused: httpcore drops a connection whose socket reads as closed).
KEEPALIVE_SECONDS: Final = 120.0
_ACTIVE: Final = threading.local()  # .watchdog: the deadline of the call this thread makes


class Watchdog:
    """Shuts the call's socket down at the deadline, whichever connection the call runs on."""

    def __init__(self, deadline: float) -> None:
        self.fired = False
        self.reason: str | None = None  # why it fired before its deadline (an abort)
        self.deadline = deadline
        self._lock = threading.Lock()
        self._sock: socket.socket | None = None
        self._timer = threading.Timer(max(deadline - time.monotonic(), 0.0), self._fire)
        self._timer.daemon = True

    def attach(self, sock: socket.socket | None) -> None:
        """The call is reading or writing on `sock` now."""
        if sock is None or sock is self._sock:
            return
        with self._lock:
            self._sock, fired = sock, self.fired
        if fired:
            _shut(sock)

    def abort(self, reason: str) -> None:
        """Fire now: the call ends as if its deadline had passed, saying `reason`."""
        self.reason = reason
        self._fire()

    def _fire(self) -> None:
        with self._lock:
            self.fired, sock = True, self._sock
        if sock is not None:
            _shut(sock)

    def start(self) -> None:
        self._timer.start()

    def stop(self) -> None:
        self._timer.cancel()


def _shut(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):  # already closed: the call finished in time
        socket.socket.shutdown(sock, socket.SHUT_RDWR)  # the plain method, also for an SSLSocket


@contextlib.contextmanager
def watching(watchdog: Watchdog) -> Iterator[Watchdog]:
    """Run a call of this thread under `watchdog` (started here, stopped on the way out)."""
    previous = getattr(_ACTIVE, "watchdog", None)
    _ACTIVE.watchdog = watchdog
    watchdog.start()
    try:
        yield watchdog
    finally:
        watchdog.stop()
        _ACTIVE.watchdog = previous


class _WatchedStream(httpcore.NetworkStream):
    """A pooled connection's stream that reports its socket to the calling thread's watchdog."""

    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner
        found = inner.get_extra_info("socket")
        self._sock = found if isinstance(found, socket.socket) else None

    def _watched(self) -> None:
        watchdog: Watchdog | None = getattr(_ACTIVE, "watchdog", None)
        if watchdog is not None:
            watchdog.attach(self._sock)

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        self._watched()
        return self._inner.read(max_bytes, timeout)

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._watched()
        self._inner.write(buffer, timeout)

    def close(self) -> None:
        self._inner.close()

    def start_tls(self, ssl_context: ssl.SSLContext, server_hostname: str | None = None,
                  timeout: float | None = None) -> httpcore.NetworkStream:
        self._watched()  # the handshake is part of the call, and bounded by its deadline too
        return _WatchedStream(self._inner.start_tls(ssl_context, server_hostname, timeout))

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _WatchedBackend(httpcore.NetworkBackend):
    """The pool's network backend, with every stream it opens watched."""

    def __init__(self, inner: httpcore.NetworkBackend) -> None:
        self._inner = inner

    def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                    local_address: str | None = None,
                    socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None
                    ) -> httpcore.NetworkStream:
        return _WatchedStream(self._inner.connect_tcp(host, port, timeout, local_address,
                                                      socket_options))

    def connect_unix_socket(self, path: str, timeout: float | None = None,
                            socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None
                            ) -> httpcore.NetworkStream:
        return _WatchedStream(self._inner.connect_unix_socket(path, timeout, socket_options))

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


class WatchedTransport(httpx.HTTPTransport):
    """httpx's own transport (TLS verified, HTTP/1.1) keeping up to `connections` connections
    alive, one per request slot, each watched by the deadline of the call using it."""

    def __init__(self, connections: int) -> None:
        super().__init__(verify=True, limits=httpx.Limits(
            max_connections=connections, max_keepalive_connections=connections,
            keepalive_expiry=KEEPALIVE_SECONDS))
        # httpx has no parameter for the pool's network backend; httpcore's pool keeps it here.
        pool = self._pool
        if not isinstance(pool, httpcore.ConnectionPool) or not isinstance(
                getattr(pool, "_network_backend", None), httpcore.NetworkBackend):
            raise RuntimeError("this httpcore keeps its network backend elsewhere: "
                               "the deadline watchdog cannot watch its connections")
        pool._network_backend = _WatchedBackend(pool._network_backend)
