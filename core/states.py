"""The WAL state machine as plain data: states, triggers and the transition table.

The table is the single source: the `transitions` guard (`core.machine`), the replay fold
(`NEXT_STATE`) and the diagram in docs are all derived from it.
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "ACTIVE_STATES",
    "FINISHED_STATES",
    "NEW",
    "NEXT_STATE",
    "STATES",
    "TRANSITIONS",
    "TRIGGERS",
    "Transition",
    "next_state",
]

NEW: Final = "new"
MISS: Final = "miss"
UPLOADING: Final = "uploading"
UPLOADED: Final = "uploaded"
SYNCED: Final = "synced"
CORRUPTED: Final = "corrupted"
DELETED: Final = "deleted"

STATES: Final = (NEW, MISS, UPLOADING, UPLOADED, SYNCED, CORRUPTED, DELETED)
# States a WAL can be in while it exists (shown as a row).
ACTIVE_STATES: Final = (MISS, UPLOADING, UPLOADED, SYNCED, CORRUPTED)
# States a WAL has finished in: only a delete moves it on (a deleted one never moves again).
FINISHED_STATES: Final = (SYNCED, CORRUPTED, DELETED)

Transition = tuple[str, str, str]  # (source, trigger, dest)

TRANSITIONS: Final[tuple[Transition, ...]] = (
    # chunker: a WAL is born miss, or synced when it was fully delivered live
    (NEW, "register", MISS),
    (NEW, "register_delivered", SYNCED),
    # an uploader picks it up (the app's isSyncing)
    (MISS, "start_upload", UPLOADING),
    (MISS, "skip_upload", MISS),
    (MISS, "cancel_upload", MISS),  # the batch was cancelled before it reached this one
    (MISS, "mark_corrupted", CORRUPTED),
    # the upload's answer
    (UPLOADING, "upload_synced", SYNCED),
    (UPLOADING, "upload_accepted", UPLOADED),
    (UPLOADING, "upload_rate_limited", MISS),
    (UPLOADING, "upload_failed", MISS),
    (UPLOADING, "upload_outcome_unknown", MISS),
    # the reconciler
    (UPLOADED, "poll_job", UPLOADED),
    (UPLOADED, "job_completed", SYNCED),
    (UPLOADED, "job_failed", MISS),
    (UPLOADED, "job_not_found", MISS),
    (UPLOADED, "mark_corrupted", CORRUPTED),
    # user swipe-delete / clear
    (MISS, "delete", DELETED),
    (UPLOADED, "delete", DELETED),
    (SYNCED, "delete", DELETED),
    (CORRUPTED, "delete", DELETED),
)

TRIGGERS: Final = tuple(dict.fromkeys(trigger for _, trigger, _ in TRANSITIONS))

NEXT_STATE: Final[dict[tuple[str, str], str]] = {
    (source, trigger): dest for source, trigger, dest in TRANSITIONS
}


def next_state(state: str, trigger: str) -> str | None:
    """The replay fold's lookup: the destination, or None when the table forbids it."""
    return NEXT_STATE.get((state, trigger))
