"""Simulation speed: the `fair_use_backlog` incident with 1,000 recordings over 48 virtual
hours, wall time per policy (each writes its whole log to SQLite), and the events it logged.

    .venv/bin/python bench/bench_sim.py [--n 1000] [--runs 3] [--dir /tmp]

--n is the backlog size; the target is under 20 s for walsync at 1,000 recordings.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import machine, median, parser, table

from walsync.adapters.sim.run import run_simulation
from walsync.adapters.sim.scenarios import scenario_named
from walsync.core.policies import LEGACY, SEED, WALSYNC

HOURS = 48.0


def main(argv: list[str] | None = None) -> dict[str, float]:
    args = parser(__doc__, n=1_000, runs=3).parse_args(argv)
    scenario = scenario_named("fair_use_backlog").with_overrides(hours=HOURS, wals=args.n)
    seconds: dict[str, list[float]] = {p.name: [] for p in (LEGACY, SEED, WALSYNC)}
    events: dict[str, int] = {}
    with tempfile.TemporaryDirectory(dir=args.dir) as folder:
        for _ in range(args.runs):
            for policy in (LEGACY, SEED, WALSYNC):
                db = Path(folder) / f"{policy.name}.db"
                started = time.perf_counter()
                result = run_simulation(scenario, policy, 1, db)
                seconds[policy.name].append(time.perf_counter() - started)
                events[policy.name] = result.events_logged
    rows = [(f"{name}, s (wall), {events[name]:,} events", f"{median(values):.2f}")
            for name, values in seconds.items()]
    rows.append(("ratio walsync / 20 s target", f"{median(seconds['walsync']) / 20:.2f}"))
    table(f"fair_use_backlog, {args.n:,} recordings, {HOURS:.0f} virtual hours "
          f"({args.runs} runs, medians)", rows)
    print(machine())
    return {"walsync_s": median(seconds["walsync"])}


if __name__ == "__main__":
    main()
