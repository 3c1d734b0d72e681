"""Durable transition rate: engine decisions (one transaction each, synchronous=FULL) against
raw sqlite3 committing one ~200-byte event plus a projection upsert per transaction, on the
same schema, indexes and file system, side by side in one run. Prints medians and the ratio.
A third side, raw sqlite3 issuing the very statements of an engine decision with ready-made
values, shows how much of the gap is SQLite's and how much is the engine's Python. A fourth,
the floor, does only the work a decision cannot go without (its typed event, canonical JSON,
chained row, aggregate, status row and both cards, through the library's own functions, and
the same statements) with none of the engine's checks and bookkeeping around it: the most a
decision written in Python on this stack could reach.

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
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path

from _common import raw_log

from walsync.adapters.engine import Engine
from walsync.adapters.ports import ManualClock, NewEvent, StoredEvent
from walsync.adapters.recordings.files import MemoryFiles
from walsync.adapters.store.checkpoints import CheckpointPolicy
from walsync.adapters.store.records import SELECT_HEAD, body_of, make_stored
from walsync.adapters.store.sqlite import SqliteStore, insert_event_rows
from walsync.adapters.store.tables import write_card_rows, write_live_view, write_wal_rows
from walsync.core.events import WalRegistered
from walsync.core.policies import WALSYNC
from walsync.core.wal import Wal
from walsync.projections.card import Card, card_inputs, page_cards
from walsync.projections.view import Delta
from walsync.projections.wal_rows import WalRow, row_of

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
                 " at, data, prev_hash, hash, commit_end) VALUES (?, ?, ?, 1, 'WalRegistered', 3,"
                 " ?, ?, ?, ?, ?)", (i, f"{i:032x}", f"wal:omi_{i}", "2026-05-20T00:00:00.000000Z",
                                     RAW_DATA, prev, digest, i))
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
    the event, its row, both status cards (through the store's own insert and upserts),
    COMMIT, and the store's checkpoint policy. What the engine would reach with free Python."""
    conn = raw_log(folder / "statements.db")
    checkpoints = store_checkpoints(conn)
    at, digest = "2026-05-20T00:00:00.000000Z", "0" * 64
    started = time.perf_counter()
    for i in range(1, n + 1):
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("PRAGMA data_version").fetchone()
        insert_event_rows(conn, [(i, f"{i:032x}", f"wal:omi_{i}", 1, "WalRegistered", 3, at,
                                  RAW_DATA, digest, digest, i)])
        write_wal_rows(conn, [(f"omi_{i}", "miss", "waiting", "syncStatusWaiting",
                               "Waiting to sync", "grey", "chevron", 0, 3, None, None, "disk", i,
                               at)])
        write_card_rows(conn, [(page, "ready", "syncCardReadyCount",
                                f"{i} recordings ready to sync", None, "grey", "sync", 0)
                               for page in ("sync", "auto_sync")])
        conn.execute("COMMIT")
        checkpoints.after_commit(conn, 1)
    elapsed = time.perf_counter() - started
    conn.close()
    return n / elapsed


def store_checkpoints(conn: sqlite3.Connection) -> CheckpointPolicy:
    """The store's checkpoint policy for `conn` (a RESTART every 100th commit, with its brief
    wait), as SqliteStore makes it."""
    page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    return CheckpointPolicy(page_size, busy_timeout_ms=5000)


def floor_decision(seq: int, prev: str, displays: dict[str, int]
                   ) -> tuple[StoredEvent, WalRow, Iterable[Card], Delta]:
    """The Python a `register` decision cannot do without, through the library's own
    functions: the typed event, its canonical JSON and chained row (after `prev`), the WAL
    aggregate, its status row, both cards (`displays` counts it) and the live view's change
    (the recording's state, the tables' head and summary). With the very values of
    engine_rate's decision at log position `seq` (after its policy event)."""
    i = seq - 2
    timer_start, file_path = 1_700_000_000 + i, f"{i}.bin"
    wal_id, event_id = f"omi_{timer_start}", f"{seq - 1:032x}"  # its ids count events from 0
    event = WalRegistered(at=START, wal_id=wal_id, device="omi", timer_start=timer_start,
                          file_path=file_path)
    row = make_stored(event_id, seq, 1, prev, body_of(NewEvent(event_id=event_id, event=event)), seq)
    wal = Wal(wal_id=wal_id, status="miss", version=1, device="omi", timer_start=timer_start,
              file_path=file_path)
    displays["waiting"] = displays.get("waiting", 0) + 1
    cards = page_cards(card_inputs(displays, limited=False, reason=None))
    live = Delta(wals={wal_id: wal}, displays=displays, policy=WALSYNC.name,
                 retry_budget=WALSYNC.retry_budget, checkpoint=seq)
    return row, row_of(wal, retry_budget=3, seq=seq, at=row.at), cards.values(), live


def floor_log(path: Path, synchronous: str = "FULL") -> tuple[sqlite3.Connection, int, str]:
    """A new log as engine_rate's starts (its policy event), on a raw connection; with the
    log's head (seq, hash)."""
    registering_engine(SqliteStore(path)).close()
    conn = raw_log(path, synchronous)
    head, prev = conn.execute(SELECT_HEAD).fetchone()
    return conn, int(head), str(prev)


def floor_commits(conn: sqlite3.Connection, head: int, prev: str, n: int) -> None:
    """`n` floor decisions after the head, one commit each, with the engine's statements."""
    displays: dict[str, int] = {}
    checkpoints = store_checkpoints(conn)
    for seq in range(head + 1, head + 1 + n):
        row, wal_row, cards, live = floor_decision(seq, prev, displays)
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("PRAGMA data_version").fetchone()
        insert_event_rows(conn, [row])
        write_wal_rows(conn, [wal_row])
        write_card_rows(conn, cards)
        write_live_view(conn, live, deletes=False)
        conn.execute("COMMIT")
        checkpoints.after_commit(conn, 1)
        prev = row.hash


def floor_rate(folder: Path, n: int) -> float:
    """Commits per second of a `register` decision's required work and nothing else (see
    floor_decision) and the engine's statements, without the engine's checks and bookkeeping
    (id checks, expected stream versions, idempotency, the transition table, the fold's
    delta, catching up with other writers). Its log and tables come out the same as
    engine_rate's (tests/test_bench_smoke.py holds that)."""
    conn, head, prev = floor_log(folder / "floor.db")
    started = time.perf_counter()
    floor_commits(conn, head, prev, n)
    elapsed = time.perf_counter() - started
    conn.close()
    return n / elapsed


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=2000, help="decisions per run")
    parser.add_argument("--runs", type=int, default=5, help="runs per side (medians reported)")
    parser.add_argument("--dir", default=None, help="where the files go (same file system)")
    args = parser.parse_args(argv)
    sides: dict[str, Callable[[Path, int], float]] = {
        "raw": raw_rate, "engine": engine_rate, "statements": statements_rate, "floor": floor_rate}
    runs: dict[str, list[float]] = {name: [] for name in sides}
    for _ in range(args.runs):  # interleaved, so machine noise hits every side alike
        for name, side in sides.items():
            with tempfile.TemporaryDirectory(dir=args.dir) as folder:
                runs[name].append(side(Path(folder), args.n))
    found = {name: statistics.median(rates) for name, rates in runs.items()}
    raw = found["raw"]
    print(f"{'durable transitions (FULL)':<44} {'per second (median)':>20} {'ratio to raw':>13}")
    for name, label in (("raw", "raw sqlite3 event + upsert"),
                        ("engine", "walsync engine decision"),
                        ("statements", "raw sqlite3, the engine's statements"),
                        ("floor", "floor: a decision's required work only")):
        print(f"{label:<44} {found[name]:>20,.0f} {found[name] / raw:>13.2f}")
    print(f"({args.runs} runs of {args.n} each side, interleaved)")
    return {**found, "ratio": found["engine"] / raw}

if __name__ == "__main__":
    main()
