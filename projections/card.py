"""The status card: first-match rules of spec section 9 for the Sync and Auto-Sync pages."""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

from walsync.projections.texts import (
    needs_attention_text,
    progress_text,
    ready_count_text,
    text_for,
)

__all__ = ["Card", "CardInputs", "auto_sync_page_card", "card_inputs", "page_cards",
           "sync_page_card"]


class CardInputs(NamedTuple):
    """What the card is computed from: row counts by display state, the gate, an active run,
    and the spinner they imply (made by `card_inputs`, which decides it once for both pages)."""

    displays: Mapping[str, int]
    limited: bool
    reason: str | None
    run_total: int | None
    run_done: int
    spinner: bool

    def count(self, *displays: str) -> int:
        """Rows in any of these display states."""
        rows = self.displays
        total = 0
        for name in displays:
            total += rows.get(name, 0)
        return total


def card_inputs(displays: Mapping[str, int], *, limited: bool, reason: str | None,
                run_total: int | None = None, run_done: int = 0) -> CardInputs:
    """The inputs, with the spinner: shown when syncing or any `uploaded`, and not rate
    limited."""
    busy = run_total is not None or displays.get("syncing", 0) + displays.get("uploaded", 0) > 0
    return CardInputs(displays, limited, reason, run_total, run_done, busy and not limited)


class Card(NamedTuple):
    """One status card: its message key and English text, detail line, colour, pill, spinner.
    A named tuple in the `sync_card` table's column order: it is the row it is written as
    (two per commit: a named tuple is made in about half a frozen class's time)."""

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
    if inputs.run_total is not None:
        return Card(page=page, kind="uploading", message_key="syncCardUploadingTitle",
                    text=text_for("syncCardUploadingTitle"),
                    detail=progress_text(inputs.run_done, inputs.run_total), color="purple",
                    pill="cancel", spinner=inputs.spinner)
    if inputs.limited:
        key = {"backendBusy": "syncCardBackendBusy", "auth": "syncCardSignIn"}.get(
            inputs.reason or "", "syncCardRateLimited")
        return Card(page=page, kind="cooldown", message_key=key, text=text_for(key),
                    detail=None, color="orange", pill=None, spinner=inputs.spinner)
    if inputs.displays.get("uploaded", 0) > 0:
        return Card(page=page, kind="processing", message_key="syncCardProcessing",
                    text=text_for("syncCardProcessing"),
                    detail=text_for("syncProcessingBackgroundHint"), color="grey", pill=None,
                    spinner=inputs.spinner)
    return None


def _ready(page: str, ready: int, spin: bool) -> Card:
    return Card(page=page, kind="ready", message_key="syncCardReadyCount",
                text=ready_count_text(ready), detail=None, color="grey", pill="sync",
                spinner=spin)


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
        return _ready("sync", ready, inputs.spinner)
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
        return _ready("auto_sync", ready, inputs.spinner)
    return _all_synced("auto_sync", inputs.spinner)


def page_cards(inputs: CardInputs) -> dict[str, Card]:
    """Both pages' cards, by page."""
    return {"sync": sync_page_card(inputs), "auto_sync": auto_sync_page_card(inputs)}
