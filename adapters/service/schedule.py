"""When each of a service's actions is next due, read from the log's projections alone.

* The gate: a tick at the pause's deadline (as the engine counts it down) and, under a policy
  that resumes with jitter, at the recorded resume point.
* Uploads: a recording batch sync would take is due at once (a new one, or one a job sent
  back); after uploads of it answered with an error, 30 s after the last one, doubling per
  error in a row (`failed_delay`); after an unknown outcome, when the policy's backoff ends
  (`unknown_backoff_until`: 60 s doubling under walsync); never while the gate is closed or a
  resume is pending, nor while the policy's backoff after the backend was found unreachable
  lasts (`offline_until`).
* Polls: each job on the reconciler's backoff (`RECONCILE_BACKOFF_SECONDS`) counted from its
  acceptance, 20, 40, 70, 115, 175 and 295 s after the 202, then every 120 s; the service
  remembers which of those points it has polled at, and after a restart polls once at once.

Nothing here reads a clock or writes: `plan` is given the moment and the pause left.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Final

from attrs import frozen

from walsync.core.decide_reconcile import RECONCILE_BACKOFF_SECONDS, group_by_job
from walsync.core.decide_upload import offline_until, unknown_backoff_until
from walsync.core.gate import Gate
from walsync.core.policy import Policy
from walsync.core.wal import Wal

__all__ = ["FAILED_BACKOFF_MAX_SECONDS", "FAILED_BACKOFF_SECONDS", "Plan", "failed_delay", "plan",
           "poll_points", "upload_due"]

FAILED_BACKOFF_SECONDS: Final = 30
FAILED_BACKOFF_MAX_SECONDS: Final = 3600


def failed_delay(failed_streak: int) -> float:
    """Seconds to wait after the last of `failed_streak` uploads answered with an error in a
    row (0 for none)."""
    if failed_streak <= 0:
        return 0.0
    return float(min(FAILED_BACKOFF_SECONDS * 2 ** min(failed_streak - 1, 16),
                     FAILED_BACKOFF_MAX_SECONDS))


def upload_due(wal: Wal, opens_at: datetime, policy: Policy) -> datetime:
    """When an automatic upload of `wal` is due: not before the gate opens, the error backoff
    and the policy's backoff after unknown outcomes."""
    due = opens_at
    if wal.failed_streak and wal.last_failed_at is not None:
        due = max(due, wal.last_failed_at + timedelta(seconds=failed_delay(wal.failed_streak)))
    unknown = unknown_backoff_until(wal, policy.unknown_outcome_backoff_seconds,
                                    policy.unknown_outcome_backoff_max_seconds)
    return max(due, unknown) if unknown is not None else due


def poll_points(accepted_at: datetime) -> Iterator[datetime]:
    """The moments a job is polled at: the reconciler's backoff counted from its acceptance."""
    moment = accepted_at
    for delay in itertools.chain(RECONCILE_BACKOFF_SECONDS,
                                 itertools.repeat(RECONCILE_BACKOFF_SECONDS[-1])):
        moment += timedelta(seconds=delay)
        yield moment


def _next_poll(accepted_at: datetime, polled: datetime | None) -> datetime:
    """The first poll point after the last poll this service made (the first one if none)."""
    after = polled if polled is not None else accepted_at
    for moment in poll_points(accepted_at):
        if moment > after:
            return moment
    raise AssertionError("unreachable: the points never end")


@frozen
class Plan:
    """Every action's due moment, as of `now`."""

    now: datetime
    tick_at: datetime | None
    uploads: Mapping[str, datetime]
    polls: Mapping[str, datetime]

    def uploads_due(self) -> list[str]:
        """Recordings whose upload is due now."""
        return [wal_id for wal_id, due in self.uploads.items() if due <= self.now]

    def polls_due(self) -> list[str]:
        """Jobs whose poll is due now."""
        return [job_id for job_id, due in self.polls.items() if due <= self.now]

    def tick_due(self) -> bool:
        """The gate has an expiry or a resume to record now."""
        return self.tick_at is not None and self.tick_at <= self.now

    def next_at(self) -> datetime | None:
        """The earliest due moment (now or past when something is due), None when idle."""
        moments = [m for m in (self.tick_at, *self.uploads.values(), *self.polls.values())
                   if m is not None]
        return min(moments) if moments else None

    def seconds_to_next(self) -> float | None:
        """How long a service may sleep before the next action (0: act now; None: until woken)."""
        moment = self.next_at()
        return None if moment is None else max(0.0, (moment - self.now).total_seconds())


def plan(*, now: datetime, gate: Gate, pause_left: float, candidates: Sequence[Wal],
         wals: Iterable[Wal], polled: Mapping[str, datetime], policy: Policy) -> Plan:
    """The plan as of `now`. `pause_left` is the gate's time left as the engine counts it down
    (its deadline read on the clock's monotonic time); `candidates` the recordings batch sync
    takes, backoffs aside; `polled` when this service last polled each job."""
    tick_at: datetime | None = None
    if pause_left > 0:
        opens_at = tick_at = now + timedelta(seconds=pause_left)
    elif gate.limited:  # past its deadline, its expiry not recorded yet
        opens_at = tick_at = now
    elif gate.resume_at is not None:  # expired; the jittered resume is pending
        opens_at = tick_at = gate.resume_at
    else:
        opens_at = now
    wals = list(wals)
    offline = offline_until(wals, policy)  # the backend unreachable: every upload waits
    if offline is not None:
        opens_at = max(opens_at, offline)
    uploads = {wal.wal_id: upload_due(wal, opens_at, policy) for wal in candidates}
    polls: dict[str, datetime] = {}
    for job_id, members in group_by_job(wals).items():
        accepted = min((w.uploaded_at for w in members if w.uploaded_at is not None),
                       default=now)
        polls[job_id] = _next_poll(accepted, polled.get(job_id))
    return Plan(now=now, tick_at=tick_at, uploads=uploads, polls=polls)
