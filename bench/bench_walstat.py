"""What a stat of the WAL file after each commit costs raw sqlite3's durable commits: the same
loop as bench_durable's raw side, with and without `os.stat(<log>-wal)` after every COMMIT,
side by side in one run. On this machine (ext4) the stat made every next COMMIT slower, which
is why the store's checkpoint policy sizes the WAL from what its RESTART reports instead.

    .venv/bin/python bench/bench_walstat.py [--n 3000] [--runs 5] [--dir /tmp]
"""

from __future__ import annotations

import hashlib
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import machine, median, parser, raw_log, table

_DATA = ('{"channel":1,"codec":"opus","conversation_id":null,"delivered":false,'
         '"device":"omi","file_path":"0.bin","sample_rate":16000,"storage":"disk"}')


def commits(folder: Path, n: int, *, stat_wal: bool) -> tuple[float, float]:
    """(commits per second, median COMMIT statement in us) of n one-event transactions."""
    path = folder / "raw.db"
    conn = raw_log(path)
    prev, spent = "0" * 64, []
    started = time.perf_counter()
    for i in range(1, n + 1):
        digest = hashlib.sha256((prev + _DATA).encode()).hexdigest()
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT INTO events (seq, event_id, stream, version, type, schema_version,"
                     " at, data, prev_hash, hash) VALUES (?, ?, ?, 1, 'WalRegistered', 1, ?, ?,"
                     " ?, ?)", (i, f"{i:032x}", f"wal:omi_{i}", "2026-05-20T00:00:00.000000Z",
                                _DATA, prev, digest))
        before = time.perf_counter()
        conn.execute("COMMIT")
        spent.append(time.perf_counter() - before)
        if stat_wal:
            os.stat(f"{path}-wal")
        prev = digest
    elapsed = time.perf_counter() - started
    conn.close()
    return n / elapsed, statistics.median(spent) * 1e6


def main(argv: list[str] | None = None) -> dict[str, float]:
    args = parser(__doc__, n=3000).parse_args(argv)
    plain: list[tuple[float, float]] = []
    stat: list[tuple[float, float]] = []
    for _ in range(args.runs):  # interleaved, so noise hits both sides alike
        for runs, stat_wal in ((plain, False), (stat, True)):
            with tempfile.TemporaryDirectory(dir=args.dir) as folder:
                runs.append(commits(Path(folder), args.n, stat_wal=stat_wal))
    rate, commit = median([r for r, _ in plain]), median([c for _, c in plain])
    rate_stat, commit_stat = median([r for r, _ in stat]), median([c for _, c in stat])
    table(f"raw durable commits (FULL), {args.n:,} per run ({args.runs} runs, medians)", [
        ("commits/s, no stat", f"{rate:,.0f}"),
        ("commits/s, stat of the WAL after each", f"{rate_stat:,.0f}"),
        ("COMMIT us, no stat", f"{commit:,.0f}"),
        ("COMMIT us, stat of the WAL after each", f"{commit_stat:,.0f}"),
        ("ratio commits/s with stat / without", f"{rate_stat / rate:.2f}"),
    ])
    print(machine())
    return {"ratio": rate_stat / rate}


if __name__ == "__main__":
    main()
