"""The display-state derivation of spec section 2: the single source of truth for the UI."""

from __future__ import annotations

from typing import Literal

from walsync.core.states import CORRUPTED, MISS, SYNCED, UPLOADED, UPLOADING

__all__ = ["DisplayState", "display_state"]

DisplayState = Literal["syncing", "uploaded", "synced", "waiting", "retrying", "failed", "corrupted"]


def display_state(status: str, retry_count: int, retry_budget: int = 3) -> DisplayState:
    """isSyncing → syncing; uploaded/synced/corrupted as is; miss by retry count; else waiting."""
    if status == UPLOADING:
        return "syncing"
    if status == UPLOADED:
        return "uploaded"
    if status == SYNCED:
        return "synced"
    if status == CORRUPTED:
        return "corrupted"
    if status == MISS:
        if retry_count >= retry_budget:
            return "failed"
        if retry_count > 0:
            return "retrying"
    return "waiting"
