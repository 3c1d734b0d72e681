"""The real path's cost per synced recording: `walsync sync` (the installed CLI, as a user runs
it) uploads a folder of --n recordings to `serve-sim` on loopback, and the log and the process
are counted: events, commits (fsync and fdatasync calls, counted by strace when it is
installed) and TCP connections opened, each divided by the recordings synced, beside issue
17's targets (at most 4 events and 2 fsyncs per synced recording, connections reused).

    .venv/bin/python bench/bench_real_path.py [--n 200] [--runs 3] [--speed 600]
        [--before OTHER_TREE/.venv/bin/python]

--speed is the simulated backend's speed: 600 finishes jobs almost at once; 1 leaves them
queued and processing in real time, so the reconciler polls them (slower to run). --before
names the Python of another checkout's environment (a commit to compare with): its
`walsync sync` runs against the same server, each of its runs right before one of this
tree's, and the table shows both sides.
"""

from __future__ import annotations

import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import machine, median, parser, table

TOKEN = "bench-token-0123456789"
BODY = b"\x02\x00\x00\x00ok" * 60
WALSYNC = [sys.executable, "-m", "walsync.adapters.cli.main"]
Counts = dict[str, float | None]


def _serve(speed: float) -> tuple[subprocess.Popen[str], str]:
    server = subprocess.Popen([*WALSYNC, "serve-sim", "--port", "0", "--speed", str(speed)],
                              stdout=subprocess.PIPE, text=True)
    assert server.stdout is not None
    found = re.search(r"https?://\S+", server.stdout.readline())
    if found is None:
        server.kill()
        raise SystemExit("serve-sim printed no URL")
    return server, found.group(0)


def _one_run(root: Path, n: int, url: str, python: str = sys.executable) -> Counts:
    """Sync a fresh folder of n recordings once with `python`'s walsync; the counts per
    synced recording."""
    folder, db, trace = root / "rec", root / "log.db", root / "strace.txt"
    folder.mkdir()
    base = int(time.time()) - 86_400
    for i in range(n):
        (folder / f"audio_omi_opus_16000_1_fs160_{base + 60 * i}.bin").write_bytes(BODY)
    traced = shutil.which("strace") is not None
    prefix = ["strace", "-f", "-qq", "-e", "trace=fsync,fdatasync,connect", "-o", str(trace)] \
        if traced else []
    subprocess.run([*prefix, python, *WALSYNC[1:], "sync", "--db", str(db), "--backend", url, "--token",
                    TOKEN, "--recordings", str(folder), "--poll-seconds", "1"],
                   check=True, capture_output=True, timeout=600)
    with sqlite3.connect(db) as conn:
        events = conn.execute("SELECT count(*) FROM events").fetchone()[0]
        synced = conn.execute("SELECT count(*) FROM wal_rows WHERE state = 'synced'").fetchone()[0]
    if synced == 0:
        raise SystemExit("no recording was synced: the run measured nothing")
    calls = trace.read_text().splitlines() if traced else []
    port = url.rsplit(":", 1)[1].strip("/")
    fsyncs = sum("fsync(" in line or "fdatasync(" in line for line in calls)
    connects = sum("connect(" in line and f"htons({port})" in line for line in calls)
    return {"events": events / synced,
            "fsyncs": fsyncs / synced if traced else None,
            "connections": connects / synced if traced else None,
            "synced": float(synced)}


def _shown(runs: list[Counts], key: str) -> tuple[str, float | None]:
    """The median of one count over the runs, as text (and as a number when measured)."""
    values = [r[key] for r in runs]
    if any(v is None for v in values):
        return "not measured (no strace)", None
    found = median([float(v) for v in values if v is not None])
    return f"{found:.3f}", found


def main() -> None:
    args = parser(__doc__, n=200, runs=3)
    args.add_argument("--speed", type=float, default=600.0, help="serve-sim's --speed")
    args.add_argument("--before", default=None,
                      help="the Python of another checkout's environment, run side by side")
    options = args.parse_args()
    server, url = _serve(options.speed)
    sides: dict[str, list[Counts]] = {"now": []} if options.before is None else {
        "before": [], "now": []}
    try:
        for _ in range(options.runs):
            for side, found in sides.items():
                python = options.before if side == "before" else sys.executable
                with tempfile.TemporaryDirectory(dir=options.dir) as root:
                    found.append(_one_run(Path(root), options.n, url, python))
    finally:
        server.terminate()
        server.wait(10)

    rows = [("recordings synced", " / ".join(
        f"{median([float(r['synced'] or 0) for r in runs]):.0f}" for runs in sides.values()))]
    for key, target in (("events", 4), ("fsyncs", 2), ("connections", None)):
        shown = [_shown(runs, key) for runs in sides.values()]
        rows.append((f"{key} per synced recording", " / ".join(text for text, _ in shown)))
        now = shown[-1][1]
        if target is not None and now is not None:
            rows.append((f"{key}: ratio to the target ({target:g}), now", f"{now / target:.3f}"))
    table(f"real path: `walsync sync` of {options.n} recordings, serve-sim --speed "
          f"{options.speed:g}, medians of {options.runs} run(s)"
          + (", before / now" if options.before else ""), rows)
    print(f"  {machine()}")


if __name__ == "__main__":
    main()
