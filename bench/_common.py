"""What every bench shares: the standard arguments, medians, peak memory and the table."""

from __future__ import annotations

import argparse
import os
import platform
import resource
import sqlite3
import statistics
import subprocess
import sys
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


# Runs one command and prints its wall seconds and peak RSS (KiB). The bench's own process
# is big; a child it spawns takes the parent's high-water mark of memory as its own floor
# (Linux carries it over at exec when the child shares the parent's memory, as posix_spawn's
# vfork does). This small process spawns the command instead, so only its ~10 MB carry over.
_TRAMPOLINE = """
import os, sys, time
started = time.perf_counter()
pid = os.posix_spawn(sys.argv[1], sys.argv[1:], dict(os.environ), file_actions=[
    (os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0)])
_, status, usage = os.wait4(pid, 0)
print(time.perf_counter() - started, usage.ru_maxrss, os.waitstatus_to_exitcode(status))
"""


def whole_process(argv: Sequence[str]) -> tuple[float, float]:
    """(wall seconds, peak RSS in MB) of one whole process, its output discarded. Started by a
    small trampoline process (see _TRAMPOLINE), so the peak is the command's own."""
    done = subprocess.run([sys.executable, "-c", _TRAMPOLINE, *argv], capture_output=True,
                          text=True, check=False)
    if done.returncode != 0 or not done.stdout.strip():
        raise SystemExit(f"{list(argv)}: the trampoline failed: {done.stderr.strip()}")
    wall, kib, code = done.stdout.split()
    if int(code) != 0:
        raise SystemExit(f"{list(argv)} failed with exit code {code}")
    return float(wall), int(kib) / 1024
