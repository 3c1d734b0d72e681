"""T01: kill -9 of a writer process at random points, repeated on the same log."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path

from tier import record, scale

from walsync.adapters.store.readonly.verify import verify_log
from walsync.adapters.store.sqlite import SqliteStore
from walsync.adapters.store.tables import dump_projection_tables

WRITER = Path(__file__).with_name("writer.py")
KILLS = scale(10, 500)
# The long tier starts a fresh log every PER_LOG kills and runs the full check (hash chain,
# replay == tables) every FULL_EVERY kills: on one ever-growing log each check reads it all.
PER_LOG = scale(10, 50)
FULL_EVERY = scale(1, 10)


def assert_tables_hold_the_last_events(conn: sqlite3.Connection) -> None:
    """No event without its projection change, cheaply: the row of the last recording event
    names its seq, and so does the gate row for the last gate event (`_check` compares whole
    tables with a replay)."""
    wal_top, row_top = conn.execute(
        "SELECT (SELECT max(seq) FROM events WHERE stream LIKE 'wal:%'), "
        "(SELECT max(last_seq) FROM wal_rows)").fetchone()
    assert wal_top == row_top
    gate_top, set_by = conn.execute(
        "SELECT (SELECT max(seq) FROM events WHERE stream = 'gate'), "
        "(SELECT set_by_seq FROM gate_state)").fetchone()
    assert gate_top is None or gate_top == set_by


def _check(path: Path) -> None:
    """Integrity, gapless seq, per-stream versions, the hash chain, and replay == tables."""
    report = verify_log(path)
    assert report.ok, report.problem
    with closing(sqlite3.connect(path)) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        count, top = conn.execute("SELECT count(*), coalesce(max(seq), 0) FROM events").fetchone()
        assert count == top
        tables = dump_projection_tables(conn)
        assert_tables_hold_the_last_events(conn)
    rebuilt = path.with_name(path.stem + "-rebuilt.db")
    with sqlite3.connect(path) as src, sqlite3.connect(rebuilt) as dst:
        src.backup(dst)
    store = SqliteStore(rebuilt)
    store.rebuild_projections()
    store.close()
    with sqlite3.connect(rebuilt) as conn:
        again = dump_projection_tables(conn)
    diff = [(x, y) for x, y in zip(tables.splitlines(), again.splitlines(), strict=True)
            if x != y]
    assert not diff, diff[:3]
    for suffix in ("", "-wal", "-shm"):
        Path(f"{rebuilt}{suffix}").unlink(missing_ok=True)


def test_kill_9_at_random_points_loses_no_acknowledged_event(tmp_path: Path) -> None:
    rng = random.Random(7)
    acked_total = 0
    for round_ in range(KILLS):
        path = tmp_path / f"log-{round_ // PER_LOG}.db"
        proc = subprocess.Popen([sys.executable, str(WRITER), str(path), f"w{round_}", "100000"],
                                stdout=subprocess.PIPE, text=True)
        assert proc.stdout is not None
        first = proc.stdout.readline()  # the writer is up and has acknowledged a commit
        time.sleep(rng.uniform(0.05, 0.4))
        os.kill(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate(timeout=30)
        acked = [int(line) for line in (first + out).split()]
        assert acked, "the writer acknowledged nothing before the kill"
        with closing(sqlite3.connect(path)) as conn:
            count, top = conn.execute("SELECT count(*), max(seq) FROM events").fetchone()
            assert_tables_hold_the_last_events(conn)
        # Acked seqs are printed after COMMIT; only the one transaction in flight at the kill
        # (this writer's largest holds 5 events) may stand after the last acknowledged seq.
        assert acked[-1] <= top <= acked[-1] + 5
        assert count == top  # gapless
        if round_ % FULL_EVERY == FULL_EVERY - 1 or round_ % PER_LOG == PER_LOG - 1 or (
                round_ == KILLS - 1):
            _check(path)
        acked_total += len(acked)
    assert acked_total > KILLS
    record("T01 kill -9 during appends", "kills survived", KILLS, 0)


def test_two_writer_processes_on_one_log_lose_nothing_and_never_see_locked(
        tmp_path: Path) -> None:
    """T06 through the store's real append path; also the regression for a rebuild that once
    folded outside its write transaction and overwrote the other writer's newer rows."""
    path = tmp_path / "log.db"
    SqliteStore(path).close()
    writer = Path(__file__).with_name("store_writer.py")
    procs = [subprocess.Popen([sys.executable, str(writer), str(path), name, "300"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for name in ("a", "b")]
    results = [p.communicate(timeout=180) for p in procs]
    for proc, (out, err) in zip(procs, results, strict=True):
        assert proc.returncode == 0, err
        assert "locked" not in err and out.startswith("ok 300 300 ")
    _check(path)
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT count(*) FROM events").fetchone() == (1200,)
        versions = [v for (v,) in conn.execute(
            "SELECT version FROM events WHERE stream = 'gate' ORDER BY seq")]
    assert versions == list(range(1, 601))
