"""What a simulation run measured: the server's counters and the log's own account."""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Any

from attrs import asdict, frozen

from walsync.adapters.engine import Engine
from walsync.adapters.sim.backend import SimBackend
from walsync.core.policy import Policy
from walsync.core.serde import parse_time

__all__ = ["SimResult", "collect_result"]

_BUMP_CAUSES = {"UploadFailed": "upload_error", "JobFailed": "job_failed",
                "JobNotFound": "job_not_found"}


@frozen(kw_only=True)
class SimResult:
    """The figures `walsync simulate --json` prints."""

    scenario: str
    policy: str
    seed: int
    virtual_hours: float
    wals_total: int
    wals_synced: int
    wals_failed: int
    wals_shown_failed: int
    wals_stalled: int
    wals_corrupted: int
    upload_requests: int
    responses_429: int
    responses_202: int
    status_polls: int
    stale_guard_failures: int
    duplicate_uploads: int
    retry_bumps: dict[str, int]
    cooldowns: dict[str, int]
    skipped_uploads: int
    drained_at: float | None
    events_logged: int
    head_hash: str
    wall_seconds: float

    def to_json(self) -> dict[str, Any]:
        """As JSON-ready data."""
        return asdict(self)


def _bump_cause(row_type: str, data: dict[str, Any]) -> str:
    if row_type == "UploadFailed":
        return "throttled" if data.get("kind") == "rate_limited" else "upload_error"
    if row_type == "JobFailed":
        return f"job_failed_{data.get('classification')}"
    return _BUMP_CAUSES.get(row_type, row_type)


def collect_result(engine: Engine, model: SimBackend, *, scenario: str, policy: Policy,
                   seed: int, horizon: float, start: datetime, wall_seconds: float) -> SimResult:
    """Count from the log (bumps, cooldowns, drain time) and the model (requests, answers)."""
    bumps: Counter[str] = Counter()
    cooldowns: Counter[str] = Counter()
    skipped = 0
    shown_failed: set[str] = set()
    for row in engine.store.read():
        if row.type == "CooldownStarted":
            cooldowns[str(row.fields["requested_reason"])] += 1
        elif row.type == "UploadSkipped":  # one per recording, in logs before UploadsHeld
            skipped += 1
        elif row.type == "UploadsHeld":
            skipped += int(row.fields["count"])
        elif row.type in _BUMP_CAUSES and (fields := row.fields).get("retry_count_bumped"):
            bumps[_bump_cause(row.type, fields)] += 1
            if int(fields.get("retry_count", 0)) >= policy.retry_budget:
                shown_failed.add(row.stream)
    rows = engine.rows()
    displays = Counter(r.display for r in rows)
    synced = displays["synced"]
    drained_at = None
    if synced == len(rows):
        last = max(parse_time(r.updated_at) for r in rows)
        drained_at = round((last - start).total_seconds(), 3)
    head_seq, head_hash = engine.store.head()
    return SimResult(
        scenario=scenario, policy=policy.name, seed=seed,
        virtual_hours=round(horizon / 3600, 3), wals_total=len(rows), wals_synced=synced,
        wals_failed=displays["failed"], wals_shown_failed=len(shown_failed),
        wals_corrupted=displays["corrupted"],
        wals_stalled=len(rows) - synced - displays["failed"] - displays["corrupted"],
        upload_requests=model.counters["upload_requests"],
        responses_429=model.counters["responses_429"],
        responses_202=model.counters["responses_202"],
        status_polls=model.counters["status_polls"],
        stale_guard_failures=model.counters["stale_guard_failures"],
        duplicate_uploads=model.counters["duplicate_keys"],
        retry_bumps=dict(sorted(bumps.items())), cooldowns=dict(sorted(cooldowns.items())),
        skipped_uploads=skipped, drained_at=drained_at, events_logged=head_seq,
        head_hash=head_hash, wall_seconds=round(wall_seconds, 3),
    )
