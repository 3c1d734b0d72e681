"""What every bench shares: the standard arguments, medians, peak memory and the table."""

from __future__ import annotations

import argparse
import os
import platform
import resource
import sqlite3
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path


def parser(doc: str | None, *, n: int, runs: int = 5) -> argparse.ArgumentParser:
    """--n (the size), --runs (medians over these), --dir (where files go)."""
    found = argparse.ArgumentParser(description=(doc or "").split("\n\n")[0])
    found.add_argument("--n", type=int, default=n, help=f"size of the work (default {n})")
    found.add_argument("--runs", type=int, default=runs, help="runs per side; medians reported")
    found.add_argument("--dir", default=None, help="where the files go (same file system)")
    return found


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def peak_rss_mb() -> float:
    """This process's peak resident memory so far, in MB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def machine() -> str:
    """One line naming the machine, for the table's footer."""
    return (f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
            f"SQLite {sqlite3.sqlite_version}")


def table(title: str, rows: Sequence[tuple[str, str]]) -> None:
    """Print a two-column table: label, value."""
    width = max(len(label) for label, _ in rows)
    print(title)
    for label, value in rows:
        print(f"  {label:<{width}}  {value:>14}")
    sys.stdout.flush()


def raw_log(path: Path, synchronous: str = "FULL") -> sqlite3.Connection:
    """A raw sqlite3 connection on a new log: WAL, synchronous=FULL (or as given), walsync's
    schema."""
    from walsync.adapters.store.schema import create_schema

    if synchronous not in ("FULL", "OFF"):
        raise ValueError(f"synchronous must be FULL or OFF, not {synchronous!r}")
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA synchronous={synchronous}")
    create_schema(conn)
    return conn


def whole_process(argv: Sequence[str]) -> tuple[float, float]:
    """(wall seconds, peak RSS in MB) of one whole process, its output discarded. Started by
    posix_spawn, not fork: a forked child counts the bench's own pages in its peak RSS until it
    execs."""
    started = time.perf_counter()
    pid = os.posix_spawn(argv[0], list(argv), dict(os.environ), file_actions=[
        (os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0)])
    _, status, usage = os.wait4(pid, 0)
    wall = time.perf_counter() - started
    if status != 0:
        raise SystemExit(f"{list(argv)} failed with status {status}")
    return wall, usage.ru_maxrss / 1024
