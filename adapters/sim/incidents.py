"""The incident table: both incidents under every registered policy, rendered as docs/incidents.md."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Final

from walsync.adapters.sim.metrics import SimResult
from walsync.adapters.sim.run import run_simulation
from walsync.adapters.sim.scenarios import scenario_named
from walsync.core.policies import LEGACY, REGISTERED, SEED, WALSYNC

__all__ = ["INCIDENTS", "incidents_markdown", "run_incidents"]

INCIDENTS: Final = ("fair_use_backlog", "backend_saturation")
FIELD_FIGURE_429: Final = 474
_ROWS: Final = (
    ("responses_429", "HTTP 429 answers"),
    ("upload_requests", "upload requests"),
    ("responses_202", "202 answers (jobs created)"),
    ("stale_guard_failures", "jobs failed by the stale guard"),
    ("retry_bumps", "retry-count bumps, by cause"),
    ("cooldowns", "cooldowns started, by reason"),
    ("wals_shown_failed", "recordings ever shown \"Failed — tap Retry\""),
    ("wals_failed", "recordings shown failed at the end"),
    ("wals_synced", "recordings synced at the end"),
    ("wals_stalled", "recordings still waiting at the end"),
    ("status_polls", "status polls"),
    ("events_logged", "events in the log"),
)

Results = dict[str, dict[str, SimResult]]


def run_incidents(seed: int, *, folder: str | Path | None = None,
                  progress: Callable[[str], None] | None = None) -> Results:
    """Run both incidents under every policy with one seed; logs go to `folder` (or a temp dir)."""
    target = Path(folder or tempfile.mkdtemp(prefix="walsync-incidents-"))
    results: Results = {}
    for name in INCIDENTS:
        results[name] = {}
        for policy in REGISTERED:
            if progress is not None:
                progress(f"{name} / {policy.name}")
            results[name][policy.name] = run_simulation(
                scenario_named(name), policy, seed, target / f"{name}-{policy.name}.db")
    return results


def _cell(value: object) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k} {v}" for k, v in value.items()) or "none"
    return str(value)


def incidents_markdown(results: Results, seed: int, command: str) -> str:
    """The page, with every figure taken from `results`."""
    lines = ["# The two incidents, replayed", "",
             f"Produced by `{command}` (seed {seed}); every figure below comes from that run.",
             "Scenarios are described in `docs/scenarios.md`; the figures are counted by the",
             "simulated backend (requests, answers) and from each run's log (bumps, cooldowns,",
             "rows). The tests in `tests/sim/test_incident_claims.py` check the claims below on",
             "a fresh run, as ratios and zero counts, not as fixed numbers.", ""]
    for name, by_policy in results.items():
        scenario = scenario_named(name)
        lines += [f"## {name}", "", scenario.summary, "",
                  "| figure | " + " | ".join(by_policy) + " |",
                  "|---|" + "---:|" * len(by_policy)]
        for key, label in _ROWS:
            cells = [_cell(getattr(result, key)) for result in by_policy.values()]
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
        lines.append("")
        lines += _claims(name, by_policy)
    return "\n".join(lines) + "\n"


def _claims(name: str, r: dict[str, SimResult]) -> list[str]:
    """What the table shows about the three policies the incidents are told with."""
    legacy, seed, walsync = r[LEGACY.name], r[SEED.name], r[WALSYNC.name]
    if name == "fair_use_backlog":
        return [
            f"* legacy: {legacy.responses_429} answers with 429 in {legacy.virtual_hours:g} h "
            f"(the field figure: {FIELD_FIGURE_429} in 48 h for one user).",
            f"* seed cuts them {legacy.responses_429 / max(seed.responses_429, 1):.0f}x and "
            f"walsync {legacy.responses_429 / max(walsync.responses_429, 1):.0f}x; neither "
            "bumps a retry count for throttling, and no recording is shown failed.",
            f"* walsync beats seed: each 429 in a row without Retry-After doubles the pause "
            f"(up to 4 h), so it probes {walsync.responses_429} times instead of "
            f"{seed.responses_429}.", ""]
    return [
        f"* legacy drives {legacy.wals_shown_failed} recordings to \"Failed\" "
        f"({_cell(legacy.retry_bumps)} bumps from stale-guard failures); seed and walsync "
        f"drive {seed.wals_shown_failed} and {walsync.wals_shown_failed}.",
        f"* walsync beats seed: a manual Retry during the 10-minute pause is refused with the "
        f"reason (under seed it is sent, and its 202 even lifts the pause), so walsync sends "
        f"{walsync.upload_requests} uploads instead of {seed.upload_requests}, and "
        f"{walsync.stale_guard_failures} jobs are failed by the stale guard instead of "
        f"{seed.stale_guard_failures}.", ""]
