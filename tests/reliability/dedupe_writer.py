"""A writer process for T16: appends the same event ids (same bodies) several times.

    python tests/reliability/dedupe_writer.py LOG COUNT REPEATS

Every process run with the same COUNT appends the very same events (ids and bodies), so two
of them racing on one log must leave exactly COUNT rows. Prints "ok ADDED REPEATED" at the end:
the rows this process added, and the calls that reported "already appended" (nothing added).
"""

from __future__ import annotations

import sys

from walsync.adapters.ports import NewEvent
from walsync.adapters.store.sqlite import SqliteStore
from walsync.core.events import WalRegistered
from walsync.core.serde import parse_time

T0 = parse_time("2026-05-20T08:00:00Z")


def event(i: int) -> NewEvent:
    """The i-th event: the same id and body in every process."""
    return NewEvent(event_id=f"dup-{i}", event=WalRegistered(at=T0, wal_id=f"w{i}",
                                                             timer_start=i))


def main(path: str, count: int, repeats: int) -> None:
    store = SqliteStore(path)
    added = repeated = 0
    for i in range(count):
        for _ in range(repeats):
            rows = store.append([event(i)])
            added += len(rows)
            repeated += not rows
    store.close()
    print(f"ok {added} {repeated}")


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))
