"""The simulator's in-process backend answers as the HTTP client over `SimTransport` does:
whole runs give the very same log (head hash), the same server counters and the same heads
sent, with network faults, throttling with Retry-After, saturation and content failures."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from walsync.adapters.sim.run import SimulationRun
from walsync.adapters.sim.scenarios import scenario_named
from walsync.core.policies import POLICIES

CASES = [("flaky_network", "seed", 4, 30), ("mixed", "walsync", 10, 40),
         ("fair_use_retry_after_date", "walsync", 4, 300), ("content_failures", "legacy", 3, 20),
         ("backend_saturation", "walsync", 4, 10)]


def _run(tmp_path: Path, name: str, policy: str, hours: float, wals: int, *,
         over_http: bool) -> tuple[str, dict[str, int], list[str]]:
    scenario = scenario_named(name).with_overrides(hours=hours, wals=wals)
    run = SimulationRun([scenario], POLICIES[policy], 3,
                        tmp_path / f"{name}-{over_http}.db", over_http=over_http)
    try:
        run.run(None)
        return run.engine.head_anchor(), dict(run.model.counters), list(run.model.log_heads)
    finally:
        run.engine.close()


@pytest.mark.parametrize(("name", "policy", "hours", "wals"), CASES, ids=[c[0] for c in CASES])
def test_a_run_in_process_writes_the_log_a_run_over_http_writes(
        tmp_path: Path, name: str, policy: str, hours: float, wals: int) -> None:
    direct = _run(tmp_path, name, policy, hours, wals, over_http=False)
    http = _run(tmp_path, name, policy, hours, wals, over_http=True)
    assert direct == http
    counters = direct[1]
    assert counters["upload_requests"] > 0 and counters["status_polls"] > 0


def test_the_cases_cover_every_answer_the_simulated_backend_gives(tmp_path: Path) -> None:
    """The runs above meet network faults, 429s with Retry-After, the stale guard and failed
    jobs: the mapping of each is compared, not only the happy path."""
    seen: dict[str, int] = {}
    texts = []
    for name, policy, hours, wals in CASES:
        for key, value in _run(tmp_path, name, policy, hours, wals, over_http=False)[1].items():
            seen[key] = seen.get(key, 0) + value
        with sqlite3.connect(tmp_path / f"{name}-False.db") as conn:
            texts += [row[0] for row in conn.execute("SELECT data FROM events")]
    assert seen["responses_429"] > 0 and seen["stale_guard_failures"] > 0
    assert seen["jobs_failed"] > 0 and seen["jobs_partial_failure"] > 0
    log = "\n".join(texts)
    assert "ConnectError: simulated: network unreachable" in log
    assert "ReadTimeout: simulated: answer lost" in log
    assert "Retry-After" in log or "retry_after" in log

