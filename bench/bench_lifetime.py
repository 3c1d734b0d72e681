"""One device's log after a day, a month and a year, and what each costs to use: open, `status`,
`why ID`, `log --wal ID` and `timeline ID` as whole processes (the installed CLI; open through
`open_engine`), their peak RSS, the live log's size, bytes per event and events per synced
recording, side by side.

    .venv/bin/python bench/bench_lifetime.py [--n 960] [--days 1,30,365] [--runs 1] [--dir /tmp]

--n is the WALs a day (one a minute for 16 hours); the log is a simulated week of one device
(fair-use throttling, a saturated backend, an offline stretch) tiled week after week
(bench/_lifelog.py). Default retention: each log is compacted as `walsync compact
--older-than 30d` at its last event (history older than 30 days moved into a sealed segment;
a day's and a month's logs have none), then measured. Targets (issue 17): open, status and
why at a year within 1.2x of a day; peak RSS <= 100 MB at a year; live log <= 50 MB at a
year; all history <= 150 bytes per event; at most 4 events per synced recording. (`why`,
`log --wal` and `timeline` ask about the device's last registered recording.) One run per
command by default: the year's log takes minutes to build (docs/performance.md).
"""

from __future__ import annotations

import sqlite3
import sys
import tempfile
import time
import zlib
from pathlib import Path
from typing import Final

sys.path.insert(0, str(Path(__file__).parent))
from _common import machine, median, parser, whole_process
from _lifelog import build

BIN = Path(sys.executable).parent
OPEN = ("import sys; from walsync import open_engine; "
        "open_engine(sys.argv[1], base_url='http://127.0.0.1:9/', token='t').close()")


def shape(db: Path) -> tuple[int, int, str]:
    """(events, synced recordings, the last recording's id) from the log and its tables."""
    with sqlite3.connect(db) as conn:
        events = conn.execute("SELECT max(seq) FROM events").fetchone()[0]
        synced = conn.execute("SELECT count(*) FROM wal_rows WHERE display = 'synced'").fetchone()[0]
        last = conn.execute("SELECT stream FROM events WHERE type = 'WalRegistered' "
                            "ORDER BY seq DESC LIMIT 1").fetchone()[0]
    return int(events), int(synced), str(last)[4:]


def _bytes(folder: Path, db: Path) -> tuple[int, int]:
    """(the live log's bytes: the file, its -wal and -shm; its segments' bytes)."""
    segments = sum(p.stat().st_size for p in folder.glob(f"{db.name}.seg-*"))
    live = sum(p.stat().st_size for p in folder.glob(f"{db.name}*") if ".seg-" not in p.name)
    return live, segments


# The live log's parts (SQLite's dbstat: every page of each table and index), by what they hold.
_PARTS = {"events table": ("events",),
          "events' indexes": ("events_event_id", "events_stream_version", "events_type",
                              "events_rare_type"),
          "status and live tables": ("wal_rows", "live_wals", "sync_card", "gate_state",
                                     "projection_head"),
          "archived list": ("archived_wals", "archived_chunks")}


def parts(db: Path) -> dict[str, str]:
    """The live log's MB by part (where the bytes are: issue 17's 50 MB target); "-" where
    this SQLite has no dbstat."""
    try:
        with sqlite3.connect(db) as conn:
            pages = dict(conn.execute("SELECT name, sum(pgsize) FROM dbstat GROUP BY name"))
    except sqlite3.OperationalError:
        pages = None
    return {f"live log: {part}, MB": "-" if pages is None else
            f"{sum(pages.get(name, 0) for name in names) / 1e6:.1f}"
            for part, names in _PARTS.items()}


# The events' columns by stored bytes a row (what leaving each out would save), and an
# estimate of the next cut: the data deflated one row at a time against a dictionary per
# event type (docs/performance.md, "Where the live log's bytes are").
_COLUMNS = ("data", "event_id", "stream", "type", "at", "prev_hash", "hash")
_SAMPLE_ROWS = 50  # a type's dictionary: its first rows, up to zlib's 32 KB window


def columns(db: Path) -> dict[str, str]:
    """Bytes a row of each of _COLUMNS as stored, and of the data deflated (estimate)."""
    with sqlite3.connect(db) as conn:
        sums = conn.execute("SELECT count(*), " + ", ".join(  # noqa: S608 (fixed column names)
            f"sum(length(CAST({c} AS BLOB)))" for c in _COLUMNS) + " FROM events").fetchone()
        count = max(int(sums[0]), 1)
        found = {f"events: {c}, bytes a row": f"{(v or 0) / count:.0f}"
                 for c, v in zip(_COLUMNS, sums[1:], strict=True)}
        found["events: data deflated alone, a dictionary per type, bytes a row"] = (
            f"{_deflated(conn) / count:.0f}")
    return found


def _deflated(conn: sqlite3.Connection) -> int:
    """The data's bytes with each row deflated alone (raw deflate, level 9) against a preset
    dictionary per type made of that type's first rows (which are thus a little flattered)."""
    samples: dict[str, list[bytes]] = {}
    for type_name, data in conn.execute("SELECT type, CAST(data AS BLOB) FROM events ORDER BY seq"):
        seen = samples.setdefault(type_name, [])
        if len(seen) < _SAMPLE_ROWS:
            seen.append(data)
    dictionaries = {t: b"".join(rows)[-32_768:] for t, rows in samples.items()}
    total = 0
    for type_name, data in conn.execute("SELECT type, CAST(data AS BLOB) FROM events"):
        packer = zlib.compressobj(9, zlib.DEFLATED, -15, 9, zlib.Z_DEFAULT_STRATEGY,
                                  dictionaries[type_name])
        total += len(packer.compress(data) + packer.flush())
    return total


# What is timed on each size, as whole processes: the store's open and the commands that read
# one device's present or one recording's history (issue 17 item 1).
COMMANDS: Final = ("open", "status", "why", "log --wal", "timeline")


def prepared(folder: Path, days: float, per_day: int) -> tuple[dict[str, str], dict[str, list[str]]]:
    """Build the log of `days` days, open it once (the tables built), compact it at the default
    retention: its row of figures so far, and the commands to time on it."""
    db = folder / f"device-{days:g}d.db"
    started = time.perf_counter()
    build(db, days, per_day)
    built = time.perf_counter() - started
    whole_process([str(BIN / "python"), "-c", OPEN, str(db)])  # the first open builds the tables
    events, synced, last = shape(db)  # before the compaction takes finished rows out
    with sqlite3.connect(db) as conn:
        now = str(conn.execute("SELECT max(at) FROM events").fetchone()[0])
    compacted = whole_process([str(BIN / "walsync"), "compact", "--db", str(db), "--older-than",
                               "30d", "--now", now])
    live, segments = _bytes(folder, db)
    row = {"events": f"{events:,}", "recordings synced": f"{synced:,}",
           "build, s": f"{built:.1f}",
           "compact --older-than 30d, s / peak RSS, MB": f"{compacted[0]:.1f} / {compacted[1]:.0f}",
           "live log, MB": f"{live / 1e6:.1f}", **parts(db), **columns(db),
           "segments, MB": f"{segments / 1e6:.1f}",
           "all history, bytes per event": f"{(live + segments) / events:.0f}",
           "events per synced recording": f"{events / synced:.2f}" if synced else "-"}
    commands = {"open": [str(BIN / "python"), "-c", OPEN, str(db)],
                "status": [str(BIN / "walsync"), "status", "--db", str(db)],
                "why": [str(BIN / "walsync"), "why", last, "--db", str(db)],
                "log --wal": [str(BIN / "walsync"), "log", "--db", str(db), "--wal", last, "--json"],
                "timeline": [str(BIN / "walsync"), "timeline", last, "--db", str(db)]}
    return row, commands


def timed(prepared_sizes: dict[str, dict[str, list[str]]], runs: int) -> dict[str, dict[str, str]]:
    """Each command on every size in turn, `runs` times (the sizes side by side in each run,
    so a change of the machine's load falls on all of them): medians per size."""
    found: dict[str, dict[str, list[tuple[float, float]]]] = {
        size: {name: [] for name in commands} for size, commands in prepared_sizes.items()}
    for _ in range(runs):
        for name in COMMANDS:
            for size, commands in prepared_sizes.items():
                found[size][name].append(whole_process(commands[name]))
    rows: dict[str, dict[str, str]] = {}
    for size, by_name in found.items():
        rows[size] = {}
        for name, values in by_name.items():
            rows[size][f"{name}, s"] = f"{median([w for w, _ in values]):.2f}"
            rows[size][f"{name} peak RSS, MB"] = f"{median([m for _, m in values]):.0f}"
    return rows


def main(argv: list[str] | None = None) -> dict[str, dict[str, str]]:
    found = parser(__doc__, n=960, runs=1)
    found.add_argument("--days", default="1,30,365", help="the sizes, in days (default 1,30,365)")
    args = found.parse_args(argv)
    sizes = [float(d) for d in args.days.split(",")]
    results: dict[str, dict[str, str]] = {}
    commands: dict[str, dict[str, list[str]]] = {}
    with tempfile.TemporaryDirectory(dir=args.dir) as folder:
        for days in sizes:
            results[f"{days:g} d"], commands[f"{days:g} d"] = prepared(Path(folder), days, args.n)
        for size, row in timed(commands, args.runs).items():
            results[size].update(row)
    first, last = results[f"{sizes[0]:g} d"], results[f"{sizes[-1]:g} d"]
    for name in COMMANDS:
        ratio = float(last[f"{name}, s"]) / float(first[f"{name}, s"])
        for label, row in results.items():
            row[f"{name} ratio to {sizes[0]:g} d (target <= 1.2)"] = (
                f"{ratio:.2f}" if row is last else "")
            del label
    labels = list(first)
    width = max(len(label) for label in labels)
    print(f"one device, {args.n} WALs a day, {args.runs} runs per command (medians)")
    print(f"  {'':<{width}}  " + "  ".join(f"{k:>14}" for k in results))
    for label in labels:
        cells = [results[k][label] for k in results]
        print(f"  {label:<{width}}  " + "  ".join(f"{c:>14}" for c in cells))
    print(machine())
    return results


if __name__ == "__main__":
    main()
