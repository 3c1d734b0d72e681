"""Simulation speed: the `fair_use_backlog` incident over 48 virtual hours, wall time per
policy at --n recordings (each writes its whole log to SQLite), and the events it logged,
walsync's also through the real HTTP client (as the simulator ran before: the same log);
then the simulator's cost per logged event at --n and at --large recordings under walsync,
the two sizes alternating in one run (medians), and their ratio.

    .venv/bin/python bench/bench_sim.py [--n 1000] [--large 20000 (20 x --n)] [--runs 3] [--dir /tmp]

Targets: under 20 s for walsync at 1,000 recordings; the cost per event at --large within
1.5x of its cost at --n.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import machine, median, parser, table

from walsync.adapters.sim.metrics import SimResult
from walsync.adapters.sim.run import run_simulation
from walsync.adapters.sim.scenarios import scenario_named
from walsync.core.policies import LEGACY, SEED, WALSYNC
from walsync.core.policy import Policy

HOURS = 48.0


def _timed(policy: Policy, wals: int, db: Path, *, over_http: bool = False
           ) -> tuple[float, SimResult]:
    scenario = scenario_named("fair_use_backlog").with_overrides(hours=HOURS, wals=wals)
    started = time.perf_counter()
    result = run_simulation(scenario, policy, 1, db, over_http=over_http)
    return time.perf_counter() - started, result


def main(argv: list[str] | None = None) -> dict[str, float]:
    found = parser(__doc__, n=1_000, runs=3)
    found.add_argument("--large", type=int, default=None,
                       help="the size whose cost per event is compared with --n's (20 x --n)")
    args = found.parse_args(argv)
    args.large = args.large or 20 * args.n
    seconds: dict[str, list[float]] = {p.name: [] for p in (LEGACY, SEED, WALSYNC)}
    over_http: list[float] = []
    events: dict[str, int] = {}
    heads: dict[str, str] = {}
    sizes = (args.n, args.large)
    per_event: dict[int, list[float]] = {n: [] for n in sizes}
    shape: dict[int, SimResult] = {}
    with tempfile.TemporaryDirectory(dir=args.dir) as folder:
        for _ in range(args.runs):
            for policy in (LEGACY, SEED, WALSYNC):
                wall, result = _timed(policy, args.n, Path(folder) / f"{policy.name}.db")
                seconds[policy.name].append(wall)
                events[policy.name] = result.events_logged
                heads[policy.name] = result.head_hash
            wall, result = _timed(WALSYNC, args.n, Path(folder) / "http.db", over_http=True)
            over_http.append(wall)
            if result.head_hash != heads[WALSYNC.name]:
                raise SystemExit("the run through HTTP wrote another log than the direct one")
        for _ in range(args.runs):  # the two sizes alternate: the machine's load hits both
            for n in sizes:
                wall, result = _timed(WALSYNC, n, Path(folder) / f"scale-{n}.db")
                per_event[n].append(wall / result.events_logged * 1e6)
                shape[n] = result
    rows = [(f"{name}, s (wall), {events[name]:,} events", f"{median(values):.2f}")
            for name, values in seconds.items()]
    rows.append(("walsync through the HTTP client (as before), s", f"{median(over_http):.2f}"))
    rows.append(("ratio walsync direct / through the HTTP client",
                 f"{median(seconds['walsync']) / median(over_http):.2f}"))
    rows.append(("ratio walsync / 20 s target", f"{median(seconds['walsync']) / 20:.2f}"))
    table(f"fair_use_backlog, {args.n:,} recordings, {HOURS:.0f} virtual hours "
          f"({args.runs} runs, medians)", rows)
    small, large = (median(per_event[n]) for n in sizes)
    scale_rows = []
    for n in sizes:
        result = shape[n]
        requests = result.status_polls + result.upload_requests
        scale_rows += [
            (f"{n:,} WALs: events logged", f"{result.events_logged:,}"),
            (f"{n:,} WALs: backend requests per event", f"{requests / result.events_logged:.2f}"),
            (f"{n:,} WALs: us per event", f"{median(per_event[n]):.0f}")]
    scale_rows.append((f"ratio {args.large:,} / {args.n:,} (target <= 1.5)", f"{large / small:.2f}"))
    table(f"walsync, cost per logged event, {args.n:,} vs {args.large:,} recordings "
          f"({args.runs} runs alternating, medians)", scale_rows)
    print(machine())
    return {"walsync_s": median(seconds["walsync"]), "scale_ratio": large / small}


if __name__ == "__main__":
    main()
