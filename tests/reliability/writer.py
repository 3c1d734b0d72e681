"""A writer process for the crash and concurrency tests: real engine appends, acks on stdout.

    python tests/reliability/writer.py LOG PREFIX COUNT

Registers COUNT recordings (one transaction each: event + projection rows, FULL) and then
uploads them in batches against an always-202 backend, printing each acknowledged seq after
COMMIT returned. Event ids carry PREFIX so two writers never collide.
"""

from __future__ import annotations

import itertools
import random
import sys
from datetime import UTC, datetime

from walsync.adapters.engine import Engine
from walsync.adapters.ports import ManualClock
from walsync.adapters.recordings.files import MemoryFiles
from walsync.adapters.store.sqlite import SqliteStore
from walsync.core.policies import WALSYNC
from walsync.core.responses import UploadJobAccepted


class Accepting:
    """Every upload is accepted with a fresh job id."""

    def __init__(self, prefix: str) -> None:
        self.jobs = itertools.count(1)
        self.prefix = prefix

    def upload(self, files: object, **_: object) -> UploadJobAccepted:
        return UploadJobAccepted(job_id=f"{self.prefix}-job-{next(self.jobs)}")

    def job_status(self, job_id: str) -> object:
        raise AssertionError("not polled here")


def main(path: str, prefix: str, count: int) -> None:
    store = SqliteStore(path)
    ids = itertools.count(1)
    files = MemoryFiles()
    engine = Engine(store, Accepting(prefix), clock=ManualClock(datetime(2026, 5, 20, tzinfo=UTC)),
                    files=files, policy=WALSYNC, new_id=lambda: f"{prefix}-{next(ids)}",
                    rng=random.Random(1))
    engine.subscribe(lambda rows: (sys.stdout.write(f"{rows[-1].seq}\n"), sys.stdout.flush()))
    for i in range(count):
        wal_id = engine.register(device=prefix, timer_start=1_700_000_000 + i,
                                 file_path=f"{i}.bin")
        files.contents[wal_id] = b"\x02\x00\x00\x00ok"
        if i % 5 == 4:
            engine.sync_all()
    engine.close()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
