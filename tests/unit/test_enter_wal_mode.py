"""Entering WAL mode on a new log while other processes open it too (T34): SQLite answers
SQLITE_BUSY at once to a journal conversion another connection's lock blocks, without calling
the busy handler, so the store retries the conversion within its busy timeout."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from walsync.adapters.store.checkpoints import enter_wal_mode
from walsync.adapters.store.sqlite import SqliteStore

from fakes import SteppedClock


def _busy() -> sqlite3.OperationalError:
    error = sqlite3.OperationalError("database is locked")
    error.sqlite_errorcode = sqlite3.SQLITE_BUSY  # type: ignore[attr-defined]  # as SQLite sets it
    return error


class _BusyConversions(sqlite3.Connection):
    """A real connection whose first conversions to WAL are refused as another opener's would be."""

    refusals = 0

    def execute(self, sql: str, *args: Any) -> sqlite3.Cursor:  # type: ignore[override]  # a spy
        if sql == "PRAGMA journal_mode=WAL" and _BusyConversions.refusals:
            _BusyConversions.refusals -= 1
            raise _busy()
        return super().execute(sql, *args)


def _connect(path: str, timeout: float) -> sqlite3.Connection:
    return sqlite3.connect(path, isolation_level=None, timeout=timeout, check_same_thread=False,
                           factory=_BusyConversions)


def test_a_new_log_opens_when_its_first_conversions_to_wal_are_busy(tmp_path: Path) -> None:
    _BusyConversions.refusals = 2
    store = SqliteStore(tmp_path / "new.db", connect=_connect)
    try:
        assert _BusyConversions.refusals == 0
        assert store.head()[0] == 0
    finally:
        store.close()
    with sqlite3.connect(tmp_path / "new.db") as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_a_conversion_busy_past_the_timeout_raises_sqlite_busy(tmp_path: Path) -> None:
    _BusyConversions.refusals = 10_000
    clock = SteppedClock()
    conn = _connect(str(tmp_path / "x.db"), 5.0)
    try:
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            enter_wal_mode(conn, 1.0, sleep=clock.sleep, clock=clock)
    finally:
        _BusyConversions.refusals = 0
        conn.close()
    assert 1.0 <= clock.now < 1.1
    assert max(clock.pauses) == 0.05 and clock.pauses[0] == 0.002


def test_an_error_other_than_busy_is_not_retried() -> None:
    class Refusing:
        def execute(self, sql: str) -> None:
            raise sqlite3.OperationalError("disk I/O error")

    clock = SteppedClock()
    with pytest.raises(sqlite3.OperationalError, match="disk I/O"):
        enter_wal_mode(Refusing(), 5.0, sleep=clock.sleep, clock=clock)  # type: ignore[arg-type]  # a stub connection
    assert clock.pauses == []


def test_a_log_already_in_wal_mode_is_not_converted_again(tmp_path: Path) -> None:
    SqliteStore(tmp_path / "log.db").close()
    _BusyConversions.refusals = 10_000  # any conversion would now fail
    conn = _connect(str(tmp_path / "log.db"), 5.0)
    try:
        enter_wal_mode(conn, 0.0)
    finally:
        _BusyConversions.refusals = 0
        conn.close()
