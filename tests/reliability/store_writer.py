"""A writer process for T06: appends through the SQLite store, its own streams and a shared one.

    python tests/reliability/store_writer.py LOG NAME COUNT

Each step registers one recording of its own (a new stream) and marks the shared gate stream
with the version it last saw, re-reading and retrying on a ConcurrencyConflict. Prints
"ok OWN GATE CONFLICTS" at the end.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta

from walsync.adapters.ports import NewEvent
from walsync.adapters.store.sqlite import SqliteStore
from walsync.core.errors import ConcurrencyConflict
from walsync.core.events import CooldownStarted, WalRegistered

T0 = datetime(2026, 5, 20, tzinfo=UTC)


def main(path: str, name: str, count: int) -> None:
    store = SqliteStore(path)
    own = gate = conflicts = 0
    for i in range(count):
        store.append([NewEvent(event_id=f"{name}-wal-{i}", event=WalRegistered(
            at=T0, wal_id=f"{name}_{i}", timer_start=i))])
        own += 1
        while True:
            seen = store.projection.gate.version
            mark = CooldownStarted(at=T0 + timedelta(seconds=i), reason="rateLimit",
                                   until=T0 + timedelta(seconds=i + 60), seconds=60,
                                   requested_reason="rateLimit", requested_seconds=60,
                                   merge_rule="overwrite", cause_wal_id=f"{name}_{i}")
            try:
                store.append([NewEvent(event_id=f"{name}-gate-{i}", event=mark)],
                             expected={"gate": seen})
            except ConcurrencyConflict:
                conflicts += 1  # another writer marked it first: re-read (the store did) and retry
                continue
            gate += 1
            break
    store.close()
    print(f"ok {own} {gate} {conflicts}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
