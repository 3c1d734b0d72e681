"""What one engine command did, as the app reads it back: counts, the reason a run was
skipped, when the reconciler wants to be poked next."""

from __future__ import annotations

from collections.abc import Iterable

from attrs import define, field

from walsync.core.events import UploadPath

__all__ = ["ReconcileReport", "RunReport"]


@define(kw_only=True)
class RunReport:
    """What one upload entry point did."""

    path: UploadPath
    wal_ids: list[str] = field(factory=list)
    synced: int = 0
    uploaded: int = 0
    failed: int = 0
    corrupted: int = 0
    skipped: int = 0
    rate_limited: bool = False
    skipped_reason: str | None = None
    error: str | None = None
    poke_reconciler: bool = False
    out_of_time: bool = False  # the engine's send deadline stopped it before a request


@define(kw_only=True)
class ReconcileReport:
    """What one reconciler pass did, and when the scheduler should poke it next (None: quiet)."""

    jobs_polled: int = 0
    completed: int = 0
    reverted: int = 0
    corrupted: int = 0
    conversations: list[str] = field(factory=list)
    next_poll_seconds: int | None = None
    out_of_time: bool = False  # the engine's send deadline stopped it before a poll
    _heard: set[str] = field(factory=set, init=False, repr=False, eq=False)

    def add_conversations(self, conversation_ids: Iterable[str]) -> None:
        """Add the conversations not yet in `conversations`, in the order heard. A set
        remembers them: a pass that ends thousands of jobs stays linear in what it heard."""
        for conversation in conversation_ids:
            if conversation not in self._heard:
                self._heard.add(conversation)
                self.conversations.append(conversation)
