"""Where walsync's time goes, piece by piece, for the profiles in docs/performance.md: CPU time
(time.process_time, the best of --runs) of each step of an append and of a rebuild's fold,
measured apart on the rebuild bench's realistic mix. No I/O is timed here except where said.

    .venv/bin/python bench/bench_profile.py [--n 300000] [--runs 7] [--dir /tmp]

  * per appended event (10,000 events of the mix): its canonical JSON (`body_of`: cattrs and
    orjson), its hashed row (`make_stored`: the chain hash and the row), the whole append plan,
    and the projection's fold of the batch; then the wall time of one append of --n / 3 events
    in one transaction (synchronous=OFF) and the garbage collector's share of it;
  * per durable decision (`Engine.register` on a log of 3,000 recordings, synchronous=OFF: no
    fsync, so the CPU of the decision and of SQLite's writes): the whole decision beside raw
    sqlite3's event + upsert commit, and the decision's plan, fold and table writes apart,
    and the Python of bench_durable's floor (a decision's required work, no statements);
    and the pages each commit appends to the WAL, the decision's and raw's (what each fsync
    writes); then the user CPU (getrusage, median of up to 5 runs) of the same decisions, of
    the floor's and of raw's commits with synchronous=OFF and FULL: the Python after each
    fsync runs slower;
  * per stored row (--n rows of the mix): orjson.loads alone, the raw dict fold (the rebuild
    bench's yardstick) and walsync's fold over stored rows (`Projection.plan_rows`).
"""

from __future__ import annotations

import gc
import resource
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).parent))
import _biglog
from _common import machine, median, parser, raw_log, table
from _events import wal_events
from bench_durable import floor_commits, floor_decision, floor_log, raw_commit, raw_rate, registering_engine

from walsync.adapters.store.append_plan import plan_append
from walsync.adapters.store.checkpoints import EVERY
from walsync.adapters.store.records import GENESIS_HASH, body_of, make_stored
from walsync.adapters.store.schema import create_schema
from walsync.adapters.store.sqlite import SqliteStore
from walsync.adapters.store.tables import write_delta
from walsync.core import wal as wal_module
from walsync.projections import view as view_module
from walsync.projections.view import Projection


def best_us(work: Callable[[], object], count: int, runs: int) -> float:
    """The best of `runs` CPU times of `work`, per item, in microseconds."""
    best = float("inf")
    for _ in range(runs):
        started = time.process_time()
        work()
        best = min(best, time.process_time() - started)
    return best / count * 1e6


def append_pieces(runs: int) -> list[tuple[str, str]]:
    events = wal_events(10_000)
    gc.collect()
    bodies = [body_of(new) for new in events]
    rows = plan_append(events, None, head=(0, GENESIS_HASH), stream_version=lambda _s: 0,
                       stored_body=lambda _e: None)
    given = {new.event_id: new.event for new in events}
    n = len(events)

    def encode() -> None:
        for new in events:
            body_of(new)

    def hash_rows() -> None:
        for new, body in zip(events, bodies, strict=True):
            make_stored(new.event_id, 1, 1, GENESIS_HASH, body, 1)

    def plan() -> None:
        plan_append(events, None, head=(0, GENESIS_HASH), stream_version=lambda _s: 0,
                    stored_body=lambda _e: None)

    def fold() -> None:
        Projection().plan((row.seq, given[row.event_id]) for row in rows)

    return [("append: canonical JSON (body_of), us/event", f"{best_us(encode, n, runs):.2f}"),
            ("append: hashed row (make_stored), us/event", f"{best_us(hash_rows, n, runs):.2f}"),
            ("append: whole plan (plan_append), us/event", f"{best_us(plan, n, runs):.2f}"),
            ("append: projection fold of the batch, us/event", f"{best_us(fold, n, runs):.2f}")]


def collector_share(folder: Path, count: int) -> list[tuple[str, str]]:
    """Wall time of one store.append of `count` events of the mix (synchronous=OFF), and how
    much of it the garbage collector took (gc.callbacks): its full collections walk every
    object alive, the caller's new event objects included."""
    events = wal_events(count)
    spent = {"gc": 0.0, "since": 0.0}

    def timed(phase: str, _info: dict[str, int]) -> None:
        if phase == "start":
            spent["since"] = time.perf_counter()
        else:
            spent["gc"] += time.perf_counter() - spent["since"]

    store = SqliteStore(folder / "collector.db", synchronous="OFF")
    gc.callbacks.append(timed)
    try:
        started = time.perf_counter()
        store.append(events)
        seconds = time.perf_counter() - started
    finally:
        gc.callbacks.remove(timed)
        store.close()
    return [(f"append of {count:,} events in one transaction (OFF), us/event",
             f"{seconds / count * 1e6:.2f}"),
            ("  of which the garbage collector, us/event", f"{spent['gc'] / count * 1e6:.2f}")]


def decision_pieces(folder: Path, runs: int) -> list[tuple[str, str]]:
    store = SqliteStore(folder / "decisions.db", synchronous="OFF")
    engine = registering_engine(store)
    timer = iter(range(1_700_000_000, 1_800_000_000))
    for _ in range(3000):
        engine.register(device="omi", timer_start=next(timer))
    count = 1000

    def decide() -> None:
        for _ in range(count):
            engine.register(device="omi", timer_start=next(timer))

    view = store.projection
    events = wal_events(1)  # one registration of the mix
    planned = view.plan([(view.checkpoint + 1, events[0].event)])
    memory = sqlite3.connect(":memory:", isolation_level=None)
    create_schema(memory)

    def plan_one() -> None:
        for _ in range(count):
            plan_append(events, None, head=(1, GENESIS_HASH), stream_version=lambda _s: 0,
                        stored_body=lambda _e: None)

    def fold_one() -> None:
        for _ in range(count):
            view.plan([(view.checkpoint + 1, events[0].event)])

    def write_one() -> None:
        for _ in range(count):
            write_delta(memory, planned, view)

    raw = raw_log(folder / "raw.db", "OFF")
    seqs = iter(range(1, 10**9))
    prev = GENESIS_HASH

    def raw_once() -> None:  # bench_durable's raw commit, the yardstick's own
        nonlocal prev
        prev = raw_commit(raw, next(seqs), prev)

    for _ in range(3000):  # as many rows as the engine's log above
        raw_once()

    def raw_commits() -> None:
        for _ in range(count):
            raw_once()

    def register() -> None:
        engine.register(device="omi", timer_start=next(timer))

    floor_seqs, floor_displays = iter(range(2, 10**9)), {"waiting": 3000}

    def floor_python() -> None:  # bench_durable's floor without its statements
        for _ in range(count):
            floor_decision(next(floor_seqs), GENESIS_HASH, floor_displays)

    pages = [("decision: WAL frames (pages) per raw commit", f"{frames_per_commit(raw, raw_once):.2f}"),
             ("decision: WAL frames (pages) per register commit",
              f"{frames_per_commit(store.connection, register):.2f}")]
    found = [("decision: raw sqlite3 event + upsert, OFF, us",
              f"{best_us(raw_commits, count, runs):.1f}"),
             ("decision: Engine.register, OFF, us", f"{best_us(decide, count, runs):.1f}"),
             ("decision: its append plan, us", f"{best_us(plan_one, count, runs):.1f}"),
             ("decision: its projection fold, us", f"{best_us(fold_one, count, runs):.1f}"),
             ("decision: its table writes (:memory:), us", f"{best_us(write_one, count, runs):.1f}"),
             ("decision: the floor's Python (bench_durable), us",
              f"{best_us(floor_python, count, runs):.1f}"),
             *pages]
    engine.close()
    memory.close()
    raw.close()
    return found


def frames_per_commit(conn: sqlite3.Connection, commit: Callable[[], object]) -> float:
    """Pages one commit appends to the WAL (what each fsync writes), over EVERY - 1 commits
    after a TRUNCATE checkpoint: fewer than the store's checkpoint policy lets pass between
    its own RESTARTs, so nothing resets the WAL while they are counted."""
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    for _ in range(EVERY - 1):
        commit()
    _busy, frames, _done = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    return int(frames) / (EVERY - 1)


def user_cpu(work: Callable[[], object]) -> float:
    """User-mode CPU seconds this process spent in `work`: neither the kernel's share (the
    writes, the fsync) nor the time asleep waiting for the disk."""
    before = resource.getrusage(resource.RUSAGE_SELF).ru_utime
    work()
    return resource.getrusage(resource.RUSAGE_SELF).ru_utime - before


def register_user_us(path: Path, synchronous: str, count: int) -> float:
    """User CPU per `Engine.register` on a new log, in microseconds."""
    store = SqliteStore(path, synchronous="FULL" if synchronous == "FULL" else "OFF")
    engine = registering_engine(store)
    timer = iter(range(1_700_000_000, 1_800_000_000))
    for _ in range(500):  # warm
        engine.register(device="omi", timer_start=next(timer))

    def decide() -> None:
        for _ in range(count):
            engine.register(device="omi", timer_start=next(timer))

    spent = user_cpu(decide)
    engine.close()
    return spent / count * 1e6


def raw_user_us(folder: Path, synchronous: str, count: int) -> float:
    """User CPU per raw event + upsert commit (bench_durable's raw side), in microseconds."""
    folder.mkdir()
    return user_cpu(lambda: raw_rate(folder, count, synchronous=synchronous)) / count * 1e6


def floor_user_us(path: Path, synchronous: str, count: int) -> float:
    """User CPU per floor decision (bench_durable's), in microseconds."""
    conn, head, prev = floor_log(path, synchronous)
    spent = user_cpu(lambda: floor_commits(conn, head, prev, count))
    conn.close()
    return spent / count * 1e6


def cpu_beside_fsync(folder: Path, runs: int, count: int = 2000) -> list[tuple[str, str]]:
    """The user CPU of the same decisions (and of the floor's and raw's commits) with
    synchronous=OFF and FULL, medians of `runs`: at FULL every commit sleeps in fsync, and
    the Python that runs after it runs slower than in a loop that never sleeps."""
    found = []
    for sync in ("OFF", "FULL"):
        engine_us = [register_user_us(folder / f"cpu-{sync}-{run}.db", sync, count)
                     for run in range(runs)]
        raw_us = [raw_user_us(folder / f"raw-cpu-{sync}-{run}", sync, count)
                  for run in range(runs)]
        floor_us = [floor_user_us(folder / f"floor-cpu-{sync}-{run}.db", sync, count)
                    for run in range(runs)]
        found += [(f"decision, {sync}: user CPU of Engine.register, us",
                   f"{median(engine_us):.1f}"),
                  (f"decision, {sync}: user CPU of the floor's decision, us",
                   f"{median(floor_us):.1f}"),
                  (f"decision, {sync}: user CPU of raw's commit, us", f"{median(raw_us):.1f}")]
    return found


def fold_pieces(folder: Path, n: int, runs: int) -> list[tuple[str, str]]:
    path = folder / "mix.db"
    _biglog.build(path, n)
    with sqlite3.connect(path) as conn:
        rows = conn.execute("SELECT seq, stream, type, schema_version, at, data FROM events "
                            "ORDER BY seq").fetchall()

    def loads() -> None:
        for row in rows:
            orjson.loads(row[5])

    def raw_fold() -> None:
        state: dict[str, tuple[str, int]] = {}
        for _seq, stream, type_name, _version, _at, data in rows:
            state[stream] = (type_name, len(orjson.loads(data)))

    def walsync_fold() -> None:
        Projection().plan_rows(rows)

    raw = best_us(raw_fold, len(rows), runs)
    ours = best_us(walsync_fold, len(rows), runs)
    decoded = _rows_decoded(rows)
    return [(f"fold of {len(rows):,} rows: orjson.loads alone, us/row",
             f"{best_us(loads, len(rows), runs):.2f}"),
            ("fold: raw dict fold (loads included), us/row", f"{raw:.2f}"),
            ("fold: walsync plan_rows, us/row", f"{ours:.2f}"),
            ("fold: rows walsync decodes, of all rows", f"{decoded:,} of {len(rows):,}"),
            ("ratio raw fold / walsync fold (CPU)", f"{raw / ours:.2f}")]


def _rows_decoded(rows: list[tuple[int, str, str, int, str, str]]) -> int:
    """How many of the rows' bodies walsync's fold decodes at least once (the raw fold: all)."""
    seen: set[int] = set()

    def counting(data: str) -> object:
        seen.add(id(data))  # each row's body is its own str object while `rows` lives
        return orjson.loads(data)

    saved = (view_module.load_data, wal_module.load_data)
    view_module.load_data = wal_module.load_data = counting
    try:
        Projection().plan_rows(rows)
    finally:
        view_module.load_data, wal_module.load_data = saved
    return len(seen)


def main(argv: list[str] | None = None) -> dict[str, float]:
    args = parser(__doc__, n=300_000, runs=7).parse_args(argv)
    with tempfile.TemporaryDirectory(dir=args.dir) as folder:
        lines = append_pieces(args.runs)
        lines += collector_share(Path(folder), max(args.n // 3, 1000))
        lines += decision_pieces(Path(folder), args.runs)
        lines += cpu_beside_fsync(Path(folder), min(args.runs, 5))
        lines += fold_pieces(Path(folder), max(args.n, 1000), args.runs)
    table(f"CPU per piece (time.process_time, best of {args.runs})", lines)
    print(machine())
    return {}


if __name__ == "__main__":
    main()
