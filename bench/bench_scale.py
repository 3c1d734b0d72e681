"""Scale: memory with many registered recordings, and the cost of one transition at 1,000
recordings against the same at --n recordings (it must not grow with the number of WALs).

    .venv/bin/python bench/bench_scale.py [--n 100000] [--runs 5] [--dir /tmp]

Each size runs in a fresh process: the recordings are registered in bulk, then the engine
times registrations of new recordings and single uploads (auto-sync, answered 202 by an
in-process backend) one by one. The log runs with synchronous=OFF so the figures are the
engine's own cost (a durable commit adds the same fsync at any size: bench_durable.py).
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import machine, median, parser, peak_rss_mb, table

START = datetime(2026, 5, 20, tzinfo=UTC)
TRANSITIONS = 500


class _Accepting:
    """Answers every upload with 202 and a fresh job id."""

    def __init__(self) -> None:
        self.jobs = 0

    def upload(self, files: object, **_: object) -> object:
        from walsync.core.responses import UploadJobAccepted
        self.jobs += 1
        return UploadJobAccepted(job_id=f"job-{self.jobs}")

    def job_status(self, job_id: str) -> object:
        raise AssertionError("no polls in this bench")


class _EveryFile:
    """Every recording's file is present (64 bytes)."""

    def open_recording(self, wal: object) -> object:
        import io

        from walsync.adapters.ports import OpenedRecording
        return OpenedRecording(stream=io.BytesIO(b"\x00" * 64), size=64, modified_at=None)

    def exists(self, wal: object) -> bool:
        return True


def child(size: int, folder: Path, transitions: int) -> dict[str, float]:
    from walsync.adapters.engine import Engine
    from walsync.adapters.ports import ManualClock, NewEvent
    from walsync.adapters.store.sqlite import SqliteStore
    from walsync.core.events import PolicyApplied, WalRegistered
    from walsync.core.policies import WALSYNC

    store = SqliteStore(folder / f"scale-{size}.db", synchronous="OFF")
    ids = iter(range(10**9))
    new_id = lambda: f"{next(ids):032x}"  # noqa: E731
    store.append([NewEvent(event_id=new_id(), event=PolicyApplied(
        at=START, policy=WALSYNC.name, rules=WALSYNC.rules()))])
    for start in range(0, size, 10_000):
        store.append([NewEvent(event_id=new_id(), event=WalRegistered(
            at=START, wal_id=f"omi_{i}", device="omi", timer_start=i, file_path=f"{i}.bin"))
            for i in range(start, min(size, start + 10_000))])
    rss_loaded = peak_rss_mb()
    engine = Engine(store, _Accepting(), clock=ManualClock(START),  # type: ignore[arg-type]
                    files=_EveryFile(), policy=WALSYNC, new_id=new_id,
                    rng=random.Random(1))
    rng = random.Random(size)
    started = time.perf_counter()
    for i in range(transitions):
        engine.register(device="omi", timer_start=10**9 + i, file_path=f"n{i}.bin")
    register_us = (time.perf_counter() - started) / transitions * 1e6
    targets = rng.sample(range(size), min(transitions, size))
    started = time.perf_counter()
    for i in targets:
        engine.auto_sync(f"omi_{i}")
    upload_us = (time.perf_counter() - started) / len(targets) * 1e6
    engine.close()
    return {"register_us": register_us, "upload_us": upload_us, "rss_mb": rss_loaded}


def _run(size: int, folder: str, transitions: int) -> dict[str, float]:
    done = subprocess.run([sys.executable, __file__, "--child", str(size), folder,
                           str(transitions)], capture_output=True, text=True, check=True)
    result: dict[str, float] = json.loads(done.stdout)
    return result


def main(argv: list[str] | None = None) -> dict[str, float]:
    args_in = sys.argv[1:] if argv is None else argv
    if args_in[:1] == ["--child"]:
        print(json.dumps(child(int(args_in[1]), Path(args_in[2]), int(args_in[3]))))
        return {}
    args = parser(__doc__, n=100_000).parse_args(args_in)
    small, big = min(1_000, args.n), args.n
    transitions = min(TRANSITIONS, small)
    results: dict[int, list[dict[str, float]]] = {small: [], big: []}
    with tempfile.TemporaryDirectory(dir=args.dir) as folder:
        for run in range(args.runs):
            for size in (small, big):
                results[size].append(_run(size, folder, transitions))
                for path in Path(folder).glob("scale-*"):
                    path.unlink()
            print(f"run {run + 1}/{args.runs} done", file=sys.stderr)

    def med(size: int, key: str) -> float:
        return median([r[key] for r in results[size]])

    table(f"scale: one transition at {small:,} and at {big:,} recordings "
          f"({args.runs} runs, medians, synchronous=OFF)", [
        (f"register, us, {small:,} WALs", f"{med(small, 'register_us'):.0f}"),
        (f"register, us, {big:,} WALs", f"{med(big, 'register_us'):.0f}"),
        (f"single upload (3 events), us, {small:,} WALs", f"{med(small, 'upload_us'):.0f}"),
        (f"single upload (3 events), us, {big:,} WALs", f"{med(big, 'upload_us'):.0f}"),
        ("ratio register big / small", f"{med(big, 'register_us') / med(small, 'register_us'):.2f}"),
        ("ratio upload big / small", f"{med(big, 'upload_us') / med(small, 'upload_us'):.2f}"),
        (f"peak RSS with {small:,} WALs, MB", f"{med(small, 'rss_mb'):.0f}"),
        (f"peak RSS with {big:,} WALs, MB", f"{med(big, 'rss_mb'):.0f}"),
    ])
    print(machine())
    return {"register": med(big, "register_us") / med(small, "register_us")}


if __name__ == "__main__":
    main()
