"""`why` latency on a big log: p50 and p99 of `walsync why` (open, read, explain) for random
recordings, against a raw indexed read of the same recording's stream, side by side.

    .venv/bin/python bench/bench_why.py [--n 1000000] [--runs 5] [--dir /tmp]

The log is the tiled simulated incident of bench/_biglog.py. Each run asks about 100
recordings drawn at random (seeded); percentiles are over all runs' answers.
"""

from __future__ import annotations

import random
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import _biglog
from _common import machine, parser, table

from walsync.adapters.diagnosis.why import explain_wal

QUESTIONS = 100


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def main(argv: list[str] | None = None) -> dict[str, float]:
    args = parser(__doc__, n=1_000_000).parse_args(argv)
    with tempfile.TemporaryDirectory(dir=args.dir) as folder:
        path = Path(folder) / "big.db"
        shape = _biglog.build(path, max(args.n, 1000))
        with sqlite3.connect(path) as conn:
            wal_ids = [s[4:] for (s,) in conn.execute(
                "SELECT DISTINCT stream FROM events WHERE stream LIKE 'wal:%'")]
        rng = random.Random(7451)
        why_ms: list[float] = []
        raw_ms: list[float] = []
        sizes: list[int] = []
        for _ in range(args.runs):
            for wal_id in rng.sample(wal_ids, min(QUESTIONS, len(wal_ids))):
                started = time.perf_counter()
                with sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True) as conn:
                    rows = conn.execute("SELECT seq, type, data FROM events WHERE stream = ? "
                                        "ORDER BY version", (f"wal:{wal_id}",)).fetchall()
                raw_ms.append((time.perf_counter() - started) * 1000)
                sizes.append(len(rows))
                started = time.perf_counter()
                explain_wal(path, wal_id)
                why_ms.append((time.perf_counter() - started) * 1000)
    p50, p99 = _percentile(why_ms, 0.5), _percentile(why_ms, 0.99)
    r50, r99 = _percentile(raw_ms, 0.5), _percentile(raw_ms, 0.99)
    table(f"why on a log of {shape['events']:,} events, {shape['wals']:,} recordings "
          f"({len(why_ms)} questions)", [
        ("events per asked recording, p50 / max", f"{_percentile(sizes, 0.5)} / {max(sizes)}"),
        ("raw indexed stream read p50, ms", f"{r50:.2f}"),
        ("raw indexed stream read p99, ms", f"{r99:.2f}"),
        ("walsync why p50, ms", f"{p50:.2f}"),
        ("walsync why p99, ms", f"{p99:.2f}"),
        ("ratio raw / why (p50)", f"{r50 / p50:.2f}"),
    ])
    print(machine())
    return {"p50": p50, "p99": p99}


if __name__ == "__main__":
    main()
