"""Retry-After end to end: simulated servers that say when to come back, as delta-seconds and as
an HTTP-date, through the real HTTP client. Each policy reads the header as its rules say, so a
client that lost the header (or a parser that stopped reading it) fails here."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from walsync.adapters.sim.run import run_simulation
from walsync.adapters.sim.scenarios import scenario_named
from walsync.adapters.store.readonly.queries import read_log
from walsync.core.policies import LEGACY, SEED, WALSYNC
from walsync.core.policy import Policy


def _run(scenario: str, policy: Policy, path: Path) -> list[dict[str, Any]]:
    """The run's cooldowns for fair use, as recorded."""
    run_simulation(scenario_named(scenario).with_overrides(hours=6, wals=260), policy, 5, path)
    return [row.fields for row in read_log(path, type_name="CooldownStarted")
            if row.fields["reason"] == "rateLimit"]


@pytest.mark.parametrize("policy", [SEED, WALSYNC], ids=lambda p: p.name)
def test_delta_seconds_set_every_fair_use_pause(policy: Policy, tmp_path: Path) -> None:
    cooldowns = _run("fair_use_retry_after", policy, tmp_path / "s.db")
    assert cooldowns, "the scenario must throttle"
    assert {(c["retry_after_raw"], c["requested_seconds"], c["default_applied"])
            for c in cooldowns} == {("3600", 3600, False)}


def test_an_http_date_sets_walsync_s_pause_and_seed_falls_back_to_the_default(
        tmp_path: Path) -> None:
    walsync = _run("fair_use_retry_after_date", WALSYNC, tmp_path / "w.db")
    seed = _run("fair_use_retry_after_date", SEED, tmp_path / "s.db")
    assert walsync and seed
    # The date is whole seconds an hour after the answer; `now` has microseconds.
    assert all(3599 <= c["requested_seconds"] <= 3600 and not c["default_applied"]
               for c in walsync)
    assert all(c["requested_seconds"] == 1800 and c["default_applied"] for c in seed)
    assert all(c["retry_after_raw"].endswith(" GMT") for c in walsync + seed)


def test_legacy_records_the_header_it_ignores(tmp_path: Path) -> None:
    path = tmp_path / "l.db"
    run_simulation(scenario_named("fair_use_retry_after").with_overrides(hours=6, wals=260),
                   LEGACY, 5, path)
    throttled = [row.fields for row in read_log(path, type_name="UploadFailed")
                 if row.fields["kind"] == "rate_limited"]
    assert throttled and {t["retry_after_raw"] for t in throttled} == {"3600"}
    assert list(read_log(path, type_name="CooldownStarted")) == []
