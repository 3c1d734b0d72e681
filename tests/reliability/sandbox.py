"""T13's determinism sandbox: inside it, reading a clock, a random source, a uuid, a socket or
writing through SQLite raises (or, for calls a monkeypatch cannot reach, is recorded).

Module attributes (time.time, random.random, uuid.uuid4, socket.socket, sqlite3.connect) are
patched to raise. A profile hook also catches C calls that a patch cannot reach: a name bound
by `from time import time` before the patch, and `datetime.now()` / `utcnow()` / `today()`
(datetime is a C type, its methods cannot be replaced). SQLite connections opened inside get
an authorizer that denies every write, except on the files named `writable` and on private
in-memory databases (scratch space that leaves no trace).
"""

from __future__ import annotations

import random
import socket
import sqlite3
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path
from types import FrameType
from typing import Any

import hypothesis
import pytest

_CLOCKS = {time.time: "time.time", time.time_ns: "time.time_ns",
           time.monotonic: "time.monotonic", time.monotonic_ns: "time.monotonic_ns",
           time.perf_counter: "time.perf_counter", time.localtime: "time.localtime"}
_WATCHDOG = {time.monotonic, time.monotonic_ns}
_DATE_NOW = {"now", "utcnow", "today"}
_RANDOM = ("random", "randint", "randrange", "uniform", "choice", "choices", "shuffle",
           "sample", "getrandbits", "gauss")
# Hypothesis times garbage collections from a gc callback, which runs on whatever frame the
# collection interrupted: test tooling, not replay.
_TOOLING = str(Path(hypothesis.__file__).parent)
_READS = {sqlite3.SQLITE_READ, sqlite3.SQLITE_SELECT, sqlite3.SQLITE_FUNCTION,
          sqlite3.SQLITE_PRAGMA, sqlite3.SQLITE_TRANSACTION, sqlite3.SQLITE_RECURSIVE}


class Nondeterminism(AssertionError):
    """Replay touched something other than the events."""


def _forbidden(name: str) -> Any:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise Nondeterminism(f"replay called {name}")
    return refuse


def _read_only(action: int, *args: Any) -> int:
    return sqlite3.SQLITE_OK if action in _READS else sqlite3.SQLITE_DENY


@contextmanager
def sandbox(*, writable: frozenset[Path] = frozenset(),
            watchdog: bool = False) -> Iterator[list[str]]:
    """Run the body in the sandbox; on exit, fail if anything non-deterministic was reached.

    `watchdog` allows the monotonic clock, for the read deadline that guards hostile input
    (contract C8): it bounds how long a read may take and never reaches the output.
    """
    with pytest.MonkeyPatch.context() as monkeypatch:
        yield from _sandboxed(monkeypatch, writable, watchdog)


def _sandboxed(monkeypatch: pytest.MonkeyPatch, writable: frozenset[Path],
               watchdog: bool) -> Iterator[list[str]]:
    seen: list[str] = []
    allowed = _WATCHDOG if watchdog else set()
    for fn, name in _CLOCKS.items():
        if fn not in allowed:
            monkeypatch.setattr(time, name.split(".")[1], _forbidden(name))
    for name in _RANDOM:
        monkeypatch.setattr(random, name, _forbidden(f"random.{name}"))
    monkeypatch.setattr(uuid, "uuid4", _forbidden("uuid.uuid4"))
    monkeypatch.setattr(uuid, "uuid1", _forbidden("uuid.uuid1"))
    monkeypatch.setattr(socket, "socket", _forbidden("socket.socket"))
    monkeypatch.setattr(socket, "create_connection", _forbidden("socket.create_connection"))
    real_connect = sqlite3.connect
    shared_random = random._inst  # type: ignore[attr-defined]

    def connect(database: Any, *args: Any, **kwargs: Any) -> sqlite3.Connection:
        conn = real_connect(database, *args, **kwargs)
        target = str(database).removeprefix("file:").split("?")[0]
        if target != ":memory:" and not any(Path(target).resolve() == w.resolve() for w in writable):
            conn.set_authorizer(_read_only)
        return conn

    monkeypatch.setattr(sqlite3, "connect", connect)

    def profile(frame: FrameType, event: str, arg: Any) -> None:
        if event != "c_call" or frame.f_code.co_filename.startswith(_TOOLING):
            return
        owner = getattr(arg, "__self__", None)
        if arg in _CLOCKS and arg not in allowed:
            seen.append(f"{_CLOCKS[arg]} from {frame.f_code.co_filename}:{frame.f_lineno}")
        elif owner in (datetime, date) and getattr(arg, "__name__", "") in _DATE_NOW:
            seen.append(f"{owner.__name__}.{arg.__name__}")
        elif owner is shared_random:
            seen.append(f"random.{arg.__name__}")

    sys.setprofile(profile)
    try:
        yield seen
    finally:
        sys.setprofile(None)
        monkeypatch.undo()  # before raising: the report itself may read the clock
    if seen:
        raise Nondeterminism(f"replay reached {sorted(set(seen))}")
