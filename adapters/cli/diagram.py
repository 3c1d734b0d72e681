"""`walsync diagram`: the docs page that holds the state diagram, generated from the transition
table so a test can spot a stale copy."""

from __future__ import annotations

from pathlib import Path

import click

from walsync.core.diagram import state_diagram_mermaid
from walsync.core.states import TRANSITIONS

DIAGRAM_DOC = Path("docs") / "state-diagram.md"
__all__ = ["DIAGRAM_DOC", "diagram", "diagram_markdown"]


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


@click.command()
@click.option("--write", is_flag=True, help=f"Rewrite {DIAGRAM_DOC} instead of printing.")
def diagram(write: bool) -> None:
    """The WAL state diagram (Mermaid), generated from the transition table."""
    text = diagram_markdown()
    if write:
        DIAGRAM_DOC.write_text(text, encoding="utf-8")
        click.echo(f"wrote {DIAGRAM_DOC}")
    else:
        click.echo(text, nl=False)

