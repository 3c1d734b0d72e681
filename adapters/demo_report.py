"""What the demo prints at the end: rows, cards, cooldown history and each recording's story."""

from __future__ import annotations

from collections.abc import Callable

from walsync.adapters.engine import Engine
from walsync.adapters.render import card_text, gate_text, rows_table
from walsync.core.events import CooldownCleared, CooldownExpired, CooldownStarted
from walsync.projections.sentences import sentence

__all__ = ["print_report"]

_STALL_TYPES = frozenset({"UploadRateLimited", "UploadSkipped", "JobFailed", "JobNotFound",
                          "UploadFailed", "WalCorrupted", "UploadOutcomeUnknown"})
_SHOWN = 3


def print_report(engine: Engine, say: Callable[[str], None]) -> None:
    """Print the end state and, from the log alone, why each recording is where it is."""
    say("\nStatus rows")
    say(rows_table(engine.rows()))
    say(f"\nStatus card: {card_text(engine.card('sync'))}")
    say(f"Gate: {gate_text(engine.gate())}")
    say("\nCooldown history (from the log)")
    for row in engine.store.read(stream="gate"):
        event = row.event
        if isinstance(event, CooldownStarted | CooldownCleared | CooldownExpired):
            say(f"  seq {row.seq:>4} {event.at:%H:%M:%S}  {sentence(event)}")
    say("\nWhat stalled each recording, and where it is now (from the log alone)")
    for wal_row in engine.rows():
        stream = list(engine.store.read(stream=f"wal:{wal_row.wal_id}"))
        stalls = [r for r in stream if r.type in _STALL_TYPES]
        say(f"  {wal_row.wal_id}: {wal_row.text} (retry {wal_row.retry_count}/"
            f"{wal_row.retry_budget}); {len(stalls)} stall event(s)")
        shown = stalls[-_SHOWN:]
        if len(stalls) > _SHOWN:
            say(f"    ... {len(stalls) - _SHOWN} earlier stall event(s): walsync log --wal "
                f"{wal_row.wal_id}")
        for r in [*shown, stream[-1]] if stream and stream[-1] not in shown else shown:
            say(f"    seq {r.seq:>4} {r.event.at:%H:%M:%S}  {sentence(r.event)}")
