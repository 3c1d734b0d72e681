"""The engine's thread rule, measured: one SQLite connection under a lock, one command at a time,
every request outside the lock. Side by side in one run:

* registrations, all from one thread vs spread over 4 threads (same total, FULL sync);
* a read of the rows from another thread, while nothing is in flight vs while an upload that
  takes 50 ms is out (a reader waits for at most one append, never for the network);
* `engine.rows()` (takes the lock) vs reading the same projection without it.

    .venv/bin/python bench/bench_threads.py [--n 2000] [--runs 5] [--dir /tmp]
"""

from __future__ import annotations

import random
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from _common import machine, median, parser, table

from walsync.adapters.engine import Engine
from walsync.adapters.ports import ManualClock
from walsync.adapters.recordings.files import MemoryFiles
from walsync.adapters.store.sqlite import SqliteStore
from walsync.core.policies import WALSYNC
from walsync.core.responses import UploadAnswer, UploadJobAccepted

THREADS = 4
HOLD_SECONDS = 0.05
READS = 200


class _SlowBackend:
    """Every upload takes HOLD_SECONDS (the network); polls answer at once."""

    def upload(self, files: Sequence[Any], *, conversation_id: str | None = None,
               idempotency_key: str | None = None) -> UploadAnswer:
        time.sleep(HOLD_SECONDS)
        return UploadJobAccepted(job_id=f"job-{idempotency_key}")

    def job_status(self, job_id: str) -> Any:
        raise AssertionError("not polled here")


def _engine(folder: Path, name: str) -> tuple[Engine, MemoryFiles]:
    files = MemoryFiles()
    engine = Engine(SqliteStore(folder / f"{name}.db"), _SlowBackend(),
                    clock=ManualClock(datetime(2026, 5, 20, tzinfo=UTC)), files=files,
                    policy=WALSYNC, rng=random.Random(1))
    return engine, files


def register_rate(folder: Path, n: int, threads: int) -> float:
    """Registrations per second, n in all, from `threads` threads."""
    engine, _ = _engine(folder, f"register-{threads}")
    share = n // threads

    def work(offset: int) -> None:
        for i in range(share):
            engine.register(device=f"d{offset}", timer_start=1_779_000_000 + i)

    workers = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
    started = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    elapsed = time.perf_counter() - started
    engine.close()
    return share * threads / elapsed


def _read_latencies(engine: Engine, reads: int) -> list[float]:
    found = []
    for _ in range(reads):
        started = time.perf_counter()
        engine.rows()
        found.append(time.perf_counter() - started)
        time.sleep(0.0002)
    return found


def read_while_uploading(folder: Path, uploading: bool) -> float:
    """Median seconds of `engine.rows()` from a reader thread, with uploads out or not."""
    engine, files = _engine(folder, f"read-{uploading}")
    for i in range(60):
        files.contents[engine.register(device="omi", timer_start=1_779_000_000 + i)] = b"x"
    stop = threading.Event()

    def upload_loop() -> None:
        while not stop.is_set() and engine.sync_all().wal_ids:
            pass

    uploader = threading.Thread(target=upload_loop) if uploading else None
    if uploader is not None:
        uploader.start()
        time.sleep(HOLD_SECONDS / 2)
    latencies = _read_latencies(engine, READS)
    stop.set()
    if uploader is not None:
        uploader.join()
    engine.close()
    return median(latencies)


def locked_read_cost(folder: Path, locked: bool) -> float:
    """Median seconds per read of 200 rows, through `engine.rows()` or straight off the view."""
    engine, _ = _engine(folder, f"lock-{locked}")
    for i in range(200):
        engine.register(device="omi", timer_start=1_779_000_000 + i)
    read: Callable[[], object] = engine.rows if locked else (
        lambda: list(engine.store.projection.rows.values()))
    samples = []
    for _ in range(50):
        started = time.perf_counter()
        for _ in range(100):
            read()
        samples.append((time.perf_counter() - started) / 100)
    engine.close()
    return median(samples)


def main(argv: list[str] | None = None) -> dict[str, float]:
    args = parser(__doc__, n=2000).parse_args(argv)
    one, many, idle, busy, locked, bare = [], [], [], [], [], []
    with tempfile.TemporaryDirectory(dir=args.dir) as name:
        for run in range(args.runs):
            folder = Path(name) / str(run)
            folder.mkdir()
            one.append(register_rate(folder, args.n, 1))
            many.append(register_rate(folder, args.n, THREADS))
            idle.append(read_while_uploading(folder, False))
            busy.append(read_while_uploading(folder, True))
            locked.append(locked_read_cost(folder, True))
            bare.append(locked_read_cost(folder, False))
    result = {"register_1": median(one), "register_4": median(many),
              "read_idle_us": median(idle) * 1e6, "read_busy_us": median(busy) * 1e6,
              "rows_locked_us": median(locked) * 1e6, "rows_bare_us": median(bare) * 1e6}
    table(f"bench_threads: medians of {args.runs} runs, n={args.n} ({machine()})", [
        ("registers/s, 1 thread", f"{result['register_1']:,.0f}"),
        (f"registers/s, {THREADS} threads", f"{result['register_4']:,.0f}"),
        ("ratio 4 threads / 1", f"{result['register_4'] / result['register_1']:.2f}x"),
        ("rows() us, nothing in flight", f"{result['read_idle_us']:,.1f}"),
        (f"rows() us, {HOLD_SECONDS * 1000:.0f} ms uploads out", f"{result['read_busy_us']:,.1f}"),
        ("ratio in flight / idle", f"{result['read_busy_us'] / result['read_idle_us']:.2f}x"),
        ("rows() us (locked)", f"{result['rows_locked_us']:,.1f}"),
        ("view read us (no lock)", f"{result['rows_bare_us']:,.1f}"),
        ("ratio locked / no lock", f"{result['rows_locked_us'] / result['rows_bare_us']:.2f}x"),
    ])
    return result


if __name__ == "__main__":
    main()
