"""Retention in the background: one step of `BackgroundRetention` (what `walsync sync` and
`walsync watch` run after a pass) on a device's log a few days past the horizon, and how long
a writer beside it waits for the log's write lock meanwhile, against the same writer on the
same log with no step running (side by side in each run).

    .venv/bin/python bench/bench_background_retention.py [--n 960] [--days 35] [--runs 3]

--n is the WALs a day of bench/_lifelog.py's device week, tiled to --days days. The writer
takes the write lock (BEGIN IMMEDIATE; COMMIT) every 5 ms from its own connection: what an
engine's commit would wait for. A step seals at most 20,000 events (STEP_EVENTS), with no
VACUUM.
"""

from __future__ import annotations

import shutil
import sqlite3
import sys
import tempfile
import threading
import time
from contextlib import closing
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import machine, median, parser
from _lifelog import build

from walsync.adapters.service.retention import STEP_EVENTS, BackgroundRetention
from walsync.adapters.store.sqlite import SqliteStore
from walsync.core.serde import parse_time


class Writer(threading.Thread):
    """Takes the log's write lock every 5 ms until stopped; each wait, in ms."""

    def __init__(self, db: Path) -> None:
        super().__init__(daemon=True)
        self.db, self.waits, self.stop = db, list[float](), threading.Event()

    def run(self) -> None:
        with closing(sqlite3.connect(self.db, isolation_level=None, timeout=30)) as conn:
            while not self.stop.is_set():
                started = time.perf_counter()
                conn.execute("BEGIN IMMEDIATE")
                conn.execute("COMMIT")
                self.waits.append((time.perf_counter() - started) * 1000)
                time.sleep(0.005)


def _beside(db: Path, work: float | None, step: BackgroundRetention | None,
            now: datetime) -> tuple[float, list[float]]:
    """The writer runs while a step runs (or, with no step, for `work` seconds): the step's
    seconds and the writer's waits."""
    writer = Writer(db)
    writer.start()
    time.sleep(0.05)
    started = time.perf_counter()
    if step is not None:
        step.step(now)
    else:
        time.sleep(work or 0.0)
    took = time.perf_counter() - started
    writer.stop.set()
    writer.join()
    return took, writer.waits


def main() -> None:
    found = parser(__doc__, n=960, runs=3)
    found.add_argument("--days", type=float, default=35.0, help="the log's age (default 35)")
    found.add_argument("--step-events", type=int, default=STEP_EVENTS,
                       help=f"events a step seals at most (default {STEP_EVENTS})")
    args = found.parse_args()
    days = args.days
    folder = Path(args.dir or tempfile.mkdtemp(prefix="walsync-bgret-"))
    built = folder / "built.db"
    shape = build(built, days, args.n)
    SqliteStore(built).close()  # the tables built once, as the engine's first open does
    with closing(sqlite3.connect(built)) as conn:
        now = parse_time(str(conn.execute("SELECT max(at) FROM events").fetchone()[0]))
    steps, sealed, idle_waits, step_waits = [], [], [], []
    for run in range(args.runs):
        db = folder / f"run{run}.db"
        shutil.copy(built, db)
        _, idle = _beside(db, 1.0, None, now)
        hook = BackgroundRetention(db, step_events=args.step_events)
        took, waits = _beside(db, None, hook, now)
        assert hook.reports, "the log was not past the horizon: give more --days"
        steps.append(took)
        sealed.append(hook.reports[0].events)
        idle_waits += idle
        step_waits += waits
    print(f"a device's log of {days:g} days ({shape['events']:,} events), {args.n} WALs a day;"
          f" medians of {args.runs} runs")
    print(f"  one background step: {median(steps):.2f} s, sealing {median(sealed):,.0f} events")
    print(f"  a writer's wait for the lock, idle:        median {median(idle_waits):.2f} ms, "
          f"max {max(idle_waits):.1f} ms ({len(idle_waits)} takes)")
    print(f"  a writer's wait for the lock, beside it:   median {median(step_waits):.2f} ms, "
          f"max {max(step_waits):.1f} ms ({len(step_waits)} takes)")
    print(f"  ratio of the writer's waits, beside the step / idle: median "
          f"{median(step_waits) / median(idle_waits):.2f}x, longest {max(step_waits) / max(idle_waits):.0f}x")
    print(f"  {machine()}")


if __name__ == "__main__":
    main()
