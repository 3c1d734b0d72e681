"""The three upload paths (batch sync, a row's Retry, capture auto-sync) and what stops them:
the gate, the offline backoff, a cancel; each upload claimed, sent outside the lock, answered."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from datetime import datetime

from walsync.adapters.engine.base import ABANDONED, REDECIDE_ATTEMPTS, EngineBase, redecides
from walsync.adapters.ports import OpenedRecording
from walsync.adapters.recordings.files import upload_file_for
from walsync.core import decide_upload as upload_rules
from walsync.core.errors import ConcurrencyConflict
from walsync.core.events import (
    Event,
    SyncRunFinished,
    SyncRunStarted,
    UploadCancelled,
    UploadOutcomeUnknown,
    UploadPath,
    WalEvent,
)
from walsync.core.reports import RunReport
from walsync.core.responses import UploadError, UploadJobAccepted, UploadProcessed, UploadThrottled
from walsync.core.states import MISS, UPLOADING
from walsync.core.wal import Wal

__all__ = ["UploadCommands"]


def _close(recordings: Iterable[OpenedRecording | None]) -> None:
    """Close the streams of opened recordings (None: nothing was opened)."""
    for recording in recordings:
        if recording is not None:
            recording.stream.close()


class UploadCommands(EngineBase):
    """The engine's upload commands."""

    def upload_candidates(self) -> list[Wal]:
        """The recordings batch sync takes (the policy's choice), the gate and the policy's
        backoff after unknown outcomes aside: a service schedules each at its due moment."""
        with self._lock:
            if self._cancel_hold:
                return []
            budget = self.policy.retry_budget if self.policy.batch_respects_budget else None
            return upload_rules.batch_candidates(list(self.store.projection.wals.values()),
                                                 budget, held=self._held())

    def cancel(self) -> bool:
        """The card's Cancel, from any thread: the batch sync running now sends no further
        batch (the one out gets its answer recorded: an uploaded recording is never reverted);
        each recording it has not sent is recorded `UploadCancelled` and stays waiting, its
        budget untouched. Automatic uploads (a service's) are held until `resume_uploads()`
        (a service's nudge) or the user's next `sync_all()`. True when a batch was running."""
        self._cancel_hold = True
        if not self._batch_running:
            return False
        self._cancel.set()
        return True

    def resume_uploads(self) -> None:
        """End the hold a cancel put on automatic uploads."""
        self._cancel_hold = False

    @redecides
    def sync_all(self, only: Collection[str] | None = None) -> RunReport:
        """Batch sync (syncAll): every `miss` WAL, in batches of 3 from the end of the list;
        with `only`, just those of them (a service sending what is due)."""
        now = self._observe_gate()
        self._settle_abandoned(now)
        if only is None:  # the user's Sync: a cancel's hold ends
            self._cancel_hold = False
        budget = self.policy.retry_budget if self.policy.batch_respects_budget else None
        candidates = [w for w in upload_rules.batch_candidates(
            list(self.store.projection.wals.values()), budget, now=now, policy=self.policy,
            held=self._held())
            if only is None or w.wal_id in only]
        report = RunReport(path="batch", wal_ids=[w.wal_id for w in candidates])
        if not candidates:
            return report
        if self._out_of_time():
            report.out_of_time = True
            return report
        if self._gated("batch", candidates, report, every_waiting=only is None):
            return report
        if self._offline(now, report):
            return report
        run_id = self._new_id()
        self._record([SyncRunStarted(at=now, run_id=run_id, path="batch",
                                     wal_ids=tuple(report.wal_ids))])
        self._cancel.clear()
        self._batch_running = True
        try:
            return self._batches(candidates, run_id, report)
        finally:
            self._batch_running = False
            self._cancel.clear()

    def _batches(self, candidates: list[Wal], run_id: str, report: RunReport) -> RunReport:
        """Batch sync's batches, a cancel checked before each (as the app checks its flag)."""
        batches_ok = batches_failed = 0
        stopped = cancelled = False
        sent: set[str] = set()
        for batch in upload_rules.split_batches(candidates, self.policy.batch_size,
                                                isolate=self.policy.isolate_shared_failures):
            if self._cancel.is_set():
                cancelled = True
                self._record([UploadCancelled(at=self.clock.now(), wal_id=w.wal_id,
                                              path="batch", run_id=run_id)
                              for w in self._still_waiting(candidates) if w.wal_id not in sent])
                break
            # Another thread's command may have taken one meanwhile (its request ran outside
            # the lock while this one's did): only those still waiting go.
            fresh = [w for w in (self.store.projection.wal(b.wal_id) for b in batch)
                     if w is not None and w.status == MISS]
            if not fresh:
                continue
            sent.update(w.wal_id for w in fresh)
            answer = self._upload(fresh, "batch", report)
            if isinstance(answer, UploadProcessed | UploadJobAccepted):
                batches_ok += 1
            elif answer is not None:
                batches_failed += 1
            if isinstance(answer, UploadThrottled) and self.policy.break_batch_on_rate_limit:
                stopped = True
                break
            if (isinstance(answer, UploadError) and answer.kind == "network"
                    and self.policy.offline_backoff_seconds):
                break  # the backend is unreachable: the rest wait for the backoff (_offline)
            if self._gate().reason == "auth" and self._gate().limited:
                break  # the credentials were refused: the next batches would be too
            if report.out_of_time:
                break
        self._record([SyncRunFinished(
            at=self.clock.now(), run_id=run_id, path="batch", batches_uploaded=batches_ok,
            batches_failed=batches_failed, corrupted=report.corrupted,
            stopped_by_rate_limit=stopped, out_of_time=report.out_of_time,
            cancelled=cancelled)])
        return report

    def _still_waiting(self, wals: Sequence[Wal]) -> list[Wal]:
        """Those of `wals` still waiting (`miss`) now."""
        fresh = (self.store.projection.wal(w.wal_id) for w in wals)
        return [w for w in fresh if w is not None and w.status == MISS]

    @redecides
    def sync_wal(self, wal_id: str) -> RunReport:
        """Single upload (the row's Retry pill): ungated under seed, refused with reason under walsync."""
        return self._single_path(wal_id, "single", None)

    @redecides
    def auto_sync(self, wal_id: str, conversation_id: str | None = None) -> RunReport:
        """Capture auto-sync of one WAL with its conversation id (gated; spends budget on errors)."""
        return self._single_path(wal_id, "auto", conversation_id)

    def recover_orphans(self) -> list[RunReport]:
        """Orphan recovery: auto-sync every `miss` recording on phone storage with a conversation
        id and budget left (one on the device's SD card or flash is copied to the phone first),
        and, under a policy that backs off after unknown outcomes, not backing off."""
        with self._lock:
            orphans = upload_rules.orphan_candidates(list(self.store.projection.wals.values()),
                                                     self.policy.retry_budget,
                                                     now=self.clock.now(), policy=self.policy,
                                                     held=self._held())
            return [self.auto_sync(wal.wal_id) for wal in orphans]

    def abort_requests(self, detail: str = ABANDONED) -> None:
        """Cut short the requests this engine has out, from any thread, when its backend can
        (the HTTP client can): each comes back lost, so an upload is recorded as of unknown
        outcome by its own command, with `detail`."""
        abort = getattr(self.backend, "abort", None)
        if callable(abort):
            abort(detail)

    def abandon(self, detail: str = ABANDONED) -> list[str]:
        """Settle the uploads this engine has out as of unknown outcome (a service stopping
        before their answers came): recorded, no budget spent, the same key reused by a retry
        (C5); an answer arriving later is recorded as ignored. The recordings settled."""
        with self._lock:
            events: list[Event] = [
                UploadOutcomeUnknown(at=self.clock.now(), wal_id=wal.wal_id,
                                     attempt_id=wal.attempt_id or "", detail=detail)
                for wal in self.store.projection.wals.values()
                if wal.status == UPLOADING and wal.attempt_id in self._out]
            self._record(events)
            return [e.wal_id for e in events if isinstance(e, WalEvent)]

    def _gated(self, path: UploadPath, wals: Sequence[Wal], report: RunReport, *,
               every_waiting: bool = False) -> bool:
        """Apply the entry point's gate check; when it is closed, record the pass as held (one
        event, however many recordings it held)."""
        now = self.clock.now()
        if not upload_rules.gate_closed_for(path, self._gate(), self._gate_now(now), self.policy):
            return False
        self._record([upload_rules.held(wals, path, self._gate(), now,
                                        every_waiting=every_waiting)])
        report.skipped = len(wals)
        report.skipped_reason = self._gate().reason
        return True

    def _offline(self, now: datetime, report: RunReport) -> bool:
        """Automatic uploads wait while the policy's backoff after the backend was found
        unreachable lasts: nothing is sent and nothing written (the failure that started it is
        in the log, which is all a replay needs to come to the same wait)."""
        until = upload_rules.offline_until(self.store.projection.wals.values(), self.policy)
        if until is None or now >= until:
            return False
        report.skipped, report.skipped_reason = len(report.wal_ids), "offline"
        return True

    def _single_path(self, wal_id: str, path: UploadPath,
                     conversation_id: str | None) -> RunReport:
        now = self._observe_gate()
        self._settle_abandoned(now)
        wal = self._wal(wal_id)
        report = RunReport(path=path, wal_ids=[wal_id])
        if wal.status == UPLOADING:  # another uploader holds it now: not an error, a race
            report.skipped, report.skipped_reason = 1, "in_flight"
            return report
        upload_rules.guard(wal, "start_upload")
        if path == "auto":
            skipped = upload_rules.auto_sync_skip(wal, self.settings.auto_sync_blocker(),
                                                  self.clock.now())
            if skipped is not None:  # before the file and gate checks, as the app returns at once
                self._record([skipped])
                report.skipped, report.skipped_reason = 1, skipped.setting
                return report
        if self._gated(path, [wal], report):
            return report
        if path != "single" and self._offline(now, report):  # a manual Retry goes out
            return report
        if path == "auto":
            return self._auto_upload(wal, report, conversation_id or wal.conversation_id)
        run_id = self._new_id()
        self._record([SyncRunStarted(at=self.clock.now(), run_id=run_id, path=path,
                                     wal_ids=(wal_id,))])
        answer = self._upload([wal], path, report,
                              conversation_id=conversation_id or wal.conversation_id)
        ok = isinstance(answer, UploadProcessed | UploadJobAccepted)
        self._record([SyncRunFinished(
            at=self.clock.now(), run_id=run_id, path=path, batches_uploaded=int(ok),
            batches_failed=int(answer is not None and not ok), corrupted=report.corrupted,
            stopped_by_rate_limit=isinstance(answer, UploadThrottled),
            out_of_time=report.out_of_time)])
        return report

    def _auto_upload(self, wal: Wal, report: RunReport, conversation_id: str | None) -> RunReport:
        """Capture auto-sync's upload of one recording, with no run around it (issue 17): the
        app's `_syncSingleWal` has none (`local_upload_started` / `_finished` are the batch
        sync's), and the run's two rows said nothing the recording's own rows do not
        (`UploadStarted` names the path, its answer the outcome): two rows and a commit less
        per recording. Only when the send deadline stopped it before the request, which no
        row of the recording's says, is a finished run recorded (`out_of_time`), in one
        commit."""
        self._upload([wal], "auto", report, conversation_id=conversation_id)
        if report.out_of_time:
            now, run_id = self.clock.now(), self._new_id()
            self._record([SyncRunStarted(at=now, run_id=run_id, path="auto",
                                         wal_ids=(wal.wal_id,)),
                          SyncRunFinished(at=now, run_id=run_id, path="auto", out_of_time=True)])
        return report

    def _upload(self, wals: Sequence[Wal], path: UploadPath, report: RunReport,
                conversation_id: str | None = None) -> object | None:
        """Corrupted checks, pick-up, the request, its answer. None when nothing was sent."""
        if self._out_of_time():
            report.out_of_time = True
            return None
        claimed = self._claim([w.wal_id for w in wals], path, report, conversation_id)
        if claimed is None:
            return None
        ready, attempt_id, opened = claimed
        files = [upload_file_for(w, opened[w.wal_id].stream) for w in ready]
        self._local.sent = True
        self._out.add(attempt_id)
        try:
            with self._lock.released():
                answer = self.backend.upload(files, conversation_id=conversation_id,
                                             idempotency_key=attempt_id)
        finally:
            self._out.discard(attempt_id)
            _close(opened.values())
        self._record_answer(lambda: upload_rules.upload_outcome(
            [self._wal(w.wal_id) for w in ready], answer, path=path, attempt_id=attempt_id,
            gate=self._gate(), now=self.clock.now(), policy=self.policy))
        if isinstance(answer, UploadProcessed):
            report.synced += len(ready)
        elif isinstance(answer, UploadJobAccepted):
            report.uploaded += len(ready)
            report.poke_reconciler = True
        elif isinstance(answer, UploadThrottled):
            report.rate_limited = True
            report.failed += len(ready)
        else:
            report.failed += len(ready)
            report.error = getattr(answer, "message", None) or getattr(answer, "detail", None)
        return answer

    def _claim(self, wal_ids: Sequence[str], path: UploadPath, report: RunReport,
               conversation_id: str | None
               ) -> tuple[list[Wal], str, dict[str, OpenedRecording]] | None:
        """Open the recordings of `wal_ids` still `miss`, record the corrupted checks and
        `UploadStarted` (the claim) for them. A file that changed during its last upload and is
        still being written waits. Another process may claim some first (a conflict): the store
        has caught up, so decide again without them; None when none is left. The caller closes
        the recordings returned; the others are closed here."""
        for _ in range(REDECIDE_ATTEMPTS):
            wals = [w for w in map(self.store.projection.wal, wal_ids)
                    if w is not None and w.status == MISS]
            if not wals:
                return None
            now = self.clock.now()
            opened = {w.wal_id: self.files.open_recording(w) for w in wals}
            keep: dict[str, OpenedRecording] = {}
            try:
                for w in wals:
                    found = opened[w.wal_id]
                    if found is not None and not upload_rules.settling(w, found.modified_at, now):
                        keep[w.wal_id] = found
                missing = upload_rules.missing_files(
                    wals, {k: v is not None for k, v in opened.items()}, now)
                if missing:
                    self._record(missing)
                    report.corrupted += len(missing)
                ready = [self._wal(w.wal_id) for w in wals if w.wal_id in keep]
                if ready:
                    attempt_id = upload_rules.reusable_key(ready, self.policy) or self._new_id()
                    self._record(upload_rules.start_upload(
                        ready, path=path, attempt_id=attempt_id, now=now,
                        conversation_id=conversation_id, claim_until=self._claim_until(now)))
            except ConcurrencyConflict:
                _close(opened.values())
                continue
            except BaseException:
                _close(opened.values())
                raise
            _close(o for k, o in opened.items() if k not in keep or not ready)
            return (ready, attempt_id, keep) if ready else None
        return None  # others kept getting there first: they are uploading these
