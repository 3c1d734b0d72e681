"""docs/glossary.md defines every code the CLI prints, collected from the code itself: recording
and display states, `why` reason codes, gate reasons, job classifications, upload paths, upload
failure kinds, `sync`'s finished reasons, the status row and card keys and every value a card
can take, and every message key."""

from __future__ import annotations

import itertools
import re
import typing

from walsync.adapters.service.folder_sync import FINISHED_REASONS
from walsync.core.display import DisplayState
from walsync.core.events.base import FailureKind, GateReason, JobFailureClass, UploadPath
from walsync.core.states import STATES
from walsync.projections.card import Card, card_inputs, page_cards
from walsync.projections.texts import MESSAGES
from walsync.projections.wal_rows import ROW_STYLE, WalRow
from walsync.projections.why import REASONS

from sources import ROOT

GLOSSARY = ROOT / "docs" / "glossary.md"


def defined_terms() -> set[str]:
    """Every back-quoted name in the first column of the glossary's tables."""
    terms: set[str] = set()
    for line in GLOSSARY.read_text(encoding="utf-8").splitlines():
        if line.startswith("| ") and not line.startswith("|---"):
            terms.update(re.findall(r"`([^`]+)`", line.split("|")[1]))
    return terms


def every_card() -> list[Card]:
    """The cards of both pages for every kind of input the card rules tell apart."""
    displays = ("waiting", "retrying", "failed", "syncing", "uploaded", "synced", "corrupted")
    cards = []
    for present, limited, reason, run in itertools.product(
            itertools.chain.from_iterable(itertools.combinations(displays, n) for n in range(3)),
            (False, True), ("rateLimit", "backendBusy"), (None, 3)):
        inputs = card_inputs(dict.fromkeys(present, 1), limited=limited, reason=reason,
                             run_total=run)
        cards.extend(page_cards(inputs).values())
    return cards


def printed_codes() -> dict[str, set[str]]:
    cards = every_card()
    return {
        "recording states": set(STATES),
        "display states": set(typing.get_args(DisplayState)),
        "why reasons": set(REASONS),
        "gate reasons": set(typing.get_args(GateReason)) | {"open"},
        "job classifications": set(typing.get_args(JobFailureClass)),
        "upload paths": set(typing.get_args(UploadPath)),
        "upload failure kinds": set(typing.get_args(FailureKind)),
        "sync finished reasons": set(FINISHED_REASONS),
        "row keys": set(WalRow._fields),
        "card keys": set(Card._fields),
        "card values": {v for c in cards for v in (c.page, c.kind, c.color, c.pill) if v},
        "row values": {v for _, color, action in ROW_STYLE.values() for v in (color, action)},
        "message keys": set(MESSAGES) | {c.message_key for c in cards}
                        | {key for key, _, _ in ROW_STYLE.values()},
    }


def test_the_glossary_defines_every_code_the_cli_prints() -> None:
    terms = defined_terms()
    missing = {kind: sorted(codes - terms) for kind, codes in printed_codes().items()
               if codes - terms}
    assert missing == {}


def test_the_glossary_defines_the_words_a_newcomer_meets() -> None:
    assert {"gate", "stale guard", "miss", "card", "WAL", "cooldown", "retry budget", "stall",
            "setback", "policy", "seq", "head"} <= defined_terms()


def test_the_collection_sees_what_the_code_can_print() -> None:
    """Not an empty check: the collected codes include cards only the rules produce."""
    codes = printed_codes()
    assert {"needs_attention", "cooldown", "uploading"} <= codes["card values"]
    assert {"syncCardReadyCount", "syncCardNeedsAttention"} <= codes["message keys"]
    assert len(codes["why reasons"]) == 14  # every member of the Reason literal
