"""The `walsync` command line: a thin driving adapter over the same functions the tests call."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from walsync.adapters.log_queries import open_log_readonly, read_log
from walsync.adapters.render import (
    card_text,
    event_json,
    event_line,
    gate_text,
    rows_table,
    status_json,
)
from walsync.core.errors import WalsyncError
from walsync.core.policy import POLICIES, policy_named

__all__ = ["main"]

DIAGRAM_DOC = Path("docs") / "state-diagram.md"


def _fail(message: str) -> None:
    raise click.ClickException(message)


class _Commands(click.Group):
    """Typed walsync errors become one `Error: ...` line and exit code 1, never a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except WalsyncError as error:
            raise click.ClickException(str(error)) from error


@click.group(cls=_Commands, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="walsync")
def cli() -> None:
    """walsync: an event-sourced sync core for offline recordings, and its audit tools."""


@cli.command()
@click.option("--db", "db_path", default="walsync-demo.db", show_default=True,
              type=click.Path(dir_okay=False), help="SQLite log file to write.")
@click.option("--policy", type=click.Choice(sorted(POLICIES)), default="walsync",
              show_default=True, help="Rule set the engine runs under.")
@click.option("--force", is_flag=True, help="Overwrite the database if it exists.")
def demo(db_path: str, policy: str, force: bool) -> None:
    """Run the built-in scenario (fair-use throttling, then a saturated backend) and explain it."""
    from walsync.adapters.demo import run_demo
    from walsync.adapters.demo_report import print_report

    path = Path(db_path)
    if path.exists() and not force:
        _fail(f"{path} exists; pass --force to overwrite it or --db NEW.db")
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    engine = run_demo(path, policy_named(policy), click.echo)
    try:
        print_report(engine, click.echo)
    finally:
        engine.close()
    click.echo("\nInspect the log:")
    click.echo(f"  walsync status --db {path}")
    click.echo(f"  walsync log --db {path} --type CooldownStarted")
    click.echo(f"  sqlite-utils {path} 'select * from cooldowns'")  # noqa: S608 (text, not SQL)


@cli.command()
@click.option("--db", "db_path", required=True, type=click.Path(dir_okay=False),
              help="SQLite log file.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def status(db_path: str, as_json: bool) -> None:
    """The status rows, the status cards and the cooldown gate."""
    with open_log_readonly(db_path) as view:
        if as_json:
            click.echo(json.dumps(status_json(view.rows.values(), view.cards, view.gate),
                                  ensure_ascii=False, indent=2))
            return
        click.echo(rows_table(list(view.rows.values())))
        click.echo("")
        for page, card in view.cards.items():
            click.echo(f"card ({page} page): {card_text(card)}")
        click.echo(f"gate: {gate_text(view.gate)}")


@cli.command()
@click.option("--db", "db_path", required=True, type=click.Path(dir_okay=False),
              help="SQLite log file.")
@click.option("--wal", "wal_id", help="Only this recording's stream.")
@click.option("--type", "type_name", help="Only events of this type (e.g. CooldownStarted).")
@click.option("--json", "as_json", is_flag=True, help="JSON Lines: seq, at, stream, type, data.")
def log(db_path: str, wal_id: str | None, type_name: str | None, as_json: bool) -> None:
    """The events in order, with one plain-English sentence each."""
    for row in read_log(db_path, wal_id=wal_id, type_name=type_name):
        if as_json:
            click.echo(json.dumps(event_json(row), ensure_ascii=False))
        else:
            click.echo(event_line(row))


@cli.command()
@click.option("--write", is_flag=True, help=f"Rewrite {DIAGRAM_DOC} instead of printing.")
def diagram(write: bool) -> None:
    """The WAL state diagram (Mermaid), generated from the transition table."""
    from walsync.adapters.diagram_doc import diagram_markdown

    text = diagram_markdown()
    if write:
        DIAGRAM_DOC.write_text(text, encoding="utf-8")
        click.echo(f"wrote {DIAGRAM_DOC}")
    else:
        click.echo(text, nl=False)


def main(argv: list[str] | None = None) -> Any:
    """Console-script entry point."""
    return cli.main(args=argv, prog_name="walsync")


if __name__ == "__main__":
    main()
