"""Peak RSS and wall time of every long command on a big log, each a whole process, side by
side (issue 17: every command under 100 MB on a year's log, `verify --full`, `report`,
`export` and `import` included).

    .venv/bin/python bench/bench_long.py [--n 2000000] [--runs 1] [--dir /tmp] [--only a,b] [--compact]

The log is the tiled simulated incident of bench/_biglog.py (--n events), opened once by the
store first (its projection tables written, as a device's are). Each command is started by a
small process (_common.whole_process), so its peak RSS is its own; the ratio column is that
peak over the 100 MB target. Medians over --runs; each run writes fresh output files.
--compact first seals the whole log into segments (`walsync compact --older-than 0d`, itself
measured), so that export and import read a compacted log's sealed history.
"""

from __future__ import annotations

import sqlite3
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import _biglog
from _common import machine, median, parser, table, whole_process

from walsync.adapters.store.sqlite import SqliteStore

TARGET_MB = 100.0
# A year's log is over import's limits on hostile input: the bench's is trusted.
TRUSTED = ["--max-mb", "16384", "--max-seconds", "86400"]
WALSYNC = str(Path(sys.executable).parent / "walsync")

# name -> argv after `walsync`, given the log, a recording's id and a fresh output stem.
Command = Callable[[Path, str, Path], list[str]]
COMMANDS: dict[str, Command] = {
    "status --json": lambda db, wal, out: ["status", "--db", str(db), "--json"],
    "why ID": lambda db, wal, out: ["why", wal, "--db", str(db)],
    "log --wal ID --json": lambda db, wal, out: ["log", "--wal", wal, "--db", str(db), "--json"],
    "timeline ID": lambda db, wal, out: ["timeline", wal, "--db", str(db)],
    "log (every event)": lambda db, wal, out: ["log", "--db", str(db)],
    "why --all": lambda db, wal, out: ["why", "--all", "--db", str(db)],
    "why --all --json": lambda db, wal, out: ["why", "--all", "--db", str(db), "--json"],
    "verify --full --timeout 0": lambda db, wal, out: ["verify", "--full", "--timeout", "0",
                                                       "--db", str(db)],
    "report --html": lambda db, wal, out: ["report", "--db", str(db), "--html",
                                           f"{out}.html"],
    "export .jsonl.gz (redacted)": lambda db, wal, out: ["export", "--db", str(db), "--out",
                                                         f"{out}.jsonl.gz"],
    "export .jsonl.gz --no-redact": lambda db, wal, out: ["export", "--db", str(db), "--out",
                                                          f"{out}-plain.jsonl.gz",
                                                          "--no-redact"],
    "export .db (redacted)": lambda db, wal, out: ["export", "--db", str(db), "--out",
                                                   f"{out}.db"],
    "import .jsonl.gz": lambda db, wal, out: ["import", f"{out}-plain.jsonl.gz", "--into",
                                              f"{out}-imported.db", *TRUSTED],
    "import the log itself": lambda db, wal, out: ["import", str(db), "--into",
                                                   f"{out}-itself.db", *TRUSTED],
}


def main(argv: list[str] | None = None) -> dict[str, tuple[float, float]]:
    found = parser(__doc__, n=2_000_000, runs=1)
    found.add_argument("--compact", action="store_true",
                       help="seal the whole log into segments first (measured too)")
    found.add_argument("--only", default=None,
                       help="comma-separated command names (default: every one; import needs "
                            "the plain export of the same run)")
    args = found.parse_args(argv)
    names = list(COMMANDS) if args.only is None else [n.strip() for n in args.only.split(",")]
    unknown = [n for n in names if n not in COMMANDS]
    if unknown:
        raise SystemExit(f"unknown command(s) {unknown}; choose from {list(COMMANDS)}")
    results: dict[str, tuple[float, float]] = {}
    with tempfile.TemporaryDirectory(dir=args.dir) as folder:
        db = Path(folder) / "big.db"
        shape = _biglog.build(db, max(args.n, 1000))
        SqliteStore(db).close()  # the tables written, as on a device
        with sqlite3.connect(db) as conn:
            wal = conn.execute("SELECT wal_id FROM wal_rows ORDER BY last_seq DESC "
                               "LIMIT 1").fetchone()[0]
        compacted = _compact(db) if args.compact else None
        walls: dict[str, list[float]] = {n: [] for n in names}
        peaks: dict[str, list[float]] = {n: [] for n in names}
        failed: dict[str, str] = {}
        for run in range(args.runs):
            out = Path(folder) / f"out-{run}"
            for name in names:
                try:
                    wall, peak = whole_process([WALSYNC, *COMMANDS[name](db, wal, out)])
                except SystemExit as error:  # a refusal (import's size limit) is a result too
                    failed[name] = str(error).rsplit(": ", 1)[-1]
                    continue
                walls[name].append(wall)
                peaks[name].append(peak)
        log_mb = db.stat().st_size / 1e6
        segments_mb = sum(p.stat().st_size for p in db.parent.glob(f"{db.name}.seg-*")) / 1e6
    rows = [("command", "wall s    peak RSS MB    ratio (RSS / 100 MB)")]
    if compacted is not None:
        rows.append(("compact --older-than 0d", f"{compacted[0]:8.2f}    {compacted[1]:8.1f}    "
                                                f"{compacted[1] / TARGET_MB:6.2f}"))
    for name in names:
        if not walls[name]:
            rows.append((name, f"did not run to the end: {failed[name]}"))
            continue
        results[name] = (median(walls[name]), max(peaks[name]))
        rows.append((name, f"{results[name][0]:8.2f}    {results[name][1]:8.1f}    "
                           f"{results[name][1] / TARGET_MB:6.2f}"))
    table(f"long commands on a log of {shape['events']:,} events, {shape['wals']:,} recordings "
          f"({log_mb:,.0f} MB; segments {segments_mb:,.0f} MB), whole processes, median wall of "
          f"{args.runs} run(s), highest peak", rows)
    print(f"  {machine()}")
    return results


def _compact(db: Path) -> tuple[float, float]:
    """Seal the whole log into segments beside it, as a whole process: (wall s, peak MB)."""
    return whole_process([WALSYNC, "compact", "--db", str(db), "--older-than", "0d"])


if __name__ == "__main__":
    main()
