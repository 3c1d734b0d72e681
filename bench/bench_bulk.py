"""Bulk append: events per second through walsync's bulk paths against raw `executemany` of
the same rows in one explicit transaction (same schema and unique indexes), side by side.

    .venv/bin/python bench/bench_bulk.py [--n 100000] [--runs 5] [--dir /tmp]

Paths measured:
  * store.append of all the events in one call, one transaction as on the raw side, and in
    10,000-event batches (a program feeding the store in chunks): each event is encoded,
    hashed, folded into the projections and written with its rows;
  * walsync import of a shared log of the same events (`import_log`: the private copy, the
    hostile-input checks, a decode of every row, the copy of the rows and the rebuild).
The raw side inserts the very rows the store wrote, already encoded and hashed, with SQLite's
default page cache (the yardstick) and, beside it, with the 64 MB cache the store gives an
append of 1,000 events or more (the ratio against that is printed too).
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import machine, median, parser, raw_log, table
from _events import Source, new_events, stored_rows, wal_sources

from walsync.adapters.store.records import INSERT_ROW
from walsync.adapters.store.share.importer import import_log
from walsync.adapters.store.sqlite import SqliteStore

BATCH = 10_000  # the second walsync side: the same events in transactions of this many


def store_rate(folder: Path, sources: list[Source], batch_size: int) -> float:
    """Events per second of store.append in batches of `batch_size` (one transaction each).
    Each batch's event objects are built (untimed) just before it is appended, as a program
    feeding the store would: holding all of them from the start made the garbage collector
    walk the bench's own input on every full collection."""
    store = SqliteStore(folder / f"bulk-{batch_size}.db", synchronous="FULL")
    seconds = 0.0
    for start in range(0, len(sources), batch_size):
        batch = new_events(sources[start:start + batch_size])
        started = time.perf_counter()
        store.append(batch)
        seconds += time.perf_counter() - started
        del batch
    store.close()
    return len(sources) / seconds


def import_rate(folder: Path, source: Path, count: int) -> float:
    started = time.perf_counter()
    import_log(source, folder / "imported.db")
    return count / (time.perf_counter() - started)


def raw_rate(folder: Path, rows: list[tuple[object, ...]], *, big_cache: bool = False) -> float:
    """Raw executemany in one transaction: the issue's yardstick with SQLite's default page
    cache, or (`big_cache`) with the 64 MB cache the store gives its own bulk appends."""
    conn = raw_log(folder / ("raw-big-cache.db" if big_cache else "raw.db"))
    if big_cache:
        conn.execute("PRAGMA cache_size=-65536")
    started = time.perf_counter()
    conn.execute("BEGIN")
    conn.executemany(INSERT_ROW, rows)
    conn.execute("COMMIT")
    seconds = time.perf_counter() - started
    conn.close()
    return len(rows) / seconds


def main(argv: list[str] | None = None) -> dict[str, float]:
    args = parser(__doc__, n=100_000).parse_args(argv)
    sources = wal_sources(max(args.n, 100))
    with tempfile.TemporaryDirectory(dir=args.dir) as folder:
        source = Path(folder) / "source.db"
        rows = stored_rows(new_events(sources), source)
        raw, raw_big, whole, batched, imported = [], [], [], [], []
        for run in range(args.runs):  # interleaved, so noise hits every side alike
            with tempfile.TemporaryDirectory(dir=folder) as work:
                raw.append(raw_rate(Path(work), rows))
                raw_big.append(raw_rate(Path(work), rows, big_cache=True))
                whole.append(store_rate(Path(work), sources, len(sources)))
                batched.append(store_rate(Path(work), sources, BATCH))
                imported.append(import_rate(Path(work), source, len(rows)))
            print(f"run {run + 1}/{args.runs} done", file=sys.stderr)
    r, w, b, i = median(raw), median(whole), median(batched), median(imported)
    rb = median(raw_big)
    table(f"bulk append of {len(sources):,} events ({args.runs} runs, medians, events/s)", [
        ("raw executemany, one transaction", f"{r:,.0f}"),
        ("raw executemany, one transaction, 64 MB cache", f"{rb:,.0f}"),
        ("walsync store.append, one transaction", f"{w:,.0f}"),
        (f"walsync store.append, {BATCH:,} per tx", f"{b:,.0f}"),
        ("walsync import_log (checked copy)", f"{i:,.0f}"),
        ("ratio append / raw (one transaction each)", f"{w / r:.2f}"),
        (f"ratio append in {BATCH:,}s / raw", f"{b / r:.2f}"),
        ("ratio import / raw", f"{i / r:.2f}"),
        ("ratio append / raw with the 64 MB cache", f"{w / rb:.2f}"),
    ])
    print(machine())
    return {"append": w / r, "batched": b / r, "import": i / r, "append_vs_big_cache": w / rb}


if __name__ == "__main__":
    main()
