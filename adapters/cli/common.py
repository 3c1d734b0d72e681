"""What the command modules share: options, errors, progress bars, the view printer."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from walsync.adapters.diagnosis.render import card_text, gate_text, rows_table, status_json
from walsync.adapters.store.readonly.unreadable import Unreadable

__all__ = ["cut", "db", "fail", "fresh", "print_view", "progress_bar", "warn_unreadable"]

_STEPS = 1000


def fail(message: str) -> None:
    """A runtime error: one `Error: ...` line, exit code 1."""
    raise click.ClickException(message)


def warn_unreadable(unreadable: Unreadable) -> None:
    """Rows a read-only diagnosis could not fold are named on stderr, never dropped silently."""
    note = unreadable.note()
    if note is not None:
        click.echo(f"warning: {note}", err=True)


def fresh(path: Path, force: bool) -> None:
    """Refuse to overwrite an existing log unless asked to; then clear it and its sidecars."""
    if path.exists() and not force:
        fail(f"{path} exists; pass --force to overwrite it, or choose another --db")
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


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


def db(function: Any) -> Any:
    """The `--db` option of a command that only reads the log."""
    return click.option("--db", "db_path", required=True, type=click.Path(dir_okay=False),
                        help="SQLite log file (opened read-only).")(function)


def cut(function: Any) -> Any:
    """The time-travel options `--at` and `--seq`."""
    function = click.option("--seq", "cut_seq", type=click.IntRange(min=0),
                            help="Time travel: as of this seq.")(function)
    return click.option("--at", "cut_at", metavar="ISO-8601",
                        help="Time travel: as of this moment (e.g. 2026-05-21T12:00:00Z).")(function)


def print_view(view: Any, cut: Any, as_json: bool, heading: str | None) -> None:
    """Rows, cards and gate of a projection, as text or as one JSON object."""
    if as_json:
        payload = status_json(view.rows.values(), view.cards, view.gate)
        payload["as_of_seq"] = cut.seq
        if cut.note:
            payload["cut_note"] = cut.note
        click.echo(json.dumps(payload, ensure_ascii=False, indent=2))
        return
    if heading:
        click.echo(heading)
    click.echo(rows_table(list(view.rows.values())))
    click.echo("")
    for page, card in view.cards.items():
        click.echo(f"card ({page} page): {card_text(card)}")
    click.echo(f"gate: {gate_text(view.gate)}")

