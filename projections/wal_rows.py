"""Per-recording status rows: state, display state, message key, English text, colour, action."""

from __future__ import annotations

from typing import Final, NamedTuple

from walsync.core.display import display_state
from walsync.core.wal import Wal
from walsync.projections.texts import text_for

__all__ = ["ROW_STYLE", "WalRow", "row_of"]

# display state -> (message key, colour, trailing action)
ROW_STYLE: Final[dict[str, tuple[str, str, str]]] = {
    "syncing": ("syncStatusBackingUp", "grey", "spinner"),
    "uploaded": ("syncStatusUploaded", "grey", "chevron"),
    "synced": ("syncStatusConversationCreated", "grey", "chevron"),
    "waiting": ("syncStatusWaiting", "grey", "chevron"),
    "retrying": ("syncStatusRetrying", "orange", "retry"),
    "failed": ("syncStatusFailed", "red", "retry"),
    "corrupted": ("syncStatusFileUnavailable", "red", "chevron"),
}


class WalRow(NamedTuple):
    """One row of the Sync page, as the app would render it. A named tuple in the `wal_rows`
    table's column order: it is the row it is written as (one per transition: a named tuple is
    made in about half a frozen class's time)."""

    wal_id: str
    state: str
    display: str
    message_key: str
    text: str
    color: str
    action: str
    retry_count: int
    retry_budget: int
    job_id: str | None
    conversation_id: str | None
    storage: str
    last_seq: int
    updated_at: str


def row_of(wal: Wal, *, retry_budget: int, seq: int, at: str) -> WalRow:
    """The row a WAL in this state shows."""
    display = display_state(wal.status, wal.retry_count, retry_budget)
    key, color, action = ROW_STYLE[display]
    return WalRow(
        wal_id=wal.wal_id,
        state=wal.status,
        display=display,
        message_key=key,
        text=text_for(key),
        color=color,
        action=action,
        retry_count=wal.retry_count,
        retry_budget=retry_budget,
        job_id=wal.job_id,
        conversation_id=wal.conversation_id,
        storage=wal.storage,
        last_seq=seq,
        updated_at=at,
    )
