"""Text and JSON renderings of the projections, shared by the CLI commands and the demo."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from walsync.adapters.ports import StoredEvent
from walsync.core.serde import format_time
from walsync.core.upcast import readable
from walsync.projections.card import Card
from walsync.projections.sentences import sentence, time_text
from walsync.projections.view import GateRow
from walsync.projections.wal_rows import WalRow

__all__ = ["card_text", "event_json", "event_line", "gate_json", "gate_text", "rows_table",
           "status_json"]

_MARK = {"spinner": "⟳", "retry": "[Retry]", "chevron": "›"}


def rows_table(rows: Sequence[WalRow]) -> str:
    """One line per recording: id, display state, the app's text, retry count, job."""
    if not rows:
        return "(no recordings)"
    width = max(len(r.wal_id) for r in rows)
    lines = [f"{'recording':<{width}}  {'display':<9}  {'retries':<7}  row text"]
    for r in rows:
        job = f"  job {r.job_id}" if r.job_id else ""
        lines.append(f"{r.wal_id:<{width}}  {r.display:<9}  {r.retry_count}/{r.retry_budget:<5}"
                     f"  {r.text} {_MARK[r.action]}{job}")
    return "\n".join(lines)


def card_text(card: Card) -> str:
    """The card as the app would show it."""
    text = f"[{card.color}] {card.text}"
    if card.detail:
        text += f" · {card.detail}"
    if card.pill:
        text += f"  ({card.pill.capitalize()})"
    if card.spinner:
        text += "  ⟳"
    return text


def gate_text(gate: GateRow) -> str:
    """The cooldown gate in one line."""
    g = gate.gate
    if not g.limited or g.until is None:
        return "uploads open (no cooldown)"
    return f"uploads paused until {time_text(g.until)} ({g.reason}, set by seq {gate.set_by_seq})"


def gate_json(gate: GateRow) -> dict[str, Any]:
    """The gate as JSON-ready data."""
    g = gate.gate
    return {"limited": g.limited, "reason": g.reason,
            "until": format_time(g.until) if g.until else None,
            "set_at": format_time(g.set_at) if g.set_at else None,
            "set_by_seq": gate.set_by_seq}


def status_json(rows: Iterable[WalRow], cards: dict[str, Card], gate: GateRow) -> dict[str, Any]:
    """`walsync status --json`: rows, both cards and the gate."""
    return {"rows": [r._asdict() for r in rows],
            "cards": {page: c._asdict() for page, c in cards.items()},
            "gate": gate_json(gate)}


def event_json(row: StoredEvent) -> dict[str, Any]:
    """One log row for JSON Lines output."""
    return {"seq": row.seq, "at": row.at, "stream": row.stream, "version": row.version,
            "type": row.type, "event_id": row.event_id, "data": row.fields}


def event_line(row: StoredEvent) -> str:
    """One log row as text: seq, time, stream, type and its sentence (or, for a row of an
    unknown type or newer schema version, that it cannot be read: listed, never skipped)."""
    text = (sentence(row.event) if readable(row.type, row.schema_version) else
            f"(unknown type/version: schema version {row.schema_version}; upgrade walsync to read it)")
    return f"{row.seq:>6}  {time_text(row.at)}  {row.stream:<24} {row.type:<20} {text}"
