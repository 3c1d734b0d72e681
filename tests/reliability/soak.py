"""T32 soak: kill -9 restarts plus injected I/O faults, with integrity and replay checks.

    python tests/reliability/soak.py --minutes 30 --figures FILE

A child process appends batches through the store's real append path over the fault VFS
(faulty_vfs.py: about 1% of writes and fsyncs fail with SQLITE_FULL / SQLITE_IOERR). On a
typed storage error it retries the same batch with the same event ids (a failed COMMIT is
indeterminate: the retry lands it exactly once). It prints each acknowledged batch. The parent
SIGKILLs it every `minutes` seconds (so any run has about 60 restarts; 30 s apart for 30
minutes), then checks: integrity_check ok, gapless seq, every acknowledged event stored, at
most the one in-flight batch beyond them; every tenth restart and at the end also the hash
chain and projection tables == replay. Prints the totals; --figures appends them as JSON
lines (tier.record's format). Exits non-zero on any loss.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from tempfile import TemporaryDirectory

from storage_fixtures import check_intact, check_sound, registered, stored_ids

RESTARTS = 60
FAULT_RATE = 0.01


def child(path: str, tag: str, seed: int) -> None:
    """Append forever; report acks and faults on stdout."""
    import apsw
    from faulty_vfs import ApswConnection, FaultyVFS

    from walsync.adapters.store.sqlite import SqliteStore
    from walsync.core.errors import StorageFull, StorageIOError

    vfs = FaultyVFS(f"soak{os.getpid()}")
    vfs.rng = random.Random(seed)
    rng = random.Random(seed)
    store = SqliteStore(path, connect=lambda p, t: ApswConnection(p, t, vfs.name))  # type: ignore[arg-type,return-value]
    vfs.fail_rate = FAULT_RATE
    kinds = (apsw.FullError, apsw.IOError)
    n = 0
    while True:
        batch = [registered(tag, n + i) for i in range(rng.randint(1, 5))]
        n += len(batch)
        while True:
            vfs.fail_kind = kinds[rng.randrange(2)]
            try:
                store.append(batch)
                break
            except (StorageFull, StorageIOError):
                sys.stdout.write("fault\n")
                sys.stdout.flush()
        sys.stdout.write("ack " + " ".join(e.event_id for e in batch) + "\n")
        sys.stdout.flush()


def soak(minutes: float, folder: Path) -> dict[str, int]:
    from walsync.adapters.store.sqlite import SqliteStore

    path = folder / "soak.db"
    SqliteStore(path).close()
    interval = minutes * 60 / RESTARTS
    totals = {"restarts": 0, "kills": 0, "faults": 0, "acked": 0, "lost": 0, "full_checks": 0,
              "crashes": 0}
    acked: set[str] = set()
    rng = random.Random(32)
    deadline = time.monotonic() + minutes * 60
    round_ = 0
    while time.monotonic() < deadline or round_ == 0:
        proc = subprocess.Popen([sys.executable, __file__, "--child", str(path), f"r{round_}",
                                 str(round_)], stdout=subprocess.PIPE, text=True)
        time.sleep(interval * rng.uniform(0.5, 1.5))
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            totals["kills"] += 1
        out, _ = proc.communicate(timeout=60)
        if proc.returncode != -signal.SIGKILL:
            totals["crashes"] += 1  # the writer died on its own: an error reached it
        for line in out.splitlines():
            if line == "fault":
                totals["faults"] += 1
            elif line.startswith("ack "):
                ids = line.split()[1:]
                acked.update(ids)
                totals["acked"] += len(ids)
        totals["restarts"] += 1
        stored = set(stored_ids(path))
        missing = acked - stored
        totals["lost"] += len(missing)
        beyond = stored - acked
        if len(beyond) > 5:  # at most the one batch in flight at the kill
            totals["lost"] += len(beyond)
        acked |= beyond  # an in-flight batch that landed is the truth from now on
        check_intact(path)
        if round_ % 10 == 9:
            check_sound(path)
            totals["full_checks"] += 1
        round_ += 1
    check_sound(path)
    totals["full_checks"] += 1
    return totals


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--figures", type=Path)
    parser.add_argument("--child", nargs=3, metavar=("LOG", "TAG", "SEED"))
    args = parser.parse_args()
    if args.child:
        child(args.child[0], args.child[1], int(args.child[2]))
        return 0
    with TemporaryDirectory(prefix="walsync-soak-") as folder:
        started = time.monotonic()
        totals = soak(args.minutes, Path(folder))
    elapsed = time.monotonic() - started
    print(f"soak {elapsed:.0f}s: {totals['restarts']} restarts, {totals['kills']} kills, "
          f"{totals['faults']} faults injected, {totals['acked']} events acked, "
          f"{totals['full_checks']} full replay checks, writer crashes = {totals['crashes']}, "
          f"lost = {totals['lost']}")
    if args.figures:
        os.environ["WALSYNC_FIGURES"] = str(args.figures)
        from tier import record

        for measure, key in (("kills survived", "kills"), ("faults injected", "faults"),
                             ("events acked", "acked")):
            record("T32 soak", measure, totals[key], totals["lost"])
    return 1 if totals["lost"] or totals["crashes"] else 0


if __name__ == "__main__":
    sys.exit(main())
