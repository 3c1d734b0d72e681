"""One shared `transitions` Machine that guards the live path (never one Machine per WAL)."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from transitions import Machine

from walsync.core.states import NEW, STATES, TRANSITIONS

__all__ = ["allowed_dest", "guard_machine", "transition_dicts"]


def transition_dicts() -> list[dict[str, Any]]:
    """The table in the shape `transitions` takes."""
    return [{"trigger": t, "source": s, "dest": d} for s, t, d in TRANSITIONS]


@lru_cache(maxsize=1)
def guard_machine() -> Machine:
    """The Machine built with `model=None` from the table; asked, never mutated."""
    return Machine(
        model=None,
        states=list(STATES),
        transitions=transition_dicts(),
        initial=NEW,
        auto_transitions=False,
        ignore_invalid_triggers=False,
    )


def allowed_dest(state: str, trigger: str) -> str | None:
    """Where `trigger` leads from `state` according to the Machine, or None if illegal."""
    found = guard_machine().get_transitions(trigger, source=state)
    if not found:
        return None
    dest = found[0].dest
    return str(dest) if dest is not None else None
