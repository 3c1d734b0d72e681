"""Opening a log, `walsync status` and `walsync why --all` on a day's log and on a big one (a
year is about 2M events), side by side in one run, each a whole process: wall time (median)
and peak RSS.

    .venv/bin/python bench/bench_open.py [--n 2000000] [--runs 5] [--dir /tmp] [--only open,status]

Both logs are the tiled simulated incident of bench/_biglog.py: the day's log holds 5,400
events (16 hours of one recording a minute), the big one `--n`. Each is opened once by the
store before timing, as a device's log always has been, so its projection tables are filled.
`status (fold)` and `why --all (fold)` are the commands as they were before they read the
tables: `--seq` at the head still folds the log (every stream) up to the cut. `open` is
`SqliteStore(path).close()` in a fresh process.
"""

from __future__ import annotations

import sqlite3
import sys
import tempfile
from contextlib import closing
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import _biglog
from _common import machine, median, parser, table, whole_process

from walsync.adapters.store.sqlite import SqliteStore

DAY = 5_400
_NAMES = ("open", "status", "status (fold)", "why --all", "why --all (fold)")
_OPEN = "import sys; from walsync.adapters.store.sqlite import SqliteStore; SqliteStore(sys.argv[1]).close()"


def _commands(path: Path, head: int) -> dict[str, list[str]]:
    walsync = str(Path(sys.executable).with_name("walsync"))
    return {
        "open": [sys.executable, "-c", _OPEN, str(path)],
        "status": [walsync, "status", "--db", str(path), "--json"],
        "status (fold)": [walsync, "status", "--db", str(path), "--json", "--seq", str(head)],
        "why --all": [walsync, "why", "--all", "--db", str(path), "--json"],
        "why --all (fold)": [walsync, "why", "--all", "--db", str(path), "--json", "--seq",
                             str(head)],
    }


def _log(path: Path, events: int) -> dict[str, int]:
    shape = _biglog.build(path, events)
    SqliteStore(path).close()  # fills the projection tables, as every open leaves them
    with closing(sqlite3.connect(path)) as conn:  # what a live view holds in memory, if kept
        found = conn.execute("SELECT count(*) FROM sqlite_schema WHERE name = 'live_wals'")
        if found.fetchone()[0]:
            shape["live"] = int(conn.execute("SELECT count(*) FROM live_wals").fetchone()[0])
    return shape


def main(argv: list[str] | None = None) -> dict[str, float]:
    found = parser(__doc__, n=2_000_000)
    found.add_argument("--only", default=None,
                       help="comma-separated commands to time (default: all), e.g. open,status")
    args = found.parse_args(argv)
    names = [n for n in _NAMES if args.only is None or n in args.only.split(",")]
    big_n = max(args.n, 1000)
    day_n = min(DAY, max(1000, big_n // 4))
    with tempfile.TemporaryDirectory(dir=args.dir) as folder:
        logs = {"day": Path(folder) / "day.db", "big": Path(folder) / "big.db"}
        shapes = {"day": _log(logs["day"], day_n), "big": _log(logs["big"], big_n)}
        timings: dict[tuple[str, str], list[float]] = {}
        peaks: dict[tuple[str, str], float] = {}
        for _ in range(args.runs):
            for size, path in logs.items():  # interleaved, so both sides see the same machine
                for name, argv_ in _commands(path, shapes[size]["events"]).items():
                    if name not in names:
                        continue
                    elapsed, rss = whole_process(argv_)
                    timings.setdefault((name, size), []).append(elapsed)
                    peaks[(name, size)] = max(peaks.get((name, size), 0.0), rss)
    rows = []
    result: dict[str, float] = {}
    for name in names:
        day, big = median(timings[(name, "day")]), median(timings[(name, "big")])
        rows += [(f"{name}: day, s (median)", f"{day:.3f}"),
                 (f"{name}: big, s (median)", f"{big:.3f}"),
                 (f"{name}: ratio big / day", f"{big / day:.2f}"),
                 (f"{name}: peak RSS day / big, MB",
                  f"{peaks[(name, 'day')]:.0f} / {peaks[(name, 'big')]:.0f}")]
        result[name] = big / day
    table(f"open and status, day ({shapes['day']['events']:,} events, "
          f"{shapes['day']['wals']:,} recordings) vs big ({shapes['big']['events']:,} events, "
          f"{shapes['big']['wals']:,} recordings), {args.runs} runs", rows)
    if "live" in shapes["big"]:
        print(f"live recordings (kept in memory): day {shapes['day']['live']:,}, "
              f"big {shapes['big']['live']:,}")
    print(machine())
    return result


if __name__ == "__main__":
    main()
