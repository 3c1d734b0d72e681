"""Shared Hypothesis strategies: aware UTC times, WAL ids, every event type, backend answers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, Final

from hypothesis import strategies as st

from walsync.core.classify import BACKEND_BUSY_HINT
from walsync.core.events import (
    AnswerIgnored,
    AutoSyncSkipped,
    BatchJobCompleted,
    CooldownCleared,
    CooldownExpired,
    CooldownStarted,
    Event,
    FileSkipped,
    JobCompleted,
    JobFailed,
    JobNotFound,
    JobPolled,
    JobPollsRepeated,
    LogSalvaged,
    PolicyApplied,
    SegmentSealed,
    StateCarried,
    SyncRunFinished,
    SyncRunStarted,
    UploadAccepted,
    UploadCancelled,
    UploadFailed,
    UploadOutcomeUnknown,
    UploadRateLimited,
    UploadsHeld,
    UploadSkipped,
    UploadsResumed,
    UploadStarted,
    UploadSynced,
    WalCorrupted,
    WalDeleted,
    WalRegistered,
)
from walsync.core.policies import REGISTERED
from walsync.core.policy import Policy
from walsync.core.responses import (
    JobStatus,
    JobStatusResult,
    JobUnreachable,
    JobVanished,
    UploadAnswer,
    UploadError,
    UploadJobAccepted,
    UploadLost,
    UploadProcessed,
    UploadThrottled,
    UploadUnusable,
)

__all__ = [
    "EVENT_STRATEGIES",
    "FAILURE_KINDS",
    "GATE_REASONS",
    "JOB_ERRORS",
    "JOB_STATUSES",
    "RETRY_AFTER_SAMPLES",
    "UPLOAD_PATHS",
    "around",
    "events",
    "job_status_answers",
    "job_statuses",
    "policies",
    "retry_after_raw",
    "upload_answers",
    "upload_paths",
    "utc_datetimes",
    "wal_ids",
]

_MIN: Final = datetime(2000, 1, 1)
_MAX: Final = datetime(2100, 1, 1)

UPLOAD_PATHS: Final = ("auto", "batch", "single")
GATE_REASONS: Final = ("rateLimit", "backendBusy", "auth")
FAILURE_KINDS: Final = ("bad_request", "too_large", "server_error", "unexpected", "network",
                        "rate_limited", "file_changed", "auth")
JOB_STATUSES: Final = ("queued", "processing", "completed", "partial_failure", "failed")
JOB_ERRORS: Final = (
    None,
    "",
    f"Job timed out ({BACKEND_BUSY_HINT})",
    "Decode failed: invalid opus frame",
    "VAD failed for 2 file(s): bad header",
    "DG budget exhausted — audio retained for retry",
    "All 4 segments failed. First error: timeout",
    "All 4 segments failed processing",
    "KeyError: 'segments'",
)
RETRY_AFTER_SAMPLES: Final = (None, "", "120", " 60 ", "0", "-5", "soon", "999999999999999",
                              "Wed, 20 May 2026 09:00:00 GMT", "1.5")


def utc_datetimes() -> st.SearchStrategy[datetime]:
    """Aware UTC datetimes with microseconds, far enough from the ends of the calendar."""
    return st.datetimes(min_value=_MIN, max_value=_MAX, timezones=st.just(UTC))


def wal_ids() -> st.SearchStrategy[str]:
    """`<device>_<timerStart>` as the app builds them."""
    device = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789:", min_size=1, max_size=12)
    return st.builds(lambda d, t: f"{d}_{t}", device, st.integers(1_700_000_000, 1_900_000_000))


def policies() -> st.SearchStrategy[Policy]:
    return st.sampled_from(REGISTERED)


def upload_paths() -> st.SearchStrategy[str]:
    return st.sampled_from(UPLOAD_PATHS)


def retry_after_raw() -> st.SearchStrategy[str | None]:
    return st.one_of(st.sampled_from(RETRY_AFTER_SAMPLES),
                     st.integers(-10, 200_000).map(str), st.text(max_size=20))


_ids = st.text(alphabet="0123456789abcdef", min_size=1, max_size=16)
_texts = st.text(max_size=40)
_opt_texts = st.none() | _texts
_counts = st.integers(0, 10_000)
_retries = st.integers(0, 50)
_id_tuples = st.lists(_ids, max_size=4).map(tuple)
_opt_times = st.none() | utc_datetimes()
_reasons = st.sampled_from(GATE_REASONS)
_paths = st.sampled_from(UPLOAD_PATHS)
_http = st.none() | st.integers(100, 599)


def _wal(cls: type[Event], **fields: Any) -> st.SearchStrategy[Event]:
    return st.builds(cls, at=utc_datetimes(), wal_id=wal_ids(), **fields)


def _plain(cls: type[Event], **fields: Any) -> st.SearchStrategy[Event]:
    return st.builds(cls, at=utc_datetimes(), **fields)


EVENT_STRATEGIES: Final[dict[str, st.SearchStrategy[Event]]] = {
    "WalRegistered": _wal(
        WalRegistered, device=st.sampled_from(["phone", "omi", "dev:01"]),
        timer_start=st.integers(0, 2**40), codec=st.sampled_from(["opus", "pcm8", "pcm16", "opus_fs320"]),
        sample_rate=st.sampled_from([8000, 16000]), channel=st.integers(1, 2),
        seconds=st.integers(1, 3600), file_path=_opt_texts,
        storage=st.sampled_from(["mem", "disk", "sdcard", "flashPage"]),
        conversation_id=st.none() | _ids, delivered=st.booleans()),
    "WalDeleted": _wal(WalDeleted),
    "WalCorrupted": _wal(WalCorrupted, cause=st.sampled_from(["file_missing", "job_not_found"]),
                         job_id=st.none() | _ids, file_path=_opt_texts),
    "UploadStarted": _wal(UploadStarted, attempt_id=_ids, path=_paths, batch=_id_tuples,
                          conversation_id=st.none() | _ids),
    "UploadSkipped": _wal(UploadSkipped, path=_paths, gate_reason=_reasons,
                          gate_until=utc_datetimes()),
    "AutoSyncSkipped": _wal(AutoSyncSkipped,
                            setting=st.sampled_from(["custom_stt", "auto_sync_disabled"])),
    "UploadCancelled": _wal(UploadCancelled, path=_paths, run_id=_ids),
    "UploadSynced": _wal(UploadSynced, attempt_id=_ids, new_conversations=_id_tuples,
                         updated_conversations=_id_tuples),
    "UploadAccepted": _wal(UploadAccepted, attempt_id=_ids, job_id=_ids),
    "UploadRateLimited": _wal(UploadRateLimited, attempt_id=_ids, retry_after_raw=_opt_texts,
                              server_error=_opt_texts, retry_count=_retries,
                              retry_count_bumped=st.just(False)),
    "UploadFailed": _wal(UploadFailed, attempt_id=_ids, kind=st.sampled_from(FAILURE_KINDS),
                         http_status=_http, message=_texts, retry_after_raw=_opt_texts,
                         retry_count=_retries, retry_count_bumped=st.booleans()),
    "UploadOutcomeUnknown": _wal(UploadOutcomeUnknown, attempt_id=_ids, detail=_texts),
    "JobPolled": _wal(JobPolled, job_id=_ids, outcome=st.sampled_from(["transient", "non_terminal"]),
                      server_status=st.none() | st.sampled_from(["queued", "processing"]),
                      http_status=_http, processed_segments=_counts, total_segments=_counts,
                      member_wal_ids=_id_tuples, detail=_opt_texts),
    "JobPollsRepeated": _wal(JobPollsRepeated, job_id=_ids, polls=st.integers(1, 10_000),
                             first_poll_at=utc_datetimes(), last_poll_at=utc_datetimes(),
                             server_status=st.none() | st.sampled_from(["queued", "processing"]),
                             processed_segments=_counts, total_segments=_counts),
    "JobCompleted": _wal(JobCompleted, job_id=_ids, total_segments=_counts,
                         successful_segments=_counts, new_conversations=_id_tuples,
                         updated_conversations=_id_tuples),
    "BatchJobCompleted": _plain(BatchJobCompleted, job_id=_ids, attempt_id=_ids,
                                wal_ids=st.lists(wal_ids(), min_size=1, max_size=3).map(tuple),
                                total_segments=_counts, successful_segments=_counts,
                                new_conversations=_id_tuples, updated_conversations=_id_tuples),
    "JobFailed": _wal(JobFailed, job_id=_ids,
                      server_status=st.sampled_from(["failed", "partial_failure"]),
                      server_error=st.sampled_from(JOB_ERRORS), failed_segments=_counts,
                      total_segments=_counts,
                      classification=st.sampled_from(["backend_busy", "content", "fair_use_budget"]),
                      busy_rule=st.sampled_from(["none", "structural", "typed"]),
                      retry_count=_retries, retry_count_bumped=st.booleans()),
    "JobNotFound": _wal(JobNotFound, job_id=_ids, http_status=st.sampled_from([403, 404]),
                        retry_count=_retries, retry_count_bumped=st.booleans()),
    "CooldownStarted": _plain(
        CooldownStarted, reason=_reasons, until=utc_datetimes(), seconds=st.integers(0, 86_400),
        requested_reason=_reasons, requested_seconds=st.integers(0, 86_400),
        retry_after_raw=_opt_texts, default_applied=st.booleans(),
        merge_rule=st.sampled_from(["overwrite", "keep_later"]), previous_until=_opt_times,
        previous_reason=st.none() | _reasons, cause_wal_id=st.none() | wal_ids(),
        cause_job_id=st.none() | _ids),
    "CooldownCleared": _plain(CooldownCleared, cause_wal_id=wal_ids(),
                              http_status=st.sampled_from([200, 202]),
                              previous_until=utc_datetimes(), previous_reason=_reasons),
    "CooldownExpired": _plain(CooldownExpired, reason=_reasons, deadline=utc_datetimes(),
                              clock_went_back=st.booleans(), resume_at=_opt_times),
    "UploadsResumed": _plain(UploadsResumed, resume_at=utc_datetimes()),
    "PolicyApplied": policies().flatmap(
        lambda p: _plain(PolicyApplied, policy=st.just(p.name), rules=st.just(p.rules()))),
    "AnswerIgnored": _plain(AnswerIgnored, wal_id=wal_ids(),
                            answer=st.sampled_from(["upload", "job_status"]),
                            attempt_id=st.none() | _ids, job_id=st.none() | _ids,
                            server_status=st.none() | st.sampled_from(JOB_STATUSES),
                            reason=_texts),
    "SyncRunStarted": _plain(SyncRunStarted, run_id=_ids, path=_paths, wal_ids=_id_tuples),
    "SyncRunFinished": _plain(
        SyncRunFinished, run_id=_ids, path=_paths, batches_uploaded=_counts,
        batches_failed=_counts, corrupted=_counts, stopped_by_rate_limit=st.booleans(),
        gated=st.booleans(), interrupted=st.booleans(), out_of_time=st.booleans(),
        new_conversations=_id_tuples, updated_conversations=_id_tuples),
    "UploadsHeld": _plain(UploadsHeld, path=_paths, count=_counts, gate_reason=_reasons,
                          gate_until=utc_datetimes(), wal_ids=_id_tuples),
    "FileSkipped": _plain(FileSkipped, file_name=_texts, wal_id=wal_ids(),
                          reason=st.sampled_from(["empty", "unreadable"]), detail=_texts),
    "LogSalvaged": _plain(LogSalvaged, moved_to=_texts, problem=_texts,
                          first_bad_seq=st.none() | _counts, kept=_counts, dropped=_counts,
                          held=_id_tuples),
    "SegmentSealed": _plain(SegmentSealed, file=_texts, first_seq=_counts, last_seq=_counts,
                            count=_counts, prev_hash=_texts, first_hash=_texts,
                            last_hash=_texts, sha256=_texts, horizon=utc_datetimes()),
    "StateCarried": _plain(StateCarried, cut_seq=_counts,
                           versions=st.dictionaries(_texts, _counts, max_size=3),
                           archived=_counts),
}


def events() -> st.SearchStrategy[Event]:
    """Any event of any type in core.events.EVENT_TYPES, with valid field values."""
    return st.one_of(*EVENT_STRATEGIES.values())


def upload_answers() -> st.SearchStrategy[UploadAnswer]:
    """Every answer an upload can get: 200, 202, 429, other errors, lost, unusable."""
    return st.one_of(
        st.builds(UploadProcessed, new_conversations=_id_tuples, updated_conversations=_id_tuples),
        st.builds(UploadJobAccepted, job_id=_ids),
        st.builds(UploadThrottled, retry_after_raw=retry_after_raw(), detail=_opt_texts),
        st.builds(UploadError,
                  kind=st.sampled_from(["bad_request", "too_large", "server_error", "unexpected",
                                        "network"]),
                  message=_texts, http_status=_http),
        st.builds(UploadLost, detail=_texts),
        st.builds(UploadUnusable, http_status=st.sampled_from([200, 202]), detail=_texts),
    )


def job_statuses(status: st.SearchStrategy[str] | None = None) -> st.SearchStrategy[JobStatus]:
    """200 from the status endpoint, with the error texts the backend writes."""
    return st.builds(
        JobStatus, job_id=_ids, status=status or st.sampled_from(JOB_STATUSES),
        total_segments=st.integers(0, 50), processed_segments=st.integers(0, 50),
        successful_segments=st.integers(0, 50), failed_segments=st.integers(0, 50),
        error=st.sampled_from(JOB_ERRORS), new_conversations=_id_tuples,
        updated_conversations=_id_tuples)


def job_status_answers() -> st.SearchStrategy[JobStatusResult]:
    """Every answer a status poll can get: ok + status, vanished (404/403), unreachable."""
    return st.one_of(
        job_statuses(),
        st.builds(JobVanished, http_status=st.sampled_from([403, 404])),
        st.builds(JobUnreachable, http_status=_http, detail=_texts),
    )


def around(moment: datetime, seconds: int) -> st.SearchStrategy[datetime]:
    """A time within +-`seconds` of `moment`, microsecond resolution."""
    return st.integers(-seconds * 10**6, seconds * 10**6).map(
        lambda us: moment + timedelta(microseconds=us))
