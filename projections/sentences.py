"""One plain-English sentence per event, for timelines, `log` output and explanations."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, Final

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
from walsync.core.serde import format_time, parse_time

__all__ = ["GATE_REASON_WORDS", "escape_controls", "sentence", "time_text"]

GATE_REASON_WORDS: Final = {"rateLimit": "fair-use throttling",
                            "backendBusy": "the backend being busy",
                            "auth": "the backend refusing the credentials"}
_PATHS = {"auto": "capture auto-sync", "batch": "batch sync", "single": "a manual Retry"}
_SETTINGS: Final = {"custom_stt": "a custom speech-to-text provider is set",
                    "auto_sync_disabled": "auto-sync is turned off"}


def time_text(moment: datetime | str) -> str:
    """How every time walsync prints reads: ISO 8601 in UTC, to the second
    (`2026-05-21T09:27:57Z`); a stored time string is read first."""
    return format_time(parse_time(moment) if isinstance(moment, str) else moment)[:19] + "Z"


_t = time_text


def _budget(bumped: bool, count: int) -> str:
    return (f"the retry count went up to {count}" if bumped
            else f"the retry count stayed at {count}")


def _retry_after(raw: str | None) -> str:
    return "no Retry-After" if raw is None else f"Retry-After {raw!r}"


def _started(e: CooldownStarted) -> str:
    text = (f"Uploads paused until {_t(e.until)} because of {GATE_REASON_WORDS[e.reason]} "
            f"({e.seconds} s")
    if e.requested_reason == "rateLimit":
        raw = _retry_after(e.retry_after_raw)
        text += f"; {raw}{', default applied' if e.default_applied else ''}"
    text += ")"
    if e.previous_until is None or e.previous_reason is None:
        return text + "."
    requested_until = e.at + timedelta(seconds=e.requested_seconds)
    if (e.until, e.reason) == (e.previous_until, e.previous_reason):
        if requested_until < e.until or e.requested_reason != e.reason:
            return text + (f"; a new {GATE_REASON_WORDS[e.requested_reason]} request would have ended "
                           f"sooner, so the later deadline was kept.")
        return text + "; the same pause was renewed."
    return text + (f", replacing the pause for {GATE_REASON_WORDS[e.previous_reason]} until "
                   f"{_t(e.previous_until)}.")


def _polled_before(e: JobCompleted | JobFailed | BatchJobCompleted) -> str:
    """The polls before the end, by answer, as a clause (none in older logs: they recorded each)."""
    if not e.polls_before:
        return ""
    return " (after " + ", ".join(f"{s.polls} poll(s) {s.server_status}"
                                  for s in e.polls_before) + ")"


def _failed_job(e: JobFailed) -> str:
    verdict = {
        "backend_busy": "classified as the backend being busy, so no retry budget was spent",
        "content": "classified as a content failure",
        "fair_use_budget": "classified as a fair-use budget limit, so no retry budget was spent",
    }[e.classification]
    return (f"Server job {e.job_id} ended {e.server_status}{_polled_before(e)} with error "
            f"{e.server_error!r} and {e.total_segments} segments; {verdict}; reverted to "
            f"waiting, {_budget(e.retry_count_bumped, e.retry_count)}.")


_SENTENCES: dict[type[Event], Callable[[Any], str]] = {
    WalRegistered: lambda e: (f"Recording {e.wal_id} was registered "
                              f"({'already delivered live' if e.delivered else 'waiting to sync'})."),
    WalDeleted: lambda e: f"Recording {e.wal_id} was deleted by the user.",
    WalCorrupted: lambda e: (f"Recording {e.wal_id} was marked unavailable: its file is gone"
                             + (f" and the server lost job {e.job_id}." if e.job_id else ".")),
    UploadStarted: lambda e: (f"Upload attempt {e.attempt_id} started by {_PATHS[e.path]} "
                              f"with {len(e.batch)} file(s)."),
    UploadSkipped: lambda e: (f"{_PATHS[e.path].capitalize()} skipped the upload: uploads are "
                              f"paused until {_t(e.gate_until)} because of "
                              f"{GATE_REASON_WORDS[e.gate_reason]}."),
    AutoSyncSkipped: lambda e: f"Capture auto-sync skipped the upload: {_SETTINGS[e.setting]}.",
    UploadsHeld: lambda e: (f"{_PATHS[e.path].capitalize()} held {e.count} recording(s): "
                            f"uploads are paused until {_t(e.gate_until)} because of "
                            f"{GATE_REASON_WORDS[e.gate_reason]}."),
    UploadCancelled: lambda e: (f"The user cancelled {_PATHS[e.path]} before this recording's "
                                "batch went: it waits for the next sync, its retry count "
                                "unchanged."),
    UploadSynced: lambda e: "The server processed the upload at once (HTTP 200): synced.",
    UploadAccepted: lambda e: f"The server accepted the upload (HTTP 202) as job {e.job_id}.",
    UploadRateLimited: lambda e: (f"The server throttled the upload (HTTP 429, "
                                  f"{_retry_after(e.retry_after_raw)}); "
                                  f"{_budget(e.retry_count_bumped, e.retry_count)}."),
    UploadFailed: lambda e: (f"The upload failed ({e.kind}"
                             f"{', HTTP ' + str(e.http_status) if e.http_status else ''}: "
                             f"{e.message}); {_budget(e.retry_count_bumped, e.retry_count)}."),
    UploadOutcomeUnknown: lambda e: (f"The upload's outcome is unknown ({e.detail}); it will be "
                                     "tried again without spending retry budget."),
    JobPolled: lambda e: (f"Polled job {e.job_id}: "
                          + (f"still {e.server_status} ({e.processed_segments}/"
                             f"{e.total_segments} segments)." if e.outcome == "non_terminal"
                             else f"no usable answer ({e.detail or e.http_status})." )),
    JobPollsRepeated: lambda e: (f"Polled job {e.job_id} {e.polls} more time(s) from "
                                 f"{_t(e.first_poll_at)} to {_t(e.last_poll_at)}: "
                                 + (f"still {e.server_status} ({e.processed_segments}/"
                                    f"{e.total_segments} segments) each time."
                                    if e.server_status else "the same answer each time.")),
    JobCompleted: lambda e: f"Server job {e.job_id} completed{_polled_before(e)}: synced.",
    BatchJobCompleted: lambda e: (f"Server job {e.job_id} completed{_polled_before(e)}: "
                                  f"{', '.join(e.wal_ids)} synced."),
    JobFailed: _failed_job,
    JobNotFound: lambda e: (f"Server job {e.job_id} is gone (HTTP {e.http_status}); reverted "
                            f"to waiting, {_budget(e.retry_count_bumped, e.retry_count)}."),
    CooldownStarted: _started,
    CooldownCleared: lambda e: ("The token provider gave a new token: the pause ended."
                                if e.credentials_renewed else
                                f"A successful upload of {e.cause_wal_id} (HTTP "
                                f"{e.http_status}) lifted the pause."),
    CooldownExpired: lambda e: (f"The pause for {GATE_REASON_WORDS[e.reason]} ended (deadline "
                                f"{_t(e.deadline)})"
                                + (", the clock having gone back" if e.clock_went_back else "")
                                + (f"; uploads resume at {_t(e.resume_at)}." if e.resume_at
                                   else ".")),
    UploadsResumed: lambda e: "Uploads resumed after the pause.",
    AnswerIgnored: lambda e: (f"A late {e.answer.replace('_', ' ')} answer for {e.wal_id} was "
                              f"ignored: {e.reason}."),
    PolicyApplied: lambda e: f"The engine opened the log under the {e.policy} policy.",
    LogSalvaged: lambda e: (f"The log was found damaged ({e.problem}) and moved aside to "
                            f"{e.moved_to}; its first {e.kept} event(s) were salvaged, "
                            f"{e.dropped} after them lost; {len(e.held)} recording(s) lost "
                            "the history of their uploads."),
    SegmentSealed: lambda e: (f"Retention sealed seq {e.first_seq}-{e.last_seq} ({e.count} "
                              f"events from before {_t(e.horizon)}) into the segment {e.file}."),
    StateCarried: lambda e: (f"The live view as of seq {e.cut_seq} was carried into the live "
                             f"log{f' (part {e.part + 1} of {e.parts})' if e.parts > 1 else ''}: "
                             f"{len(e.wals)} recording(s) carried, {e.archived} archived."),
    FileSkipped: lambda e: (f"The file {e.file_name} of recording {e.wal_id} was skipped: it is "
                            f"{e.reason}{' (' + e.detail + ')' if e.detail else ''}; it is "
                            "registered once it can be read."),
    SyncRunStarted: lambda e: f"{_PATHS[e.path].capitalize()} started for {len(e.wal_ids)} recording(s).",
    SyncRunFinished: lambda e: (f"{_PATHS[e.path].capitalize()} finished: "
                                f"{e.batches_uploaded} upload(s) accepted, "
                                f"{e.batches_failed} failed"
                                + ("; stopped by a 429" if e.stopped_by_rate_limit else "")
                                + ("; skipped by the pause" if e.gated else "")
                                + ("; interrupted" if e.interrupted else "")
                                + ("; stopped: the time budget ran out" if e.out_of_time
                                   else "")
                                + ("; cancelled by the user" if e.cancelled else "") + "."),
}


def sentence(event: Event) -> str:
    """The event in one sentence of plain English, on one line: CR, LF and other control
    characters from user- or server-controlled strings are escaped (no forged log lines)."""
    return escape_controls(_SENTENCES[type(event)](event))


def escape_controls(text: str) -> str:
    """`\\r`, `\\n`, `\\t` and `\\xNN`/`\\uNNNN` for control and separator characters."""
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else _ESCAPES.get(ch, ascii(ch)[1:-1]) for ch in text)


_ESCAPES = {"\r": "\\r", "\n": "\\n", "\t": "\\t"}
