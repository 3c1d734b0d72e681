"""Retention: one device's log of --days days compacted at the default 30-day horizon, and what
it changes, side by side: the live log's size and events, bytes per event (the live log's, and
all history's: live log and segment), open and `walsync status` as whole processes before and
after, the compaction's own time, and the segment's size against the same rows in
a SQLite file (the other format issue 17 allows).

    .venv/bin/python bench/bench_retention.py [--n 960] [--days 60] [--runs 1] [--dir /tmp]

--n is the WALs a day; the log is bench/_lifelog.py's simulated week of one device tiled week
after week. The compaction runs as `walsync compact --older-than 30d --now <the log's last
event>`, with its VACUUM.
"""

from __future__ import annotations

import sqlite3
import sys
import tempfile
from contextlib import closing
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import machine, median, parser, whole_process
from _lifelog import build

from walsync.adapters.store.records import EVENT_COLUMNS
from walsync.adapters.store.segments.anchors import seals
from walsync.adapters.store.segments.files import read_segment

BIN = Path(sys.executable).parent
OPEN = ("import sys; from walsync import open_engine; "
        "open_engine(sys.argv[1], base_url='http://127.0.0.1:9/', token='t').close()")


def _live(db: Path) -> tuple[int, int]:
    """(events in the live log, bytes of the file and its -wal)."""
    with closing(sqlite3.connect(db)) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        events = int(conn.execute("SELECT count(*) FROM events").fetchone()[0])
    return events, sum(p.stat().st_size for p in db.parent.glob(f"{db.name}")) + sum(
        p.stat().st_size for p in db.parent.glob(f"{db.name}-wal"))


def _timed(db: Path, runs: int) -> dict[str, float]:
    found: dict[str, list[float]] = {"open": [], "status": []}
    for _ in range(runs):
        found["open"].append(whole_process([str(BIN / "python"), "-c", OPEN, str(db)])[0])
        found["status"].append(whole_process([str(BIN / "walsync"), "status", "--db",
                                              str(db)])[0])
    return {name: median(values) for name, values in found.items()}


def _as_sqlite(segments: list[tuple[Path, str]], target: Path) -> int:
    """The segments' rows in a SQLite file of the events table's columns (no index),
    VACUUMed: its bytes."""
    with closing(sqlite3.connect(target)) as conn:
        conn.execute(f"CREATE TABLE events ({', '.join(EVENT_COLUMNS)})")
        for segment, sha256 in segments:
            conn.executemany(f"INSERT INTO events VALUES ({', '.join('?' * len(EVENT_COLUMNS))})",  # noqa: S608 (fixed column names)
                             read_segment(segment, sha256))
        conn.commit()
        conn.execute("VACUUM")
    return target.stat().st_size


def main(argv: list[str] | None = None) -> dict[str, str]:
    found = parser(__doc__, n=960, runs=1)
    found.add_argument("--days", type=float, default=60.0, help="the log's days (default 60)")
    args = found.parse_args(argv)
    with tempfile.TemporaryDirectory(dir=args.dir) as folder:
        db = Path(folder) / "device.db"
        build(db, args.days, args.n)
        whole_process([str(BIN / "python"), "-c", OPEN, str(db)])  # builds the tables
        with closing(sqlite3.connect(db)) as conn:
            total = int(conn.execute("SELECT max(seq) FROM events").fetchone()[0])
            now = str(conn.execute("SELECT max(at) FROM events").fetchone()[0])
        events_before, bytes_before = _live(db)
        before = _timed(db, args.runs)
        # Its time only: whole_process's peak RSS counts this bench's own pages (the log's
        # build), so the compaction's is measured on its own (docs/performance.md).
        compact_s, _ = whole_process([str(BIN / "walsync"), "compact", "--db", str(db),
                                      "--older-than", "30d", "--now", now])
        events_after, bytes_after = _live(db)
        after = _timed(db, args.runs)
        with closing(sqlite3.connect(db)) as conn:
            sealed = [seal for *_, seal in seals(conn)]  # of at most 100,000 events each
            total = max(total, int(conn.execute("SELECT max(seq) FROM events").fetchone()[0]))
        segment_bytes = sum((Path(folder) / seal.file).stat().st_size for seal in sealed)
        moved = sum(seal.count for seal in sealed)
        sqlite_bytes = _as_sqlite([(Path(folder) / seal.file, seal.sha256) for seal in sealed],
                                  Path(folder) / "alternative.db")
    rows = {
        "events in the live log": (f"{events_before:,}", f"{events_after:,}"),
        "live log, MB": (f"{bytes_before / 1e6:.1f}", f"{bytes_after / 1e6:.1f}"),
        "bytes per live event": (f"{bytes_before / events_before:.0f}",
                                 f"{bytes_after / events_after:.0f}"),
        "segments, MB (events)": ("-", f"{segment_bytes / 1e6:.1f} ({moved:,})"),
        "segments (files)": ("-", f"{len(sealed)}"),
        "segment bytes per event": ("-", f"{segment_bytes / moved:.0f}"),
        "all history bytes per event": (f"{bytes_before / total:.0f}",
                                        f"{(bytes_after + segment_bytes) / total:.0f}"),
        "open (whole process), s": (f"{before['open']:.2f}", f"{after['open']:.2f}"),
        "walsync status, s": (f"{before['status']:.2f}", f"{after['status']:.2f}"),
        "walsync compact (with VACUUM), s": ("-", f"{compact_s:.1f}"),
        "the segments' rows as SQLite, MB": ("-", f"{sqlite_bytes / 1e6:.1f}"),
        "ratio SQLite / gzip JSON Lines": ("-", f"{sqlite_bytes / segment_bytes:.2f}"),
        "ratio live log after / before": ("-", f"{bytes_after / bytes_before:.3f}"),
    }
    width = max(len(label) for label in rows)
    print(f"one device, {args.n} WALs a day, {args.days:g} days, compacted at 30 days "
          f"({args.runs} runs per command, medians)")
    print(f"  {'':<{width}}  {'before':>14}  {'after':>18}")
    for label, (left, right) in rows.items():
        print(f"  {label:<{width}}  {left:>14}  {right:>18}")
    print(machine())
    return {label: right for label, (_, right) in rows.items()}


if __name__ == "__main__":
    main()
