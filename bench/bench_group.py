"""Group commit: where a path acknowledges several events together (a batch upload commits 3
recordings' events, a reconcile pass a job's members), one transaction holds them all.
Events per second through the store at group sizes 1, 3 and 20 (synchronous=FULL), against
raw sqlite3 committing the same number of ~200-byte rows plus projection upserts per
transaction, side by side.

    .venv/bin/python bench/bench_group.py [--n 3000] [--runs 5] [--dir /tmp]
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import machine, median, parser, raw_log, table
from _events import stored_rows, wal_events

from walsync.adapters.ports import NewEvent
from walsync.adapters.store.records import INSERT_ROW
from walsync.adapters.store.sqlite import SqliteStore

GROUPS = (1, 3, 20)


def store_rate(folder: Path, events: list[NewEvent], group: int) -> float:
    store = SqliteStore(folder / f"group-{group}.db", synchronous="FULL")
    started = time.perf_counter()
    for start in range(0, len(events), group):
        store.append(events[start:start + group])
    seconds = time.perf_counter() - started
    store.close()
    return len(events) / seconds


def raw_rate(folder: Path, rows: list[tuple[object, ...]], group: int) -> float:
    conn = raw_log(folder / f"raw-{group}.db")
    upsert = ("INSERT OR REPLACE INTO wal_rows (wal_id, state, display, message_key, text, color, "
              "action, retry_count, retry_budget, job_id, conversation_id, storage, last_seq, "
              "updated_at) VALUES (?, 'miss', 'waiting', 'syncStatusWaiting', 'Waiting to sync', "
              "'grey', 'chevron', 0, 3, NULL, NULL, 'disk', ?, ?)")
    started = time.perf_counter()
    for start in range(0, len(rows), group):
        chunk = rows[start:start + group]
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(INSERT_ROW, chunk)
        conn.executemany(upsert, [(str(r[2])[4:], r[0], r[6]) for r in chunk])
        conn.execute("COMMIT")
    seconds = time.perf_counter() - started
    conn.close()
    return len(rows) / seconds


def main(argv: list[str] | None = None) -> dict[str, float]:
    args = parser(__doc__, n=3_000).parse_args(argv)
    events = list(wal_events(max(args.n, 60)))
    with tempfile.TemporaryDirectory(dir=args.dir) as folder:
        source = Path(folder) / "rows.db"
        rows = stored_rows(events, source)
        raw: dict[int, list[float]] = {g: [] for g in GROUPS}
        walsync: dict[int, list[float]] = {g: [] for g in GROUPS}
        for _ in range(args.runs):  # interleaved, so noise hits both sides alike
            for group in GROUPS:
                with tempfile.TemporaryDirectory(dir=folder) as work:
                    raw[group].append(raw_rate(Path(work), rows, group))
                    walsync[group].append(store_rate(Path(work), events, group))
    lines = []
    for group in GROUPS:
        r, w = median(raw[group]), median(walsync[group])
        lines += [(f"raw, {group} per commit, events/s", f"{r:,.0f}"),
                  (f"walsync, {group} per commit, events/s", f"{w:,.0f}"),
                  (f"ratio walsync / raw, {group} per commit", f"{w / r:.2f}")]
    table(f"group commit of {len(events):,} events ({args.runs} runs, medians, FULL)", lines)
    print(machine())
    return {str(g): median(walsync[g]) / median(raw[g]) for g in GROUPS}


if __name__ == "__main__":
    main()
