"""Pure decisions of the three upload paths: gate check, pick-up, and the answer's events."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Final

from walsync.core.errors import IllegalTransition
from walsync.core.events import (
    AnswerIgnored,
    AutoSyncSetting,
    AutoSyncSkipped,
    Event,
    FailureKind,
    UploadAccepted,
    UploadFailed,
    UploadOutcomeUnknown,
    UploadPath,
    UploadRateLimited,
    UploadsHeld,
    UploadStarted,
    UploadSynced,
    WalCorrupted,
)
from walsync.core.gate import Gate, clear, mark
from walsync.core.machine import allowed_dest
from walsync.core.policy import Policy
from walsync.core.responses import (
    UploadAnswer,
    UploadError,
    UploadJobAccepted,
    UploadLost,
    UploadProcessed,
    UploadThrottled,
    UploadUnusable,
)
from walsync.core.retry_after import parse_retry_after
from walsync.core.states import MISS, UPLOADING
from walsync.core.wal import Wal

__all__ = [
    "FILE_SETTLE_SECONDS",
    "LEGACY_RATE_LIMIT_MESSAGE",
    "abandoned",
    "auto_sync_skip",
    "backing_off",
    "batch_candidates",
    "gate_closed_for",
    "guard",
    "held",
    "held_for",
    "missing_files",
    "offline_until",
    "orphan_candidates",
    "refused_credentials",
    "reusable_key",
    "settle_abandoned",
    "settling",
    "split_batches",
    "start_upload",
    "unknown_backoff_until",
    "upload_outcome",
]

# The app before #7451 threw a generic exception on a 429 (the PR's description quotes it).
LEGACY_RATE_LIMIT_MESSAGE = "Rate limited or budget exhausted"
_PHONE_STORAGE = frozenset({"disk", "mem"})


def guard(wal: Wal, trigger: str) -> None:
    """The live-path guard: ask the shared Machine; refuse with a typed error."""
    if allowed_dest(wal.status, trigger) is None:
        raise IllegalTransition(wal.wal_id, wal.status, trigger)


def gate_closed_for(path: UploadPath, gate: Gate, now: datetime, policy: Policy) -> bool:
    """Does this entry point check the gate under the policy, and is it closed now?"""
    checks = {"batch": policy.gate_batch, "auto": policy.gate_auto, "single": policy.gate_single}
    return checks[path] and gate.blocks(now)


def auto_sync_skip(wal: Wal, blocker: AutoSyncSetting | None,
                   now: datetime) -> AutoSyncSkipped | None:
    """Capture auto-sync's own precondition: a setting that rules it out skips the recording."""
    return None if blocker is None else AutoSyncSkipped(at=now, wal_id=wal.wal_id, setting=blocker)


def held(wals: Sequence[Wal], path: UploadPath, gate: Gate, now: datetime, *,
         every_waiting: bool) -> UploadsHeld:
    """The one event of a pass the closed gate held: how many recordings and why. A batch
    sync over `every_waiting` recording names none of them (the log says which were waiting);
    any other pass names the ones it was for."""
    assert gate.reason is not None and gate.until is not None
    return UploadsHeld(at=now, path=path, count=len(wals), gate_reason=gate.reason,
                       gate_until=gate.until,
                       wal_ids=() if every_waiting else tuple(w.wal_id for w in wals))


def batch_candidates(wals: Sequence[Wal], budget: int | None = None, *,
                     now: datetime | None = None, policy: Policy | None = None,
                     held: Collection[str] = ()) -> list[Wal]:
    """syncAll's selection: every `miss` WAL on phone storage, whatever its retry count
    (with a `budget`, as walsync does, only those with budget left and whose file the server
    did not refuse outright: both wait for a manual Retry). With `now` and a `policy` that
    backs off after unknown outcomes, a WAL still backing off waits too. `held` WALs (their
    upload history lost with a damaged log: `held_for`) wait for a manual Retry."""
    return [w for w in wals if w.status == MISS and w.storage in _PHONE_STORAGE
            and (budget is None or (w.retry_count < budget and not w.rejected))
            and not backing_off(w, now, policy) and w.wal_id not in held]


def held_for(policy: Policy, history_lost: frozenset[str]) -> frozenset[str]:
    """The recordings automatic uploads leave alone after a salvage: those whose history was
    lost, under a policy that holds them (walsync); none under the app's rules."""
    return history_lost if policy.hold_lost_history else frozenset()


def unknown_backoff_until(wal: Wal, base_seconds: int, max_seconds: int) -> datetime | None:
    """When a WAL whose uploads ended without a known outcome `unknown_streak` times in a row
    may go out automatically again: `base_seconds` after the last, doubled per further one, at
    most `max_seconds` (None: no wait, base 0 or no streak)."""
    if not base_seconds or not wal.unknown_streak or wal.last_unknown_at is None:
        return None
    seconds = min(max_seconds, base_seconds * 2 ** min(wal.unknown_streak - 1, 32))
    return wal.last_unknown_at + timedelta(seconds=seconds)


def offline_until(wals: Iterable[Wal], policy: Policy) -> datetime | None:
    """Until when automatic uploads wait because the backend could not be reached: the
    policy's `offline_backoff_seconds` after the latest upload that failed on the network,
    doubled per failure in a row of the recordings it was for, at most the max (None: no wait,
    or a policy that does not back off). A device-wide wait, like a pause: while it lasts a
    pass sends nothing, whichever recordings wait."""
    if not policy.offline_backoff_seconds:
        return None
    last: datetime | None = None
    streak = 0
    for wal in wals:
        if not wal.failed_offline or wal.last_failed_at is None:
            continue
        if last is None or wal.last_failed_at > last:
            last, streak = wal.last_failed_at, wal.failed_streak
        elif wal.last_failed_at == last:
            streak = max(streak, wal.failed_streak)
    if last is None:
        return None
    seconds = min(policy.offline_backoff_max_seconds,
                  policy.offline_backoff_seconds * 2 ** min(max(streak, 1) - 1, 32))
    return last + timedelta(seconds=seconds)


def backing_off(wal: Wal, now: datetime | None, policy: Policy | None) -> bool:
    """The policy's backoff after unknown outcomes still holds this WAL at `now`."""
    if now is None or policy is None:
        return False
    until = unknown_backoff_until(wal, policy.unknown_outcome_backoff_seconds,
                                  policy.unknown_outcome_backoff_max_seconds)
    return until is not None and now < until


def orphan_candidates(wals: Sequence[Wal], budget: int, *, now: datetime | None = None,
                      policy: Policy | None = None, held: Collection[str] = ()) -> list[Wal]:
    """Orphan recovery's selection: `miss` on phone storage with a conversation id and budget
    left (and not backing off, as batch_candidates). A recording still on the device's SD card
    or flash has to be copied to the phone first ("Downloading from your device"): only phone
    storage can be uploaded (`mem` is written to disk by the flush every upload entry point
    starts with). `held` recordings wait for a manual Retry (see batch_candidates)."""
    return [w for w in wals if w.status == MISS and w.storage in _PHONE_STORAGE
            and w.conversation_id and w.retry_count < budget and not backing_off(w, now, policy)
            and w.wal_id not in held]


def split_batches(wals: Sequence[Wal], size: int, *, isolate: bool = False) -> list[list[Wal]]:
    """Batches of `size` walking from the end of the list toward the start; with `isolate`,
    a WAL whose shared job failed on content goes alone, so a broken file fails by itself."""
    alone = [w for w in wals if isolate and w.shared_failure]
    rest = [w for w in wals if not (isolate and w.shared_failure)]
    batches: list[list[Wal]] = [[w] for w in reversed(alone)]
    end = len(rest)
    while end > 0:
        start = max(0, end - size)
        batches.append(list(rest[start:end]))
        end = start
    return batches


def missing_files(
    wals: Sequence[Wal], file_exists: Mapping[str, bool], now: datetime
) -> list[Event]:
    """The corrupted checks: a WAL whose file is gone becomes `corrupted`."""
    return [
        WalCorrupted(at=now, wal_id=w.wal_id, cause="file_missing", file_path=w.file_path)
        for w in wals
        if not file_exists.get(w.wal_id, False)
    ]


def reusable_key(wals: Sequence[Wal], policy: Policy) -> str | None:
    """The key of a lost attempt when these WALs are exactly its batch (T17), else None.

    The server may have applied that request; resending the same body under the same
    Idempotency-Key lets it answer with the job it made instead of creating a second one.
    """
    if not policy.reuse_unsettled_key or not wals:
        return None
    key = wals[0].attempt_id
    same = all(w.unsettled and w.attempt_id == key for w in wals)
    if not key or not same or set(wals[0].attempt_batch) != {w.wal_id for w in wals}:
        return None
    return key


def start_upload(
    wals: Sequence[Wal],
    *,
    path: UploadPath,
    attempt_id: str,
    now: datetime,
    conversation_id: str | None = None,
    claim_until: datetime | None = None,
) -> list[Event]:
    """Mark the WALs as being uploaded under one attempt id (the idempotency key), claimed
    until `claim_until` (see `abandoned`)."""
    for w in wals:
        guard(w, "start_upload")
    ids = tuple(w.wal_id for w in wals)
    return [
        UploadStarted(at=now, wal_id=w.wal_id, attempt_id=attempt_id, path=path, batch=ids,
                      conversation_id=conversation_id, claim_until=claim_until)
        for w in wals
    ]


def abandoned(wal: Wal, now: datetime) -> bool:
    """An upload left open by an uploader that is gone: `uploading`, and its claim is over (or
    it has none, or the clock went back before the attempt started, so the claim cannot be
    judged). While a claim holds, another process may be waiting for the answer: never settle
    it then, or both would send the recording."""
    if wal.status != UPLOADING:
        return False
    if wal.claim_until is None or wal.claimed_at is None:
        return True
    return not wal.claimed_at <= now < wal.claim_until


def settle_abandoned(wals: Sequence[Wal], now: datetime, detail: str) -> list[Event]:
    """`UploadOutcomeUnknown` for every abandoned upload (no budget spent; under a policy that
    reuses keys, the retry carries the same Idempotency-Key)."""
    return [UploadOutcomeUnknown(at=now, wal_id=w.wal_id, attempt_id=w.attempt_id or "",
                                 detail=detail) for w in wals if abandoned(w, now)]


def refused_credentials(answer: UploadError, policy: Policy) -> bool:
    """The backend refused the credentials (401/403: the client already tried a fresh token)
    and the policy pauses on it instead of counting an upload error."""
    return policy.auth_pause_seconds > 0 and answer.http_status in (401, 403)


def _bumps(path: UploadPath, kind: FailureKind) -> bool:
    """Only capture auto-sync spends budget on an upload error, never on a network error or a
    file that changed while it was sent (nothing reached the server whole)."""
    return path == "auto" and kind not in ("network", "file_changed")


# A recording whose file changed while it was sent goes again once the file has been still
# for this long (a recorder still writing it, a sync tool replacing it).
FILE_SETTLE_SECONDS: Final = 5.0


def settling(wal: Wal, modified_at: datetime | None, now: datetime) -> bool:
    """The file changed during the last upload and was modified less than FILE_SETTLE_SECONDS
    before `now` (or after it, by the clock's reading): leave it out of this upload, it is
    still being written."""
    if not wal.file_changed or modified_at is None:
        return False
    return (now - modified_at).total_seconds() < FILE_SETTLE_SECONDS


def _failed(w: Wal, now: datetime, path: UploadPath, attempt_id: str, kind: FailureKind,
            message: str, http_status: int | None, retry_after_raw: str | None) -> UploadFailed:
    bumped = _bumps(path, kind)
    return UploadFailed(
        at=now, wal_id=w.wal_id, attempt_id=attempt_id, kind=kind,
        http_status=http_status, message=message, retry_after_raw=retry_after_raw,
        retry_count=w.retry_count + (1 if bumped else 0), retry_count_bumped=bumped,
    )


def upload_outcome(
    wals: Sequence[Wal],
    answer: UploadAnswer,
    *,
    path: UploadPath,
    attempt_id: str,
    gate: Gate,
    now: datetime,
    policy: Policy,
) -> list[Event]:
    """The events an upload's answer calls for: WAL transitions plus any gate change.

    WALs no longer uploading under `attempt_id` (another writer settled them first) get an
    `AnswerIgnored` audit record: a stale answer never changes a recording (T18).
    """
    current = [w for w in wals if w.status == UPLOADING and w.attempt_id == attempt_id]
    ignored: list[Event] = [
        AnswerIgnored(at=now, wal_id=w.wal_id, answer="upload", attempt_id=attempt_id,
                      reason=f"the recording is {w.status} under attempt {w.attempt_id or 'none'} now")
        for w in wals if w not in current]
    if not current:
        return ignored
    return ignored + _current_outcome(current, answer, path=path, attempt_id=attempt_id, gate=gate,
                                      now=now, policy=policy)


def _current_outcome(wals: Sequence[Wal], answer: UploadAnswer, *, path: UploadPath, attempt_id: str,
                     gate: Gate, now: datetime, policy: Policy) -> list[Event]:
    events: list[Event] = []
    if isinstance(answer, UploadProcessed | UploadJobAccepted):
        http_status = 200 if isinstance(answer, UploadProcessed) else 202
        for w in wals:
            if isinstance(answer, UploadProcessed):
                events.append(UploadSynced(
                    at=now, wal_id=w.wal_id, attempt_id=attempt_id,
                    new_conversations=answer.new_conversations,
                    updated_conversations=answer.updated_conversations))
            else:
                events.append(UploadAccepted(at=now, wal_id=w.wal_id, attempt_id=attempt_id,
                                             job_id=answer.job_id))
        cleared = clear(gate, now=now, wal_id=wals[0].wal_id, http_status=http_status)
        return events + ([cleared] if cleared else [])
    if isinstance(answer, UploadThrottled):
        if not policy.rate_limit_typed:
            return [_failed(w, now, path, attempt_id, "rate_limited", LEGACY_RATE_LIMIT_MESSAGE,
                            429, answer.retry_after_raw) for w in wals]
        for w in wals:
            events.append(UploadRateLimited(
                at=now, wal_id=w.wal_id, attempt_id=attempt_id,
                retry_after_raw=answer.retry_after_raw, server_error=answer.detail,
                retry_count=w.retry_count, retry_count_bumped=False))
        seconds = parse_retry_after(answer.retry_after_raw, now, policy.retry_after,
                                    policy.max_cooldown_seconds)
        events.append(mark(gate, now=now, reason="rateLimit", requested_seconds=seconds,
                           policy=policy, retry_after_raw=answer.retry_after_raw,
                           cause_wal_id=wals[0].wal_id))
        return events
    if isinstance(answer, UploadError) and refused_credentials(answer, policy):
        return [UploadFailed(at=now, wal_id=w.wal_id, attempt_id=attempt_id, kind="auth",
                             http_status=answer.http_status, message=answer.message,
                             retry_count=w.retry_count, retry_count_bumped=False)
                for w in wals] + [mark(gate, now=now, reason="auth",
                                       requested_seconds=policy.auth_pause_seconds,
                                       policy=policy, cause_wal_id=wals[0].wal_id)]
    if isinstance(answer, UploadError):
        return [_failed(w, now, path, attempt_id, answer.kind, answer.message,
                        answer.http_status, None) for w in wals]
    if isinstance(answer, UploadUnusable) and policy.unusable_answer == "error":
        return [_failed(w, now, path, attempt_id, "unexpected", answer.detail,
                        answer.http_status, None) for w in wals]
    assert isinstance(answer, UploadLost | UploadUnusable)
    return [UploadOutcomeUnknown(at=now, wal_id=w.wal_id, attempt_id=attempt_id,
                                 detail=answer.detail) for w in wals]
