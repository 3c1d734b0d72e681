"""Mermaid text of the WAL state diagram, drawn by `transitions` from the same table."""

from __future__ import annotations

from transitions.extensions.diagrams import GraphMachine

from walsync.core.machine import transition_dicts
from walsync.core.states import NEW, STATES

__all__ = ["state_diagram_mermaid"]


class _DiagramModel:
    """A throwaway model: GraphMachine draws the graph of its first model."""


def state_diagram_mermaid() -> str:
    """The diagram as Mermaid `stateDiagram-v2` text (no Graphviz needed)."""
    model = _DiagramModel()
    GraphMachine(
        model=model,
        states=list(STATES),
        transitions=transition_dicts(),
        initial=NEW,
        auto_transitions=False,
        graph_engine="mermaid",
        title="WAL state machine",
        show_state_attributes=False,
    )
    text: str = model.get_graph().draw(None)  # type: ignore[attr-defined]  # GraphMachine adds it at run time
    # The active-state styling depends on the throwaway model, not on the table: drop it.
    lines = [ln.rstrip() for ln in text.splitlines()
             if not ln.strip().startswith(("Class ", "classDef"))]
    # transitions writes a bare title between "---" lines; Mermaid's front matter wants `title:`.
    body = lines[lines.index("stateDiagram-v2"):]
    return "\n".join(["---", "title: WAL state machine", "---", *body]) + "\n"
