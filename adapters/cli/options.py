"""The options every command shares, so one convention holds everywhere (docs/cli.md):
checked values (times, seqs, URLs, tokens), output formats, `-n`/`--reverse`, `--local`,
`--force` for every file a command writes, and usage errors raised as such (exit code 2)."""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, TypeVar

import click

from walsync.core.serde import format_time

__all__ = ["FORMATS", "SEQ", "BackendUrl", "BearerToken", "IsoTime", "Number", "OutputFile", "cut",
           "db", "force_option", "fresh", "limit_options", "local_option", "output_options", "usage"]

F = TypeVar("F", bound=Callable[..., Any])
if TYPE_CHECKING:  # click 8.2+ types its parameter types by value; older clicks cannot subscript
    _TextParam = click.ParamType[str]
else:
    _TextParam = click.ParamType
# SQLite's INTEGER is 64-bit signed: a larger seq cannot be stored, so it cannot be asked for.
SEQ: Final = click.IntRange(min=0, max=2**63 - 1)
FORMATS: Final = ("table", "json", "jsonl", "csv")


def usage(message: str) -> None:
    """A usage error (the command line itself is wrong): one `Error:` line, exit code 2."""
    raise click.UsageError(message)


class IsoTime(_TextParam):
    """An ISO-8601 moment with an offset or `Z` (UTC when it has none), that exists in UTC.

    The value passed on is the canonical stored form (`2026-05-21T12:00:00.000000Z`), so every
    function below the CLI reads one format.
    """

    name = "ISO-8601"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        text = str(value).strip()
        try:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
            moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment
            return format_time(moment.astimezone(UTC))
        except ValueError:
            self.fail(f"{text!r} is not an ISO-8601 time (e.g. 2026-05-21T12:00:00Z)", param, ctx)
        except OverflowError:
            self.fail(f"{text!r} falls outside the years 0001-9999 once converted to UTC", param, ctx)


class Number(click.FloatRange):
    """A finite number in a range (click's own range lets `nan` and `inf` through)."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        return number


class BackendUrl(_TextParam):
    """An absolute http(s) URL with a host, as the HTTP client will read it."""

    name = "URL"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        from walsync.adapters.http.client import check_base_url

        text = str(value).strip()
        try:
            check_base_url(text)
        except ValueError as error:
            self.fail(str(error), param, ctx)
        return text


class BearerToken(_TextParam):
    """A bearer token an HTTP header can carry (`core.redaction.check_token`); the error says
    where the bad character is, never the token."""

    name = "TOKEN"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        from walsync.core.errors import InvalidToken
        from walsync.core.redaction import check_token

        text = str(value)
        try:
            check_token(text)
        except InvalidToken as error:
            self.fail(str(error), param, ctx)
        return text


class OutputFile(click.Path):
    """A file a command writes: refused when it exists unless `--force` is given (`fresh`)."""

    def __init__(self) -> None:
        super().__init__(dir_okay=False, path_type=None)


def force_option(what: str = "the file it writes") -> Callable[[F], F]:
    """`--force`: the one way to overwrite an existing file, for every command that writes one."""
    return click.option("--force", is_flag=True, help=f"Allow overwriting {what}.")


def db(function: F) -> F:
    """The `--db` option of a command that only reads the log."""
    return click.option("--db", "db_path", required=True, type=click.Path(dir_okay=False),
                        help="SQLite log file (opened read-only).")(function)


def cut(function: F) -> F:
    """The time-travel options `--at` and `--seq` (one or the other)."""

    @functools.wraps(function)
    def checked(*args: Any, cut_at: str | None, cut_seq: int | None, **kwargs: Any) -> Any:
        if cut_at is not None and cut_seq is not None:
            usage("give --at or --seq, not both")
        return function(*args, cut_at=cut_at, cut_seq=cut_seq, **kwargs)

    checked = click.option("--seq", "cut_seq", type=SEQ, help="Time travel: as of this seq.")(checked)
    return click.option("--at", "cut_at", type=IsoTime(),
                        help="Time travel: as of this moment (e.g. 2026-05-21T12:00:00Z).")(checked)  # type: ignore[return-value]  # click decorators return the same callable


def limit_options(function: F) -> F:
    """`-n/--limit N` and `--reverse`: the order is turned first, then the first N are kept, so
    `-n 20 --reverse` shows the newest 20, newest first."""
    function = click.option("--reverse", is_flag=True,
                            help="Newest (or last) first.")(function)
    return click.option("-n", "--limit", type=click.IntRange(min=0), default=None,
                        help="Show at most N (after --reverse).")(function)


def local_option(function: F) -> F:
    """`--local`: times in text output in this machine's time zone instead of UTC."""
    return click.option("--local", is_flag=True,
                        help="Show times in text output in local time (default UTC).")(function)


def output_options(formats: Sequence[str] = FORMATS, *, json_is: str = "json",
                   csv_flag: bool = False) -> Callable[[F], F]:
    """`-o/--output FORMAT` plus `--json` (the same as `-o json_is`) and, where asked, `--csv`;
    the command receives one `output` argument."""

    def decorate(function: F) -> F:
        @functools.wraps(function)
        def chosen(*args: Any, output: str | None, as_json: bool, as_csv: bool = False,
                   **kwargs: Any) -> Any:
            picked = [f for f, on in ((json_is, as_json), ("csv", as_csv)) if on]
            if output is not None:
                picked.append(output)
            if len(set(picked)) > 1:
                usage(f"choose one output format, not {' and '.join(sorted(set(picked)))}")
            return function(*args, output=picked[0] if picked else formats[0], **kwargs)

        if csv_flag:
            chosen = click.option("--csv", "as_csv", is_flag=True, help="Same as --output csv.")(chosen)
        chosen = click.option("--json", "as_json", is_flag=True,
                              help=f"Same as --output {json_is}.")(chosen)
        return click.option(  # type: ignore[return-value]  # click decorators return the same callable
            "-o", "--output", type=click.Choice(list(formats)), default=None,
            help=f"Output format (default {formats[0]}).")(chosen)

    return decorate


def fresh(path: str | Path, force: bool, *, reading: str | Path | None = None,
          sidecars: bool = False) -> None:
    """Before writing `path`: refuse an existing file unless `force` (and never the file being
    read) or one in a folder that does not exist or cannot be written (T82); with `force`,
    remove it (and a SQLite log's -wal and -shm) so it is written anew."""
    target = Path(path)
    if reading is not None and Path(reading).exists() and target.exists() and (
            target.resolve() == Path(reading).resolve()):
        raise click.ClickException(f"{target} is the log being read; write somewhere else")
    if target.exists() and not force:
        raise click.ClickException(f"{target} exists; pass --force to overwrite it")
    if target.is_dir():
        raise click.ClickException(f"{target} is a folder")
    folder = target.parent
    if not folder.is_dir():
        raise click.ClickException(f"cannot write {target}: the folder {folder} does not exist "
                                   "(create it first, or choose another path)")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise click.ClickException(f"cannot write {target}: the folder {folder} is not writable "
                                   "here (choose another path)")
    for suffix in ("", "-wal", "-shm") if sidecars else ("",):
        Path(f"{target}{suffix}").unlink(missing_ok=True)
