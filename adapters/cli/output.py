"""Printing what a command found, one way for every command: a table of text lines, one JSON
document, JSON Lines or CSV; times in ISO 8601 UTC, or in local time with `--local`."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from itertools import islice
from typing import Any, Final, TypeVar

import click

__all__ = ["TIME", "echo_json", "echo_json_list", "echo_json_listing", "emit", "localize",
           "take"]

T = TypeVar("T")
# Every time walsync prints matches this: text shows whole seconds, JSON the stored value.
TIME: Final = re.compile(r"\b(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d{1,6})?Z\b")


def localize(text: str) -> str:
    """The same text with each UTC time rewritten in this machine's time zone (with its offset)."""

    def local(match: re.Match[str]) -> str:
        moment = datetime.fromisoformat(match.group(1) + (match.group(2) or "") + "+00:00")
        try:
            return moment.astimezone().isoformat(timespec="seconds")
        except (OverflowError, OSError, ValueError):  # a time the local zone cannot show
            return match.group(0)

    return TIME.sub(local, text)


def take(items: Iterable[T], limit: int | None, reverse: bool) -> Iterator[T]:
    """`--reverse` first, then `-n`: the first `limit` items of the order shown."""
    ordered: Iterable[T] = reversed(list(items)) if reverse else items
    return iter(ordered) if limit is None else islice(ordered, limit)


def echo_json(value: Any, *, lines: bool = False) -> None:
    """One JSON document (indented) or one JSON Lines record."""
    click.echo(json.dumps(value, ensure_ascii=False, indent=None if lines else 2))


def echo_json_list(values: Iterable[Any], *, level: int = 0) -> int:
    """What `echo_json` prints for the list of `values` (nested `level` deep in a document),
    written item by item as they come: a year's stalled recordings explained make hundreds of
    megabytes of JSON. How many there were."""
    pad = "  " * (level + 1)
    count = 0
    for value in values:
        # json.dumps escapes a newline inside a string: every one here is indentation.
        item = json.dumps(value, ensure_ascii=False, indent=2).replace("\n", "\n" + pad)
        click.echo(("[\n" if count == 0 else ",\n") + pad + item, nl=False)
        count += 1
    click.echo("\n" + pad[2:] + "]" if count else "[]", nl=level == 0)
    return count


def echo_json_listing(document: Mapping[str, Any], key: str, values: Iterable[Any]) -> int:
    """What `echo_json` prints for `document` with the list of `values` at its FIRST key
    `key`, that list written item by item (`status --json` of a year's rows); how many."""
    if next(iter(document), None) != key:
        raise ValueError(f"{key!r} must be the document's first key")
    whole = json.dumps({**document, key: []}, ensure_ascii=False, indent=2)
    head, tail = whole.split(": []", 1)
    click.echo(head + ": ", nl=False)
    count = echo_json_list(values, level=1)
    click.echo(tail)
    return count


def _cell(value: Any) -> Any:
    return json.dumps(value, ensure_ascii=False) if isinstance(value, dict | list) else value


def emit(items: Iterable[T], output: str, *, text: Callable[[T], str],
         data: Callable[[T], Mapping[str, Any]], columns: Sequence[str],
         csv_row: Callable[[T], Sequence[Any]] | None = None, local: bool = False,
         whole: Callable[[list[Any]], Any] | None = None,
         footer: Callable[[int], str | None] | None = None) -> int:
    """Print `items` as `output` says and return how many there were.

    table: `text(item)` per item (then `footer(count)`); jsonl: `data(item)` per line; json: one
    document, the list of `data(item)` or `whole(that list)`; csv: a header of `columns`, then
    `csv_row(item)` (default: `data(item)`'s values for `columns`). Items stream unless the
    whole document is needed.
    """
    if output == "json":
        if whole is None:
            return echo_json_list(data(item) for item in items)
        collected = [data(item) for item in items]
        echo_json(whole(collected))
        return len(collected)
    count = 0
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n") if output == "csv" else None
    if writer is not None:
        writer.writerow(columns)
    for item in items:
        count += 1
        if writer is not None:
            writer.writerow(csv_row(item) if csv_row else [_cell(data(item).get(c)) for c in columns])
            click.echo(buffer.getvalue(), nl=False)
            buffer.seek(0)
            buffer.truncate()
        elif output == "jsonl":
            echo_json(data(item), lines=True)
        else:
            line = text(item)
            click.echo(localize(line) if local else line)
    if writer is not None and count == 0:
        click.echo(buffer.getvalue(), nl=False)
    if output == "table" and footer is not None and (last := footer(count)) is not None:
        click.echo(localize(last) if local else last)
    return count
