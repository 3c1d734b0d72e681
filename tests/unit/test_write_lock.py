"""The store's write lock (store/checkpoints.py: begin_immediate): tried again at short pauses while another
connection holds it (never SQLite's busy handler, whose sleeps grow to 100 ms), up to the busy
timeout; the connection's busy timeout set back after."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from walsync.adapters.store.checkpoints import MAX_PAUSE_S, begin_immediate

from fakes import SteppedClock


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, timeout=5.0)
    conn.execute("PRAGMA journal_mode=WAL")
    return conn


def test_a_held_lock_is_tried_at_short_pauses_until_the_timeout(tmp_path: Path) -> None:
    with closing(_connect(tmp_path / "x.db")) as holder, \
            closing(_connect(tmp_path / "x.db")) as waiter:
        holder.execute("BEGIN IMMEDIATE")
        clock = SteppedClock()
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            begin_immediate(waiter, 0.5, sleep=clock.sleep, clock=clock)
        assert 0.5 <= clock.now < 0.5 + MAX_PAUSE_S
        assert len(clock.pauses) > 400 and max(clock.pauses) <= MAX_PAUSE_S
        assert waiter.execute("PRAGMA busy_timeout").fetchone() == (500,)
        assert not waiter.in_transaction


def test_the_lock_is_taken_once_the_holder_commits(tmp_path: Path) -> None:
    with closing(_connect(tmp_path / "x.db")) as holder, \
            closing(_connect(tmp_path / "x.db")) as waiter:
        holder.execute("BEGIN IMMEDIATE")
        clock = SteppedClock()

        def sleep(seconds: float) -> None:
            clock.sleep(seconds)
            if len(clock.pauses) == 3:
                holder.execute("COMMIT")

        begin_immediate(waiter, 5.0, sleep=sleep, clock=clock)
        assert waiter.in_transaction and len(clock.pauses) == 3
        assert waiter.execute("PRAGMA busy_timeout").fetchone() == (5000,)
        waiter.execute("COMMIT")


def test_an_error_other_than_busy_is_not_retried() -> None:
    class Refusing:
        def execute(self, sql: str) -> None:
            if sql == "BEGIN IMMEDIATE":
                raise sqlite3.OperationalError("disk I/O error")

    clock = SteppedClock()
    with pytest.raises(sqlite3.OperationalError, match="disk I/O"):
        begin_immediate(Refusing(), 5.0, sleep=clock.sleep, clock=clock)  # type: ignore[arg-type]  # a stub connection
    assert clock.pauses == []
