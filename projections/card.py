"""The status card: first-match rules of spec section 9 for the Sync and Auto-Sync pages."""

from __future__ import annotations

from collections.abc import Mapping

from attrs import frozen

from walsync.projections.texts import (
    needs_attention_text,
    progress_text,
    ready_count_text,
    text_for,
)

__all__ = ["Card", "CardInputs", "auto_sync_page_card", "sync_page_card"]


@frozen(kw_only=True)
class CardInputs:
    """What the card is computed from: row counts by display state, the gate, an active run."""

    displays: Mapping[str, int]
    limited: bool
    reason: str | None
    run_total: int | None = None
    run_done: int = 0

    def count(self, *displays: str) -> int:
        """Rows in any of these display states."""
        rows = self.displays
        total = 0
        for name in displays:
            total += rows.get(name, 0)
        return total

    @property
    def spinner(self) -> bool:
        """Shown when syncing or any `uploaded`, and not rate limited."""
        busy = self.run_total is not None or self.count("syncing", "uploaded") > 0
        return busy and not self.limited


@frozen(kw_only=True)
class Card:
    """One status card: its message key and English text, detail line, colour, pill, spinner."""

    page: str
    kind: str
    message_key: str
    text: str
    detail: str | None
    color: str
    pill: str | None
    spinner: bool


def _common(page: str, inputs: CardInputs) -> Card | None:
    """Steps 2 to 4, shared by both pages."""
    spin = inputs.spinner
    if inputs.run_total is not None:
        return Card(page=page, kind="uploading", message_key="syncCardUploadingTitle",
                    text=text_for("syncCardUploadingTitle"),
                    detail=progress_text(inputs.run_done, inputs.run_total), color="purple",
                    pill="cancel", spinner=spin)
    if inputs.limited:
        key = "syncCardBackendBusy" if inputs.reason == "backendBusy" else "syncCardRateLimited"
        return Card(page=page, kind="cooldown", message_key=key, text=text_for(key),
                    detail=None, color="orange", pill=None, spinner=spin)
    if inputs.count("uploaded") > 0:
        return Card(page=page, kind="processing", message_key="syncCardProcessing",
                    text=text_for("syncCardProcessing"),
                    detail=text_for("syncProcessingBackgroundHint"), color="grey", pill=None,
                    spinner=spin)
    return None


def _all_synced(page: str, spin: bool) -> Card:
    return Card(page=page, kind="all_synced", message_key="syncCardAllBackedUp",
                text=text_for("syncCardAllBackedUp"), detail=None, color="grey", pill=None,
                spinner=spin)


def sync_page_card(inputs: CardInputs) -> Card:
    """The legacy Sync page: ... then any `miss` gives the ready count with a Sync pill."""
    card = _common("sync", inputs)
    if card is not None:
        return card
    ready = inputs.count("waiting", "retrying", "failed")
    if ready:
        return Card(page="sync", kind="ready", message_key="syncCardReadyCount",
                    text=ready_count_text(ready), detail=None, color="grey", pill="sync",
                    spinner=inputs.spinner)
    return _all_synced("sync", inputs.spinner)


def auto_sync_page_card(inputs: CardInputs) -> Card:
    """The Auto-Sync page: "needs attention" (failed + corrupted) before the ready count."""
    card = _common("auto_sync", inputs)
    if card is not None:
        return card
    attention = inputs.count("failed", "corrupted")
    if attention:
        return Card(page="auto_sync", kind="needs_attention", message_key="syncCardNeedsAttention",
                    text=needs_attention_text(attention), detail=None, color="orange",
                    pill="sync", spinner=inputs.spinner)
    ready = inputs.count("waiting", "retrying")
    if ready:
        return Card(page="auto_sync", kind="ready", message_key="syncCardReadyCount",
                    text=ready_count_text(ready), detail=None, color="grey", pill="sync",
                    spinner=inputs.spinner)
    return _all_synced("auto_sync", inputs.spinner)
