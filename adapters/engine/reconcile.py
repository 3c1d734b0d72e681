"""The reconciler: ask the backend how uploaded recordings' jobs are doing, in slices, and
record what an answer calls for (polls of a job not yet done are counted into a streak that
rides on the job's end, not recorded one by one)."""

from __future__ import annotations

import functools
from collections.abc import Collection, Sequence
from concurrent.futures import ThreadPoolExecutor

from walsync.adapters.engine.base import LOG, EngineBase, redecides
from walsync.core import decide_reconcile as reconcile_rules
from walsync.core.decide_reconcile import PollStreak
from walsync.core.errors import WalsyncError
from walsync.core.events import BatchJobCompleted, Event
from walsync.core.reports import ReconcileReport
from walsync.core.responses import JobStatus, JobStatusResult, JobVanished
from walsync.core.wal import Wal

__all__ = ["ReconcileCommands"]


class ReconcileCommands(EngineBase):
    """The engine's reconcile pass."""

    @redecides
    def reconcile(self, jobs: Collection[str] | None = None) -> ReconcileReport:
        """One reconciler pass over every `uploaded` WAL's job (never gated), or with `jobs` over
        just those (a service polling what is due): the jobs asked in slices of the policy's
        `poll_concurrency` at once, each slice's answers recorded in job-id order."""
        self._settle_abandoned(self._observe_gate())
        report = ReconcileReport()
        groups = {job_id: members for job_id, members in reconcile_rules.group_by_job(
            list(self.store.projection.wals.values())).items() if jobs is None or job_id in jobs}
        for job_ids in reconcile_rules.poll_slices(groups, self.policy.poll_concurrency):
            if self._out_of_time():
                report.out_of_time = True
                break
            self._local.sent = True
            with self._lock.released():  # another thread's command may run meanwhile
                answers = self._ask(job_ids)
            report.jobs_polled += len(job_ids)
            for job_id, answer in zip(job_ids, answers, strict=True):
                self._record_job_answer(job_id, groups[job_id], answer, report)
        self._schedule(report)
        return report

    def _schedule(self, report: ReconcileReport) -> None:
        """The reconciler's backoff: quiet when nothing is uploaded; streak resets on results."""
        if not any(w.status == "uploaded" for w in self.store.projection.wals.values()):
            self._idle_streak = 0
            report.next_poll_seconds = None
            return
        if report.conversations:
            self._idle_streak = 0
        report.next_poll_seconds = reconcile_rules.next_poll_delay(self._idle_streak)
        self._idle_streak += 1

    def _ask(self, job_ids: Sequence[str]) -> list[JobStatusResult]:
        """The job statuses of one slice, asked at once (or in order, see `concurrent_polls`)."""
        if len(job_ids) == 1 or not self._concurrent_polls:
            return [self.backend.job_status(job_id) for job_id in job_ids]
        with ThreadPoolExecutor(max_workers=len(job_ids), thread_name_prefix="walsync-poll") as pool:
            return list(pool.map(self.backend.job_status, job_ids))

    def _record_job_answer(self, job_id: str, members: Sequence[Wal], answer: JobStatusResult,
                           report: ReconcileReport) -> None:
        """Record one job's answer (with the streak of polls it ends), or count a poll of a job
        not yet done into the job's streak, and add what happened to the pass's report."""
        # Only a vanished job asks whether the files are still there: no file reads per poll.
        exists = {w.wal_id: self.files.exists(w) for w in members} if isinstance(
            answer, JobVanished) else {}
        events = self._record_answer(functools.partial(
            self._job_events, [w.wal_id for w in members], job_id, answer, exists))
        if events:
            self._streaks.pop(job_id, None)
        elif isinstance(answer, JobStatus):  # not done yet: counted, recorded with its end
            self._streaks[job_id] = PollStreak.extended(self._streaks.get(job_id), answer,
                                                        self.clock.now())
        for event in events:
            kind = type(event).__name__
            report.completed += (kind == "JobCompleted") + (
                len(event.wal_ids) if isinstance(event, BatchJobCompleted) else 0)
            report.reverted += kind in ("JobFailed", "JobNotFound")
            report.corrupted += kind == "WalCorrupted"
            report.add_conversations(getattr(event, "new_conversations", ()) + getattr(
                event, "updated_conversations", ()))

    def _job_events(self, wal_ids: Sequence[str], job_id: str, answer: JobStatusResult,
                    exists: dict[str, bool]) -> list[Event]:
        """What the answer calls for, with the polls before it."""
        members, now = [self._wal(w) for w in wal_ids], self.clock.now()
        outcome = reconcile_rules.job_outcome(members, job_id, answer, gate=self._gate(), now=now,
                                              policy=self.policy, file_exists=exists)
        return reconcile_rules.with_polls(outcome, members, job_id, self._streaks.get(job_id), now)

    def _record_open_streaks(self) -> None:
        """The polls of jobs still waiting, recorded before the engine closes (a crash loses
        their count; no decision reads it). A log that cannot take them is reported, not raised."""
        streaks, self._streaks = self._streaks, {}
        if not streaks:
            return

        def summaries() -> list[Event]:
            wals, now = list(self.store.projection.wals.values()), self.clock.now()
            return [event for job_id, streak in sorted(streaks.items())
                    for event in reconcile_rules.repeated_polls(
                        [w for w in wals if w.job_id == job_id], job_id, streak, now)]

        try:
            self._record_answer(summaries)
        except WalsyncError as error:
            LOG.warning("closing without recording the polls of %d job(s): %s",
                         len(streaks), error)
