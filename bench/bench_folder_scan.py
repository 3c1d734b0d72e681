"""A folder scan when nothing is new: a year's folder against a day's, side by side.

    .venv/bin/python bench/bench_folder_scan.py [--n 100000] [--runs 5] [--dir /tmp]

`walsync sync` and `walsync watch` scan the recordings folder every pass. The folder keeps
every recording it ever gave (here: all of them synced, so each is known to the log only by
its stream, not in the engine's memory). Three scans of it, each when nothing is new:
the whole listing (what every scan did before: each file's name parsed and looked up in the
log), the scan of a folder whose time has not moved since a trusted listing (a scan now), and
`os.scandir` of the folder alone (the floor of any listing). Sizes: `--n` files and a
hundredth of them.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parent.parent / "tests"))
from _common import machine, median, parser, table

from walsync.adapters.bootstrap import open_engine
from walsync.adapters.recordings.names import parse_recording_name
from walsync.adapters.service.folder_scan import FolderScan

from fakes import ScriptedBackend

BODY = b"\x02\x00\x00\x00ok" * 60


def _timed(work: object) -> float:
    started = time.perf_counter()
    work()  # type: ignore[operator]  # a callable, given by the caller below
    return time.perf_counter() - started


def measure(root: Path, files: int, runs: int) -> dict[str, float]:
    """Seconds per scan (medians) of a folder of `files` synced recordings."""
    folder = root / f"rec-{files}"
    folder.mkdir()
    base = int(time.time()) - 86_400 * 400
    names = [f"audio_omi_opus_16000_1_fs160_{base + 60 * i}.bin" for i in range(files)]
    for name in names:
        (folder / name).write_bytes(BODY)
    old = time.time_ns() - 60 * 10**9  # the folder last changed a minute ago
    os.utime(folder, ns=(old, old))
    engine = open_engine(root / f"log-{files}.db", backend=ScriptedBackend(), recordings_dir=folder)
    try:
        events = []
        for name in names:
            parsed = parse_recording_name(name)
            assert parsed is not None
            events.append(engine.registration(device=parsed.device, timer_start=parsed.timer_start,
                                              file_path=name,
                                              delivered=True))
        engine.register_all(events)
        quiet = lambda _: None  # noqa: E731 (a scan's messages are not the bench's)
        scan = FolderScan(folder, quiet)
        scan.register_new(engine)  # the trusted listing
        whole = [_timed(lambda: FolderScan(folder, quiet).register_new(engine)) for _ in range(runs)]
        now = [_timed(lambda: scan.register_new(engine)) for _ in range(runs)]
        floor = [_timed(lambda: sorted(e.name for e in os.scandir(folder))) for _ in range(runs)]
        assert scan.registered == 0 and not engine.recordings()  # nothing was new
    finally:
        engine.close()
    return {"whole": median(whole), "now": median(now), "floor": median(floor)}


def main(argv: list[str] | None = None) -> dict[str, float]:
    args = parser(__doc__, n=100_000).parse_args(argv)
    big, small = max(args.n, 100), max(args.n // 100, 10)
    with tempfile.TemporaryDirectory(dir=args.dir) as folder:
        day, year = measure(Path(folder), small, args.runs), measure(Path(folder), big, args.runs)
    rows = []
    for key, label in (("whole", "whole listing (every scan, before)"),
                       ("now", "unchanged folder (a scan now)"), ("floor", "os.scandir alone")):
        rows.append((f"{label}, {small:,} files, ms", f"{day[key] * 1e3:.3f}"))
        rows.append((f"{label}, {big:,} files, ms", f"{year[key] * 1e3:.3f}"))
        rows.append((f"{label}, ratio {big:,} / {small:,}", f"{year[key] / day[key]:.2f}"))
    rows.append((f"whole listing, us per file at {big:,}", f"{year['whole'] / big * 1e6:.2f}"))
    rows.append((f"scan now / whole listing at {big:,}, ratio", f"{year['now'] / year['whole']:.1e}"))
    table(f"Folder scans with nothing new, medians of {args.runs} ({machine()})", rows)
    return {"whole": year["whole"], "now": year["now"]}


if __name__ == "__main__":
    main()
