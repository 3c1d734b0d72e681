"""`walsync verify`, `export`, `import` and `replay`: a log file as a whole, checked, shared
and brought in."""

from __future__ import annotations

import sys

import click

from walsync.adapters.cli.common import cut, db, print_view, warn_unreadable
from walsync.adapters.store.readonly.unreadable import Unreadable

__all__ = ['export', 'import_', 'replay', 'verify']


@click.command()
@db
@click.option("--expect-head", metavar="SEQ:HASH",
              help="The anchored head to check against (catches a cut-off tail).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def verify(db_path: str, expect_head: str | None, as_json: bool) -> None:
    """Check integrity, gapless seq, stream versions and the hash chain; exit 1 if bad."""
    from walsync.adapters.store.readonly.verify import verify_log

    try:
        result = verify_log(db_path, expect_head=expect_head)
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--expect-head") from error
    if as_json:
        click.echo(result.to_json())
    elif result.ok:
        click.echo(f"ok: {result.events} events, head {result.head_seq}:{result.head_hash}"
                   + ("" if expect_head else " (give --expect-head to catch a cut-off tail)"))
    else:
        click.echo(f"BAD at seq {result.first_bad_seq}: {result.problem}")
    if not result.ok:
        sys.exit(1)


@click.command()
@db
@click.option("--out", required=True, type=click.Path(dir_okay=False),
              help="OUT.db (a SQLite snapshot), OUT.jsonl (JSON Lines) or OUT.jsonl.gz; never "
                   "overwritten.")
@click.option("--redact/--no-redact", default=True, show_default=True,
              help="Replace device ids, file paths, conversation ids, tokens, cookies, URL "
                   "query values, e-mail and IP addresses with stable per-export pseudonyms "
                   "(hashes are re-chained). --no-redact is for a private copy only.")
@click.option("--token", "token", envvar="WALSYNC_TOKEN", default=None,
              help="With --redact, also remove every occurrence of this token, in any encoding "
                   "(default: $WALSYNC_TOKEN).")
def export(db_path: str, out: str, redact: bool, token: str | None) -> None:
    """A consistent snapshot of the log to share, made with the backup API even while it is written."""
    from walsync.adapters.store.share.export import export_log

    report = export_log(db_path, out, redact=redact, tokens=[token] if token else [])
    click.echo(f"exported {report.events} events to {report.out} ({report.format}; head "
               f"{report.head}" + ("; redacted: " + ", ".join(report.redacted) if report.redacted
                                  else "") + ")")


@click.command("import")
@click.argument("shared", type=click.Path(dir_okay=False))
@click.option("--into", "target", required=True, type=click.Path(dir_okay=False),
              help="A NEW database file to create (never your own log).")
def import_(shared: str, target: str) -> None:
    """Bring in a shared log (.db, .jsonl or .jsonl.gz) as hostile input: checked on a private copy."""
    from walsync.adapters.store.share.importer import import_log

    count = import_log(shared, target)
    click.echo(f"imported {count} events into {target}; inspect it with walsync why --all --db "
               f"{target}")


@click.command()
@click.argument("shared", type=click.Path(dir_okay=False))
@cut
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def replay(shared: str, cut_at: str | None, cut_seq: int | None, as_json: bool) -> None:
    """Rebuild every projection from a shared log offline, in memory, writing nothing."""
    from walsync.adapters.diagnosis.why import projection_from
    from walsync.adapters.store.share.importer import open_shared_log

    unreadable = Unreadable()
    with open_shared_log(shared, diagnosis=True) as conn:
        view, cut = projection_from(conn, at=cut_at, seq=cut_seq, unreadable=unreadable)
    warn_unreadable(unreadable)
    print_view(view, cut, as_json, f"replayed {cut.seq} events from {shared} (checked, read-only)")

