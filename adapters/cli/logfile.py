"""`walsync verify`, `export`, `import` and `replay`: a log file as a whole, checked, shared
and brought in; `replay` asks a shared log the same questions as a live one."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import click

from walsync.adapters.cli.inspect import log, report, status, timeline, why
from walsync.adapters.cli.options import Number, OutputFile, force_option, fresh, usage
from walsync.adapters.cli.output import echo_json
from walsync.adapters.store.share.limits import DEADLINE_S, MAX_BYTES, MIB

__all__ = ['export', 'import_', 'replay', 'verify']

_SHARED = "walsync.shared_copy"


@click.command()
@click.option("--db", "db_path", required=True, type=click.Path(dir_okay=False),
              help="SQLite log file (opened read-only, unless --repair).")
@click.option("--expect-head", metavar="SEQ:HASH",
              help="The anchored head to check against (catches a cut-off tail).")
@click.option("--full", is_flag=True,
              help="Also compare the projection tables with the fold of the log (opening "
                   "trusts them and checks only the rows after its verified checkpoint).")
@click.option("--repair", is_flag=True,
              help="With --full: salvage a damaged log as start-up does (the original moved "
                   "aside byte for byte) or rewrite tables that differ; then verify again.")
@click.option("--timeout", type=click.FloatRange(min=0), default=30.0, show_default=True,
              metavar="SECONDS",
              help="Stop reading the rows after this long (a file too slow to read); 0: no "
                   "limit (a year's log takes minutes).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def verify(db_path: str, expect_head: str | None, full: bool, repair: bool, timeout: float,
           as_json: bool) -> None:
    """Check integrity, gapless seq, stream versions and the hash chain; exit 1 if bad."""
    from walsync.adapters.store.readonly.full_check import verify_full
    from walsync.adapters.store.readonly.verify import verify_log

    if repair and not full:
        usage("--repair goes with --full")
    limit = timeout or float("inf")
    try:
        result = (verify_full if full else verify_log)(db_path, expect_head=expect_head,
                                                        timeout=limit)
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--expect-head") from error
    if repair and not result.ok:
        if not as_json:  # JSON: the report after the repair alone
            _print_verdict(result, expect_head, as_json)
        click.echo(_repair(db_path), err=as_json)
        result = verify_full(db_path, expect_head=expect_head, timeout=limit)
    _print_verdict(result, expect_head, as_json)
    if not result.ok:
        sys.exit(1)


def _print_verdict(result: Any, expect_head: str | None, as_json: bool) -> None:
    if as_json:
        click.echo(result.to_json())
    elif result.ok:
        click.echo(f"ok: {result.events} events, head {result.head_seq}:{result.head_hash}"
                   + ("" if expect_head else " (give --expect-head to catch a cut-off tail)"))
        if result.user_objects:
            click.echo(f"left alone, not walsync's: {', '.join(result.user_objects)}")
    elif result.first_bad_seq is None:
        click.echo(f"BAD: {result.problem}")
    else:
        click.echo(f"BAD at seq {result.first_bad_seq}: {result.problem}")


def _repair(db_path: str) -> str:
    """Repair the log (`repair_log`): what was done, in one line."""
    from walsync.adapters.bootstrap import repair_log

    salvaged = repair_log(db_path)
    if salvaged is not None:
        return (f"repaired: the damaged log was moved to {salvaged.moved_to} and its verified "
                f"prefix ({salvaged.kept} events) put in its place")
    return "repaired: the projection tables were rewritten from the log"


@click.command()
@click.option("--db", "db_path", required=True, type=click.Path(dir_okay=False),
              help="SQLite log file (opened read-only).")
@click.option("--out", required=True, type=OutputFile(),
              help="OUT.db (a SQLite snapshot), OUT.jsonl (JSON Lines) or OUT.jsonl.gz.")
@force_option("OUT")
@click.option("--redact/--no-redact", default=True, show_default=True,
              help="Replace device ids, file paths, conversation ids, tokens, cookies, URL "
                   "query values, e-mail and IP addresses with stable per-export pseudonyms "
                   "(hashes are re-chained). --no-redact is for a private copy only.")
@click.option("--token", "token", envvar="WALSYNC_TOKEN", default=None,
              help="With --redact, also remove every occurrence of this token, in any encoding "
                   "(default: $WALSYNC_TOKEN).")
@click.option("--json", "as_json", is_flag=True, help="Print what was exported as one JSON object.")
def export(db_path: str, out: str, force: bool, redact: bool, token: str | None,
           as_json: bool) -> None:
    """A consistent snapshot of the log to share, made with the backup API even while it is written."""
    from walsync.adapters.store.share.export import export_log

    fresh(out, force, reading=db_path)
    report = export_log(db_path, out, redact=redact, tokens=[token] if token else [])
    if as_json:
        echo_json({"out": report.out, "format": report.format, "events": report.events,
                   "head": report.head, "redacted": list(report.redacted)})
        return
    click.echo(f"exported {report.events} events to {report.out} ({report.format}; head "
               f"{report.head}" + ("; redacted: " + ", ".join(report.redacted) if report.redacted
                                  else "") + ")")


@click.command("import")
@click.argument("shared", type=click.Path(dir_okay=False))
@click.option("--into", "target", required=True, type=OutputFile(),
              help="The database file to create (never your own log).")
@force_option("the database file")
@click.option("--max-mb", type=Number(min=0.001), default=MAX_BYTES / MIB, show_default=True,
              help="Refuse a log larger than this, uncompressed, with its segments (MiB).")
@click.option("--max-seconds", type=Number(min=1.0), default=DEADLINE_S, show_default=True,
              help="Refuse a log whose checks take longer than this, each.")
@click.option("--json", "as_json", is_flag=True, help="Print what was imported as one JSON object.")
def import_(shared: str, target: str, force: bool, max_mb: float, max_seconds: float,
            as_json: bool) -> None:
    """Bring in a shared log (.db, .jsonl or .jsonl.gz) as hostile input: checked on a private
    copy. A year of a device's history is over the default limits: raise them for a log you
    trust."""
    from walsync.adapters.store.share.importer import import_log

    fresh(target, force, reading=shared, sidecars=True)
    count = import_log(shared, target, max_bytes=int(max_mb * MIB), deadline_s=max_seconds)
    if as_json:
        echo_json({"into": target, "events": count})
        return
    click.echo(f"imported {count} events into {target}; inspect it with walsync why --all --db "
               f"{target}")


def _on_shared_log(command: click.Command) -> click.Command:
    """`command` without its `--db`: it reads the checked private copy `replay` made."""
    callback: Callable[..., Any] = command.callback  # type: ignore[assignment]  # every command here has one

    def run(**kwargs: Any) -> Any:
        from walsync.adapters.store.share.importer import checked_copy

        ctx = click.get_current_context()
        shared = ctx.meta[_SHARED]
        copy = ctx.with_resource(checked_copy(shared))
        click.echo(f"replaying {shared} (checked; read from a private copy, nothing written)",
                   err=True)
        return callback(db_path=str(copy), **kwargs)

    return click.Command(command.name, callback=run, help=command.help,
                         params=[p for p in command.params if p.name != "db_path"])


class _Questions(click.Group):
    """`replay SHARED QUESTION ...`; with no question (or options only) the question is `status`."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and not args[0].startswith("-") and args[1:2] not in (["--help"], ["-h"]) and (
                len(args) == 1 or args[1].startswith("-")):
            args = [args[0], "status", *args[1:]]
        return super().parse_args(ctx, args)


@click.group(cls=_Questions)
@click.argument("shared", type=click.Path(dir_okay=False))
@click.pass_context
def replay(ctx: click.Context, shared: str) -> None:
    """Ask a shared log (.db, .jsonl, .jsonl.gz) what you would ask a live one (status by
    default; why, timeline, log, report, with the same options): checked as hostile input first,
    then read from a private copy; nothing is written."""
    ctx.meta[_SHARED] = shared


for _question in (status, log, why, timeline, report):
    replay.add_command(_on_shared_log(_question))
