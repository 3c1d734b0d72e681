"""How the store runs bulk work: an append of many events gets a big page cache and the garbage
collector paused, a rebuild's rewrite of the tables the big cache. Each is given back when the
work ends, however it ends."""

from __future__ import annotations

import gc
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Final

__all__ = ["BULK_EVENTS", "big_cache", "bulk_work", "collector_paused"]

BULK_EVENTS: Final = 1_000  # an append of this many events is bulk work
_BIG_CACHE_KIB: Final = 64 * 1024


@contextmanager
def big_cache(conn: sqlite3.Connection) -> Iterator[None]:
    """A 64 MB page cache, then the connection's own again. Bulk writes touch index pages all
    over the file (event ids are random), and with SQLite's default 2 MB cache each miss
    re-read a page from the OS (bench/bench_bulk.py prints raw executemany with both caches).
    Only for bulk work, so that a long-lived store keeps a small cache."""
    size = conn.execute("PRAGMA cache_size").fetchone()[0]
    conn.execute(f"PRAGMA cache_size=-{_BIG_CACHE_KIB}")
    try:
        yield
    finally:
        with suppress(sqlite3.Error):  # a broken connection has no cache to give back
            conn.execute(f"PRAGMA cache_size={int(size)}")


@contextmanager
def collector_paused() -> Iterator[None]:
    """The cyclic garbage collector off for the duration, then as the caller had it. A bulk
    append allocates several objects per event (rows, bodies, the fold's fields), which
    triggered collections that walked every object alive, the caller's own events included;
    what the append makes holds no cycles, so reference counting frees it all the same."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


@contextmanager
def bulk_work(conn: sqlite3.Connection) -> Iterator[None]:
    """Both of the above."""
    with collector_paused(), big_cache(conn):
        yield
