"""`walsync compact`: history older than a horizon moved into a sealed segment beside the log."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Final, TypeVar

import click

from walsync.adapters.cli.options import IsoTime
from walsync.adapters.cli.output import echo_json

__all__ = ["compact", "retention_option"]

F = TypeVar("F", bound=Callable[..., Any])
_UNITS: Final = {"d": 86_400, "h": 3_600, "m": 60, "s": 1}
_DURATION: Final = re.compile(r"(\d{1,6})([dhms])")
if TYPE_CHECKING:  # click 8.2+ types its parameter types by value
    _Param = click.ParamType[timedelta]
else:
    _Param = click.ParamType


class Duration(_Param):
    """A span like `30d`, `12h`, `90m` or `3600s`."""

    name = "DURATION"

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> timedelta:
        if isinstance(value, timedelta):
            return value
        match = _DURATION.fullmatch(str(value).strip())
        if match is None:
            self.fail(f"{value!r} is not a duration such as 30d, 12h, 90m or 3600s", param, ctx)
        return timedelta(seconds=int(match[1]) * _UNITS[match[2]])


def _horizon(ctx: click.Context, param: click.Parameter, value: str) -> timedelta | None:
    """`--retention`: a duration, or `off`."""
    return None if value.strip().lower() == "off" else Duration().convert(value, param, ctx)


def retention_option(function: F) -> F:
    """`--retention`: after each pass, compact the log in the background, a step at a time."""
    return click.option(
        "--retention", "horizon", default="30d", show_default=True, callback=_horizon,
        metavar="DURATION|off",
        help="After each pass, seal history older than this into segment files beside the "
             "log, one bounded step at a time once it is a day past it (`off`: never; "
             "`walsync compact` does it by hand).")(function)


@click.command()
@click.option("--db", "db_path", required=True, type=click.Path(dir_okay=False),
              help="SQLite log file to compact (written: run it while no engine writes).")
@click.option("--older-than", "older_than", type=Duration(), default="30d", show_default=True,
              help="The horizon: history from before now minus this moves out of the live log.")
@click.option("--now", "now", type=IsoTime(), default=None,
              help="The moment the horizon is counted back from (default: the clock's now).")
@click.option("--no-vacuum", is_flag=True,
              help="Leave the freed pages in the file (VACUUM rewrites the whole log).")
@click.option("--json", "as_json", is_flag=True, help="Print what was done as one JSON object.")
def compact(db_path: str, older_than: timedelta, now: str | None, no_vacuum: bool,
            as_json: bool) -> None:
    """Move history older than --older-than into a sealed segment file beside the log.

    The segment (gzip-compressed JSON Lines, named after its seq range) is written and fsynced
    first; then one transaction anchors it with a SegmentSealed event, carries the live view
    into the live log (StateCarried) and deletes the moved rows. `verify` checks the chain
    across the segments and the live log."""
    from walsync.adapters.store.segments.compact import compact_log
    from walsync.core.serde import parse_time

    moment = parse_time(now) if now is not None else datetime.now(UTC)
    report = compact_log(db_path, older_than=older_than, now=moment, vacuum=not no_vacuum)
    if as_json:
        echo_json(report.to_json())
    elif report.segment is None:
        click.echo(f"nothing to compact: no whole commit before {report.horizon}")
    else:
        into = (f"{report.segment} ({report.segment_bytes} bytes, sha256 {report.sha256})"
                if report.segments == 1 else
                f"{report.segments} segments ({report.segment_bytes} bytes; the last "
                f"{report.segment}, sha256 {report.sha256})")
        click.echo(f"sealed seq {report.first_seq}-{report.last_seq} ({report.events} events) "
                   f"into {into}; {report.carried} recording(s) carried into the live "
                   f"log, {report.archived} archived; live log {report.log_bytes_before} -> "
                   f"{report.log_bytes_after} bytes")
