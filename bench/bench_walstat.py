"""What a stat of the WAL file after each commit costs raw sqlite3's durable commits: the raw
side of bench_durable (one event + one projection upsert per FULL commit), with and without
`os.stat(<log>-wal)` after every COMMIT, side by side in one run. On this machine (ext4) the
stat made every next COMMIT slower, which is why the store's checkpoint policy sizes the WAL
from what its RESTART reports instead.

    .venv/bin/python bench/bench_walstat.py [--n 3000] [--runs 5] [--dir /tmp]
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import machine, median, parser, table
from bench_durable import raw_rate


def _stat_wal(path: Path) -> None:
    os.stat(f"{path}-wal")


def main(argv: list[str] | None = None) -> dict[str, float]:
    args = parser(__doc__, n=3000).parse_args(argv)
    plain: list[float] = []
    stat: list[float] = []
    for _ in range(args.runs):  # interleaved, so noise hits both sides alike
        for runs, hook in ((plain, None), (stat, _stat_wal)):
            with tempfile.TemporaryDirectory(dir=args.dir) as folder:
                runs.append(raw_rate(Path(folder), args.n, after_commit=hook))
    rate, rate_stat = median(plain), median(stat)
    table(f"raw durable commits (FULL), {args.n:,} per run ({args.runs} runs, medians)", [
        ("commits/s, no stat", f"{rate:,.0f}"),
        ("commits/s, stat of the WAL after each", f"{rate_stat:,.0f}"),
        ("us per commit, no stat", f"{1e6 / rate:,.0f}"),
        ("us per commit, stat of the WAL after each", f"{1e6 / rate_stat:,.0f}"),
        ("ratio commits/s with stat / without", f"{rate_stat / rate:.2f}"),
    ])
    print(machine())
    return {"ratio": rate_stat / rate}


if __name__ == "__main__":
    main()
