"""Durable transition rate: engine decisions (one transaction each, synchronous=FULL) against
raw sqlite3 committing one ~200-byte event plus a projection upsert per transaction, on the
same schema, indexes and file system, side by side in one run. Prints medians and the ratio.
A third side, raw sqlite3 issuing the very statements of an engine decision with ready-made
values, shows how much of the gap is SQLite's and how much is the engine's Python.

    .venv/bin/python bench/bench_durable.py [--n 2000] [--runs 5] [--dir /tmp]
"""

from __future__ import annotations

import argparse
import hashlib
import random
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from _common import raw_log

from walsync.adapters.engine import Engine
from walsync.adapters.ports import ManualClock, MemoryFiles
from walsync.adapters.sqlite_store import SqliteStore
from walsync.core.policy import WALSYNC

START = datetime(2026, 5, 20, tzinfo=UTC)


class _NoBackend:
    """Registration needs no backend; any call would be a bench bug."""

    def upload(self, *args: object, **kwargs: object) -> object:
        raise AssertionError("no uploads in this bench")

    def job_status(self, *args: object, **kwargs: object) -> object:
        raise AssertionError("no polls in this bench")


def registering_engine(store: SqliteStore) -> Engine:
    """An engine on `store` that only registers (no backend), with a fixed clock and ids."""
    ids = iter(range(10**9))
    return Engine(store, _NoBackend(), clock=ManualClock(START), files=MemoryFiles(),  # type: ignore[arg-type]
                  policy=WALSYNC, new_id=lambda: f"{next(ids):032x}", rng=random.Random(1))


def engine_rate(folder: Path, n: int) -> float:
    """Decisions per second: `register` appends one event and its row in one FULL commit."""
    engine = registering_engine(SqliteStore(folder / "engine.db", synchronous="FULL"))
    started = time.perf_counter()
    for i in range(n):
        engine.register(device="omi", timer_start=1_700_000_000 + i, file_path=f"{i}.bin")
    elapsed = time.perf_counter() - started
    engine.close()
    return n / elapsed


# A registration's data as the engine writes it: what each raw commit stores.
RAW_DATA = '{"channel":1,"codec":"opus","conversation_id":null,"delivered":false,' \
           '"device":"omi","file_path":"0.bin","sample_rate":16000,"storage":"disk"}'


def raw_commit(conn: sqlite3.Connection, i: int, prev: str) -> str:
    """One commit of raw's yardstick: event `i`, hashed after `prev`, and its projection
    upsert. Returns the event's hash, the next one's `prev`."""
    digest = hashlib.sha256((prev + RAW_DATA).encode()).hexdigest()
    conn.execute("BEGIN IMMEDIATE")
    conn.execute("INSERT INTO events (seq, event_id, stream, version, type, schema_version,"
                 " at, data, prev_hash, hash) VALUES (?, ?, ?, 1, 'WalRegistered', 1, ?, ?,"
                 " ?, ?)", (i, f"{i:032x}", f"wal:omi_{i}", "2026-05-20T00:00:00.000000Z",
                            RAW_DATA, prev, digest))
    conn.execute("INSERT OR REPLACE INTO wal_rows (wal_id, state, display, message_key, "
                 "text, color, action, retry_count, retry_budget, job_id, conversation_id,"
                 " storage, last_seq, updated_at) VALUES (?, 'miss', 'waiting', "
                 "'syncStatusWaiting', 'Waiting to sync', 'grey', 'chevron', 0, 3, NULL, "
                 "NULL, 'disk', ?, ?)", (f"omi_{i}", i, "2026-05-20T00:00:00.000000Z"))
    conn.execute("COMMIT")
    return digest


def raw_rate(folder: Path, n: int, after_commit: Callable[[Path], object] | None = None,
             synchronous: str = "FULL") -> float:
    """Commits per second of raw sqlite3: one event row + one projection upsert per commit;
    `after_commit`, given the log's path, runs after each COMMIT (bench_walstat's stat)."""
    path = folder / "raw.db"
    conn = raw_log(path, synchronous)
    prev = "0" * 64
    started = time.perf_counter()
    for i in range(1, n + 1):
        prev = raw_commit(conn, i, prev)
        if after_commit is not None:
            after_commit(path)
    elapsed = time.perf_counter() - started
    conn.close()
    return n / elapsed


def statements_rate(folder: Path, n: int) -> float:
    """Commits per second of raw sqlite3 issuing the statements of one engine decision, with
    the values ready-made (no Python work): BEGIN IMMEDIATE, the store's data_version check,
    the event, its row, both status cards, COMMIT, and the store's
    RESTART checkpoint every 100th commit. What the engine would reach with free Python."""
    conn = raw_log(folder / "statements.db")
    at, digest = "2026-05-20T00:00:00.000000Z", "0" * 64
    started = time.perf_counter()
    for i in range(1, n + 1):
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("PRAGMA data_version").fetchone()
        conn.execute("INSERT INTO events (seq, event_id, stream, version, type, schema_version,"
                     " at, data, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                     (i, f"{i:032x}", f"wal:omi_{i}", 1, "WalRegistered", 2, at, RAW_DATA, digest,
                      digest))
        conn.execute("INSERT OR REPLACE INTO wal_rows (wal_id, state, display, message_key, "
                     "text, color, action, retry_count, retry_budget, job_id, conversation_id,"
                     " storage, last_seq, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?,"
                     " ?, ?, ?)", (f"omi_{i}", "miss", "waiting", "syncStatusWaiting",
                                   "Waiting to sync", "grey", "chevron", 0, 3, None, None,
                                   "disk", i, at))
        conn.executemany("INSERT OR REPLACE INTO sync_card (page, kind, message_key, text, "
                         "detail, color, pill, spinner) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                         [(page, "ready", "syncCardReadyCount", f"{i} recordings ready to sync",
                           None, "grey", "sync", 0) for page in ("sync", "auto_sync")])
        conn.execute("COMMIT")
        if i % 100 == 0:
            conn.execute("PRAGMA busy_timeout=20")
            conn.execute("PRAGMA wal_checkpoint(RESTART)").fetchone()
            conn.execute("PRAGMA busy_timeout=5000")
    elapsed = time.perf_counter() - started
    conn.close()
    return n / elapsed


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=2000, help="decisions per run")
    parser.add_argument("--runs", type=int, default=5, help="runs per side (medians reported)")
    parser.add_argument("--dir", default=None, help="where the files go (same file system)")
    args = parser.parse_args(argv)
    engine_runs, raw_runs, statement_runs = [], [], []
    for _ in range(args.runs):  # interleaved, so machine noise hits every side alike
        for side, runs in ((raw_rate, raw_runs), (engine_rate, engine_runs),
                           (statements_rate, statement_runs)):
            with tempfile.TemporaryDirectory(dir=args.dir) as folder:
                runs.append(side(Path(folder), args.n))
    raw, engine = statistics.median(raw_runs), statistics.median(engine_runs)
    statements = statistics.median(statement_runs)
    print(f"{'durable transitions (FULL)':<40} {'per second (median)':>20}")
    print(f"{'raw sqlite3 event + upsert':<40} {raw:>20,.0f}")
    print(f"{'walsync engine decision':<40} {engine:>20,.0f}")
    print(f"{'ratio engine / raw':<40} {engine / raw:>20.2f}")
    print(f"{'raw sqlite3, the engine statements':<40} {statements:>20,.0f}")
    print(f"{'ratio engine statements / raw':<40} {statements / raw:>20.2f}")
    print(f"({args.runs} runs of {args.n} each side, interleaved)")
    return {"raw": raw, "engine": engine, "ratio": engine / raw, "statements": statements}


if __name__ == "__main__":
    main()
