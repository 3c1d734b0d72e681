"""T55: compaction never loses a committed event. The segment file is written and fsynced
first, then one transaction appends SegmentSealed and StateCarried, deletes the moved rows and
archives the finished recordings: a crash (an exception, or the process killed with SIGKILL)
at any step leaves the old log (every row, the same fold, verify sound; at most a segment file
no seal names, which the next compaction replaces) or the new one."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import pytest
from click.testing import CliRunner
from compacted import aged_log, days, fold_of, live_fold, rows_of, whole_history

from walsync.adapters.cli.main import cli
from walsync.adapters.store.readonly.full_check import verify_full
from walsync.adapters.store.segments.compact import compact_log
from walsync.core.errors import StoreError
from walsync.core.serde import format_time, parse_time

_STEPS = ("segment_written", "sealed_uncommitted", "committed")


class _Crash(Exception):
    pass


def _built(folder: Path) -> tuple[Path, str]:
    path = folder / "log.db"
    h = aged_log(path)
    now = format_time(h.clock.now())
    h.store.close()
    return path, now


def _seals(path: Path) -> int:
    with closing(sqlite3.connect(path)) as conn:
        return int(conn.execute(
            "SELECT count(*) FROM events WHERE type = 'SegmentSealed'").fetchone()[0])


def _after_crash(path: Path, step: str, rows: list[tuple[object, ...]], folded: object) -> None:
    report = verify_full(path)
    assert report.ok, report.problem
    if step == "committed":  # the new log: the same history, a shorter live log
        assert _seals(path) == 1
        assert fold_of(whole_history(path)).rows == folded.rows  # type: ignore[attr-defined]
    else:  # the old log, row for row
        assert _seals(path) == 0 and list(rows_of(path)) == rows
        assert live_fold(path).rows == folded.rows  # type: ignore[attr-defined]


@pytest.mark.parametrize("step", _STEPS)
def test_a_fault_at_any_step_leaves_the_old_log_or_the_new(tmp_path: Path, step: str) -> None:
    path, now = _built(tmp_path)
    rows, folded = list(rows_of(path)), live_fold(path)

    def fault(reached: str) -> None:
        if reached == step:
            raise _Crash(reached)

    with pytest.raises(_Crash):
        compact_log(path, older_than=days(30), now=parse_time(now), fault=fault)
    _after_crash(path, step, rows, folded)
    if step != "committed":  # run again: the orphan segment is replaced, the cut made
        again = compact_log(path, older_than=days(30), now=parse_time(now))
        assert again.segment is not None and _seals(path) == 1
        assert verify_full(path).ok


_KILLER = """
import os, signal, sys
from datetime import timedelta
from walsync.adapters.store.segments.compact import compact_log
from walsync.core.serde import parse_time
def fault(reached):
    if reached == sys.argv[2]:
        os.kill(os.getpid(), signal.SIGKILL)
compact_log(sys.argv[1], older_than=timedelta(days=30), now=parse_time(sys.argv[3]), fault=fault)
"""


@pytest.mark.parametrize("step", _STEPS)
def test_a_kill_at_any_step_leaves_the_old_log_or_the_new(tmp_path: Path, step: str) -> None:
    path, now = _built(tmp_path)
    rows, folded = list(rows_of(path)), live_fold(path)
    done = subprocess.run([sys.executable, "-c", _KILLER, str(path), step, now],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == -signal.SIGKILL, done.stderr
    _after_crash(path, step, rows, folded)


def test_a_segment_that_cannot_be_written_is_a_typed_error_and_changes_nothing(
        tmp_path: Path) -> None:
    """The segment's name taken by a folder: the rename fails (OSError), the command says so
    in one line and the log keeps every row."""
    path, now = _built(tmp_path)
    rows = list(rows_of(path))
    (tmp_path / "log.db.seg-000000000001-000000000028.jsonl.gz").mkdir()
    with pytest.raises(StoreError, match="failed writing its segment"):
        compact_log(path, older_than=days(30), now=parse_time(now))
    result = CliRunner().invoke(cli, ["compact", "--db", str(path), "--now", now])
    assert result.exit_code == 1 and result.output.startswith("Error: compacting ")
    assert len(result.output.splitlines()) == 1
    assert list(rows_of(path)) == rows and _seals(path) == 0 and verify_full(path).ok
    assert not list(tmp_path.glob("*.tmp"))  # the unfinished segment removed
