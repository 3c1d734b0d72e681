"""What the command modules share besides options (`options.py`) and printing (`output.py`):
runtime errors, progress bars, warnings, and the status view every reading command prints."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, Final

import click

from walsync.adapters.cli.output import echo_json, echo_json_listing, emit, localize, take
from walsync.adapters.diagnosis.render import card_text, gate_text, rows_table, status_json
from walsync.adapters.store.readonly.unreadable import Unreadable
from walsync.core.states import FINISHED_STATES
from walsync.projections.wal_rows import ROW_STYLE, WalRow

__all__ = ["DISPLAY_STATES", "ROW_COLUMNS", "fail", "print_view", "progress_bar", "warn_unreadable"]

_STEPS = 1000
# The display states in the order the app lists them (`status --state`'s choices).
DISPLAY_STATES: Final = ("waiting", "retrying", "failed", "syncing", "uploaded", "synced",
                         "corrupted")
ROW_COLUMNS = WalRow._fields


def fail(message: str) -> None:
    """A runtime error: one `Error: ...` line, exit code 1."""
    raise click.ClickException(message)


def warn_unreadable(unreadable: Unreadable) -> None:
    """Rows a read-only diagnosis could not fold are named on stderr, never dropped silently."""
    note = unreadable.note()
    if note is not None:
        click.echo(f"warning: {note}", err=True)


@contextmanager
def progress_bar(label: str) -> Iterator[Callable[[float], None]]:
    """A progress bar on stderr; the body reports the fraction done (0 to 1) through the
    callable it is given, and the bar is filled when the body ends."""
    with click.progressbar(length=_STEPS, label=label, file=sys.stderr, show_eta=False) as bar:
        done = 0

        def progress(fraction: float) -> None:
            nonlocal done
            step = min(_STEPS, int(fraction * _STEPS))
            bar.update(step - done)
            done = step

        yield progress
        bar.update(_STEPS - done)


def print_view(view: Any, cut: Any, output: str, heading: str | None, *,
               states: Sequence[str] = (), limit: int | None = None, reverse: bool = False,
               local: bool = False, lines: bool = False) -> None:
    """Rows (filtered by display state, then `--reverse` and `-n`), cards and gate of a projection:
    as text, as one JSON object (today's shape; on one line with `lines`, for a stream of them),
    or the rows alone as JSON Lines or CSV."""
    rows: list[WalRow] = [r for r in view.rows.values() if r.display in states] if states else [
        r for r in view.rows.values() if r.state not in FINISHED_STATES]
    rows = list(take(rows, limit, reverse))
    if output in ("jsonl", "csv"):
        emit(rows, output, text=str, data=lambda r: r._asdict(), columns=ROW_COLUMNS)
        return
    if output == "json":
        payload = status_json([] if not lines else rows, view.cards, view.gate)
        payload["displays"] = _counts(view.displays)
        payload["as_of_seq"] = cut.seq
        if getattr(view, "archived", 0):  # a compacted log (store/segments/)
            payload["archived"] = view.archived
        if cut.note:
            payload["cut_note"] = cut.note
        if lines:  # --watch: one document per line
            echo_json(payload, lines=True)
        else:  # the rows written one by one (a year's log: tens of thousands)
            echo_json_listing(payload, "rows", (r._asdict() for r in rows))
        return
    text = [heading] if heading else []
    text += [rows_table(rows), _counts_line(view.displays, states), ""]
    text += [f"card ({page} page): {card_text(card)}" for page, card in view.cards.items()]
    text.append(f"gate: {gate_text(view.gate)}")
    if getattr(view, "archived", 0):
        text.append(f"archived: {view.archived} finished recording(s) whose history retention "
                    "moved into sealed segments")
    for line in text:
        click.echo(localize(line) if local else line)




def _counts(displays: Mapping[str, int]) -> dict[str, int]:
    """Every recording by display state, in the app's order (none left out: zeros dropped)."""
    order = {name: at for at, name in enumerate(DISPLAY_STATES)}
    return {name: n for name, n in sorted(displays.items(),
                                          key=lambda item: (order.get(item[0], 99), item[0])) if n}


def _counts_line(displays: Mapping[str, int], states: Sequence[str]) -> str:
    """The counts under the table: the rows shown are the live ones unless --state chose."""
    counts = ", ".join(f"{n} {name}" for name, n in _counts(displays).items()) or "none"
    if set(states) >= set(ROW_STYLE):  # every display state: `status --all`
        shown = "every recording"
    elif states:
        shown = "those in the chosen states"
    else:
        shown = "those not finished; --state synced or --state corrupted lists the finished"
    return f"recordings: {counts} (rows shown: {shown})"
