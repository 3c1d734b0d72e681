"""The app's English UI strings (spec section 9) by message key, so an app can localise."""

from __future__ import annotations

from typing import Final

__all__ = ["MESSAGES", "needs_attention_text", "progress_text", "ready_count_text", "text_for"]

MESSAGES: Final[dict[str, str]] = {
    "syncStatusBackingUp": "Syncing…",
    "syncStatusWaiting": "Waiting to sync",
    "syncStatusRetrying": "Couldn’t process — retrying",
    "syncStatusFailed": "Failed — tap Retry",
    "syncStatusFileUnavailable": "File unavailable",
    "syncStatusUploaded": "Uploaded · processing on Omi",
    "syncStatusConversationCreated": "Conversation created",
    "syncStatusBackedUp": "Backed up",
    "syncStatusOnDevice": "On your device",
    "syncStatusDownloadingFromDevice": "Downloading from your device",
    "syncCardAllBackedUp": "All recordings synced",
    "syncCardProcessing": "Processing on Omi…",
    "syncCardWaitingInternet": "Waiting for internet",
    "syncCardUploadingTitle": "Uploading to Omi",
    "syncCardDownloadingTitle": "Downloading from your device",
    "syncProcessingBackgroundHint": "This continues in the background — you can leave this screen.",
    "syncCardRateLimited": "Fair-use limit reached — syncing will resume automatically",
    "syncCardBackendBusy": "Omi servers are busy — your recordings will sync once capacity returns",
    # walsync's own (the app has no such card): the backend refused the credentials.
    "syncCardSignIn": "Sign in to keep syncing",
    "syncFailureFootnote": (
        "If processing fails, your recording is retried automatically on the next sync."
    ),
}


def text_for(key: str) -> str:
    """English text of a fixed message key."""
    return MESSAGES[key]


def ready_count_text(n: int) -> str:
    """syncCardReadyCount(n)."""
    return "1 recording ready to sync" if n == 1 else f"{n} recordings ready to sync"


def needs_attention_text(n: int) -> str:
    """syncCardNeedsAttention(n), with the app's own "1 recording need attention"."""
    return "1 recording need attention" if n == 1 else f"{n} recordings need attention"


def progress_text(done: int, total: int) -> str:
    """syncCardProgressOf(c, t)."""
    return f"{done} of {total}"
