"""Full rebuild: every projection rebuilt from a big log with a realistic mix, against a raw
scan + orjson decode + dict fold of the same rows, each in a fresh process (peak memory).

    .venv/bin/python bench/bench_rebuild.py [--n 1000000] [--runs 5] [--dir /tmp]

The log is the simulated `mixed` incident (legacy policy) tiled with renamed recordings up to
--n events (bench/_biglog.py). "Rebuild" is `rebuild_projections()` on an open store: every
event refolded from seq 0 and every projection table rewritten in one transaction. Opening
the log (the start-up gate verifies the whole hash chain, then the fold) is shown apart.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).parent))
import _biglog
from _common import machine, median, parser, peak_rss_mb, table


def engine_child(path: Path) -> dict[str, float]:
    """Open the log (its start-up integrity gate and fold), then time rebuild_projections():
    every event refolded from seq 0 and every projection table rewritten, in one transaction."""
    from walsync.adapters.store.sqlite import SqliteStore

    started = time.perf_counter()
    store = SqliteStore(path)
    opened = time.perf_counter() - started
    started = time.perf_counter()
    store.rebuild_projections()
    seconds = time.perf_counter() - started
    rows = len(store.projection.rows)
    store.close()
    return {"seconds": seconds, "open_seconds": opened, "rss_mb": peak_rss_mb(), "rows": rows}


def raw_child(path: Path) -> dict[str, float]:
    """Scan the same rows, orjson-decode each body and fold a dict per stream."""
    import sqlite3

    started = time.perf_counter()
    conn = sqlite3.connect(path)
    state: dict[str, tuple[str, int]] = {}
    for _seq, stream, type_name, data in conn.execute(
            "SELECT seq, stream, type, data FROM events ORDER BY seq"):
        body = orjson.loads(data)
        state[stream] = (type_name, len(body))
    seconds = time.perf_counter() - started
    conn.close()
    return {"seconds": seconds, "rss_mb": peak_rss_mb(), "rows": len(state)}


def _in_child(side: str, path: Path) -> dict[str, float]:
    done = subprocess.run([sys.executable, __file__, "--child", side, str(path)],
                          capture_output=True, text=True, check=True)
    result: dict[str, float] = json.loads(done.stdout)
    return result


def main(argv: list[str] | None = None) -> dict[str, float]:
    args_in = sys.argv[1:] if argv is None else argv
    if args_in[:1] == ["--child"]:
        side, path = args_in[1], Path(args_in[2])
        print(json.dumps((engine_child if side == "engine" else raw_child)(path)))
        return {}
    found = parser(__doc__, n=1_000_000)
    args = found.parse_args(args_in)
    with tempfile.TemporaryDirectory(dir=args.dir) as folder:
        path = Path(folder) / "big.db"
        started = time.perf_counter()
        shape = _biglog.build(path, max(args.n, 1000))
        print(f"built a log of {shape['events']:,} events, {shape['wals']:,} recordings "
              f"in {time.perf_counter() - started:.1f} s", flush=True)
        engine, raw = [], []
        for _ in range(args.runs):  # interleaved, fresh processes, so noise hits both alike
            raw.append(_in_child("raw", path))
            engine.append(_in_child("engine", path))
    e_s, r_s = median([r["seconds"] for r in engine]), median([r["seconds"] for r in raw])
    events = shape["events"]
    table(f"full rebuild of {events:,} events ({args.runs} runs, medians)", [
        ("raw scan + orjson + dict fold, s", f"{r_s:.2f}"),
        ("walsync rebuild (all projections), s", f"{e_s:.2f}"),
        ("walsync open (integrity gate + fold), s",
         f"{median([r['open_seconds'] for r in engine]):.2f}"),
        ("raw events/s", f"{events / r_s:,.0f}"),
        ("walsync events/s", f"{events / e_s:,.0f}"),
        ("ratio walsync / raw (speed)", f"{r_s / e_s:.2f}"),
        ("walsync peak RSS, MB", f"{median([r['rss_mb'] for r in engine]):.0f}"),
        ("raw peak RSS, MB", f"{median([r['rss_mb'] for r in raw]):.0f}"),
    ])
    print(machine())
    return {"ratio": r_s / e_s, "seconds": e_s}


if __name__ == "__main__":
    main()
