"""A writer process for T08/T31: appends COUNT events through the store, BATCH per transaction.

    python tests/reliability/burst_writer.py LOG PREFIX COUNT BATCH [SECONDS]

Each event registers its own WAL (one stream each). With SECONDS, keeps appending single
events until that much time passed. Prints "ok APPENDED ELAPSED" at the end.
"""

from __future__ import annotations

import sys
import time

from storage_fixtures import registered

from walsync.adapters.store.sqlite import SqliteStore


def main(path: str, prefix: str, count: int, batch: int, seconds: float) -> None:
    store = SqliteStore(path)
    started = time.monotonic()
    done = 0
    while done < count or time.monotonic() - started < seconds:
        size = min(batch, count - done) if done < count else 1
        store.append([registered(prefix, done + i) for i in range(size)])
        done += size
    elapsed = time.monotonic() - started
    store.close()
    print(f"ok {done} {elapsed:.3f}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]),
         float(sys.argv[5]) if len(sys.argv) > 5 else 0.0)
