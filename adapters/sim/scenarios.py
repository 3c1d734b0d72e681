"""The incident scenarios the simulator replays (documented in docs/scenarios.md)."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Final

from attrs import evolve, field, frozen

from walsync.adapters.sim.backend import BackendConfig
from walsync.adapters.sim.fair_use import FairUseConfig

__all__ = ["SCENARIOS", "Scenario", "scenario_named"]

_HOUR: Final = 3600.0


@frozen(kw_only=True)
class Scenario:
    """A backend configuration, a backlog, the app's habits, and what goes wrong."""

    name: str
    summary: str
    hours: float
    wals: int
    backend: BackendConfig = field(factory=BackendConfig)
    # Each background item: (arrival, duration) in virtual seconds, drawn from the seed.
    background: Callable[[random.Random, float], list[tuple[float, float]]] | None = None
    app_sessions_per_day: float = 8.0
    session_minutes: float = 10.0
    captures_per_day: float = 6.0
    wals_per_capture: int = 3
    retry_taps_per_session: float = 0.5
    decode_broken_fraction: float = 0.0
    segment_broken_fraction: float = 0.0
    network_failure_rate: float = 0.0
    lost_answer_rate: float = 0.0

    def with_overrides(self, *, hours: float | None = None, wals: int | None = None) -> Scenario:
        """The same scenario with another length or backlog size."""
        return evolve(self, hours=hours if hours is not None else self.hours,
                      wals=wals if wals is not None else self.wals)


def _saturation(start_h: float, end_h: float) -> Callable[[random.Random, float], list[tuple[
        float, float]]]:
    """Other work that holds the 24-slot postprocess pool at 24/24 busy with ~80 queued."""
    def build(rng: random.Random, horizon: float) -> list[tuple[float, float]]:
        start, end = start_h * _HOUR, min(end_h * _HOUR, horizon)
        work = [(start, rng.uniform(600, 1200)) for _ in range(24 + 80)]
        t = start
        while t < end:  # arrivals that keep the queue near 80 while the incident lasts
            t += rng.expovariate(24 / 900)
            work.append((t, rng.uniform(600, 1200)))
        return work
    return build


_FAIR_USE_RESTRICTED: Final = FairUseConfig(start_stage="throttle", start_violations=2)
_AN_HOUR_LATER: Final = "A later backend that says when to come back: "

SCENARIOS: Final = {
    s.name: s
    for s in (
        Scenario(
            name="fair_use_backlog",
            summary=("A multi-day offline backlog (1,000 one-minute WALs, about 10 h of speech) "
                     "pushed past the fair-use cap by an account already at stage throttle: "
                     "speech is metered after processing, so the third violation restricts the "
                     "account only once the backlog is in, and every upload after that (new "
                     "captures, retries) gets 429 without Retry-After for the rest of the 48 h."),
            hours=48.0, wals=1000,
            backend=BackendConfig(fair_use=_FAIR_USE_RESTRICTED),
        ),
        Scenario(
            name="backend_saturation",
            summary=("The postprocess pool runs 24/24 busy with about 80 queued for 8 hours: "
                     "accepted jobs sit queued until the 10-minute stale guard fails them; the "
                     "user keeps the app open and taps Retry on rows that show the pill."),
            hours=12.0, wals=30, background=_saturation(0.0, 8.0),
            app_sessions_per_day=12.0, session_minutes=25.0, retry_taps_per_session=2.0,
        ),
        Scenario(
            name="fair_use_retry_after",
            summary=(_AN_HOUR_LATER + "an account already restricted pushes a backlog of about "
                     "3 h of speech past the 2 h daily cap, and every 429 after that carries "
                     "Retry-After: 3600 (delta-seconds)."),
            hours=12.0, wals=300,
            backend=BackendConfig(fair_use=FairUseConfig(start_stage="restrict",
                                                         retry_after="3600")),
        ),
        Scenario(
            name="fair_use_retry_after_date",
            summary=(_AN_HOUR_LATER + "the same restricted account, but every 429 carries "
                     "Retry-After as an HTTP-date one hour ahead (RFC 9110), which the app "
                     "itself could not read."),
            hours=12.0, wals=300,
            backend=BackendConfig(fair_use=FairUseConfig(start_stage="restrict",
                                                         retry_after_date_in=3600.0)),
        ),
        Scenario(
            name="flaky_network",
            summary=("A healthy backend behind a bad connection: 20% of requests fail to "
                     "connect and 5% lose their answer after the server applied them."),
            hours=12.0, wals=60, network_failure_rate=0.20, lost_answer_rate=0.05,
        ),
        Scenario(
            name="content_failures",
            summary=("A healthy backend and some broken files: 5% fail to decode (failed, 0 "
                     "segments) and 5% fail every segment (failed, segments counted)."),
            hours=12.0, wals=100, decode_broken_fraction=0.05, segment_broken_fraction=0.05,
        ),
        Scenario(
            name="mixed",
            summary=("Fair-use restriction, 3 hours of saturation, a flaky network and some "
                     "broken files at once."),
            hours=48.0, wals=300, backend=BackendConfig(fair_use=_FAIR_USE_RESTRICTED),
            background=_saturation(6.0, 9.0), network_failure_rate=0.05,
            lost_answer_rate=0.01, decode_broken_fraction=0.02, segment_broken_fraction=0.02,
        ),
    )
}


def scenario_named(name: str) -> Scenario:
    """Look a scenario up; ValueError lists the valid names."""
    try:
        return SCENARIOS[name]
    except KeyError:
        raise ValueError(f"unknown scenario {name!r}; choose one of {sorted(SCENARIOS)}") from None
