"""The docs page that holds the state diagram, generated so a test can spot a stale copy."""

from __future__ import annotations

from walsync.core.diagram import state_diagram_mermaid
from walsync.core.states import TRANSITIONS

__all__ = ["diagram_markdown"]


def diagram_markdown() -> str:
    """docs/state-diagram.md: the Mermaid diagram plus the table it was drawn from."""
    table = "\n".join(f"| `{s}` | `{t}` | `{d}` |" for s, t, d in TRANSITIONS)
    return (
        "# The WAL state machine\n\n"
        "Generated from `core/states.py` by `walsync diagram --write`; "
        "`tests/unit/test_transition_table.py` fails when this page is stale.\n\n"
        f"```mermaid\n{state_diagram_mermaid()}```\n\n"
        "| from | trigger | to |\n|---|---|---|\n"
        f"{table}\n"
    )
