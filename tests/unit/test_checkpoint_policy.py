"""The store's checkpoint policy, against a connection that records what it is asked to run:
when it tries a RESTART, how long that waits for readers, and when it forces one."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path
from typing import cast

from walsync.adapters.store.checkpoints import (
    BRIEF_WAIT_MS,
    EVERY,
    EVERY_EVENTS,
    FORCE_BYTES,
    CheckpointPolicy,
)

PAGE = 4096
TIMEOUT_MS = 5000
FORCE_FRAMES = FORCE_BYTES // (PAGE + 24)


class _Result:
    def __init__(self, row: tuple[int, int, int] | None) -> None:
        self.row = row

    def fetchone(self) -> tuple[int, int, int] | None:
        return self.row


class _Connection:
    """Answers each RESTART with the next (busy, frames) it was given; records every SQL."""

    def __init__(self, answers: list[tuple[int, int]] | None = None) -> None:
        self.sql: list[str] = []
        self.answers = list(answers or [])

    def execute(self, sql: str) -> _Result:
        self.sql.append(sql)
        if sql == "PRAGMA wal_checkpoint(RESTART)":
            busy, frames = self.answers.pop(0) if self.answers else (0, 0)
            return _Result((busy, frames, frames))
        return _Result(None)

    def restarts(self) -> list[str]:
        """The busy timeout in force at each RESTART."""
        waits, current = [], ""
        for sql in self.sql:
            if sql.startswith("PRAGMA busy_timeout="):
                current = sql.split("=")[1]
            elif sql == "PRAGMA wal_checkpoint(RESTART)":
                waits.append(current)
        return waits


def _commits(policy: CheckpointPolicy, conn: _Connection, count: int, events: int = 1) -> None:
    for _ in range(count):
        policy.after_commit(cast(sqlite3.Connection, conn), events)


def test_a_routine_restart_every_100th_commit_waits_briefly_and_restores_the_timeout() -> None:
    policy, conn = CheckpointPolicy(PAGE, TIMEOUT_MS), _Connection()
    _commits(policy, conn, EVERY - 1)
    assert conn.sql == []  # no statement (and no stat of any file) between attempts
    _commits(policy, conn, 1)
    assert conn.restarts() == [str(BRIEF_WAIT_MS)]
    assert conn.sql[-1] == f"PRAGMA busy_timeout={TIMEOUT_MS}"


def test_a_big_commit_brings_the_attempt_forward() -> None:
    policy, conn = CheckpointPolicy(PAGE, TIMEOUT_MS), _Connection()
    _commits(policy, conn, 1, events=EVERY_EVENTS)
    assert conn.restarts() == [str(BRIEF_WAIT_MS)]
    _commits(policy, conn, 1, events=EVERY_EVENTS // 2)
    assert conn.restarts() == [str(BRIEF_WAIT_MS)]  # the count started over


def test_a_busy_restart_over_16_mib_is_forced_with_the_whole_timeout() -> None:
    policy = CheckpointPolicy(PAGE, TIMEOUT_MS)
    conn = _Connection([(1, FORCE_FRAMES), (0, FORCE_FRAMES)])
    _commits(policy, conn, EVERY)
    assert conn.restarts() == [str(BRIEF_WAIT_MS), str(TIMEOUT_MS)]
    assert conn.sql[-1] == f"PRAGMA busy_timeout={TIMEOUT_MS}"


def test_a_busy_restart_under_16_mib_or_one_that_succeeds_is_not_forced() -> None:
    policy = CheckpointPolicy(PAGE, TIMEOUT_MS)
    conn = _Connection([(1, FORCE_FRAMES - 1), (0, 10 * FORCE_FRAMES)])
    _commits(policy, conn, 2 * EVERY)
    assert conn.restarts() == [str(BRIEF_WAIT_MS), str(BRIEF_WAIT_MS)]


def test_a_forced_restart_that_stays_busy_is_not_forced_again_for_100_commits() -> None:
    policy = CheckpointPolicy(PAGE, TIMEOUT_MS)
    big = FORCE_FRAMES + 1
    conn = _Connection([(1, big), (1, big), (1, big), (1, big), (1, big)])
    _commits(policy, conn, EVERY)  # routine, forced: still busy
    _commits(policy, conn, EVERY // 2, events=EVERY_EVENTS)  # 50 big commits: routine only
    assert conn.restarts() == [str(BRIEF_WAIT_MS), str(TIMEOUT_MS)] + [str(BRIEF_WAIT_MS)] * 50
    conn.answers = [(1, big), (1, big)]
    _commits(policy, conn, EVERY // 2)  # single events: the 200th commit may force again
    assert conn.restarts()[-2:] == [str(BRIEF_WAIT_MS), str(TIMEOUT_MS)]
    assert conn.restarts().count(str(TIMEOUT_MS)) == 2


def test_a_failing_checkpoint_leaves_the_commit_alone() -> None:
    class _Failing(_Connection):
        def execute(self, sql: str) -> _Result:
            if sql == "PRAGMA wal_checkpoint(RESTART)":
                raise sqlite3.OperationalError("disk I/O error")
            return super().execute(sql)

    policy, conn = CheckpointPolicy(PAGE, TIMEOUT_MS), _Failing()
    _commits(policy, conn, EVERY)  # raises nothing
    assert conn.sql[-1] == f"PRAGMA busy_timeout={TIMEOUT_MS}"


def test_the_frames_a_busy_restart_reports_are_the_wal_files_size(tmp_path: Path) -> None:
    """The policy sizes the WAL from the RESTART's answer instead of a stat of the file."""
    path = tmp_path / "log.db"
    with closing(sqlite3.connect(path, isolation_level=None)) as writer, \
            closing(sqlite3.connect(path, isolation_level=None)) as reader:
        writer.execute("PRAGMA journal_mode=WAL")
        writer.execute("CREATE TABLE t (x TEXT)")
        reader.execute("BEGIN")
        reader.execute("SELECT count(*) FROM t").fetchone()  # holds the WAL
        for i in range(300):
            writer.execute("INSERT INTO t VALUES (?)", (str(i) * 50,))
        writer.execute("PRAGMA busy_timeout=0")
        busy, frames, _ = writer.execute("PRAGMA wal_checkpoint(RESTART)").fetchone()
        size = Path(f"{path}-wal").stat().st_size
        reader.execute("COMMIT")
    assert busy == 1 and frames >= 300
    assert size == 32 + frames * (PAGE + 24)
