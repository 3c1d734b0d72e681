"""The `walsync` command line: a thin driving adapter over the same functions the tests call.

Each command group is a module of its own; this one makes the group and the entry point.
"""

from __future__ import annotations

from typing import Any

import click

from walsync.adapters.cli.diagram import diagram
from walsync.adapters.cli.fleet import fleet, ingest
from walsync.adapters.cli.inspect import log, report, status, timeline, why
from walsync.adapters.cli.logfile import export, import_, replay, verify
from walsync.adapters.cli.sim import demo, incidents, serve_sim, simulate
from walsync.adapters.cli.sync import sync
from walsync.core.errors import WalsyncError

__all__ = ["cli", "main"]


class _Commands(click.Group):
    """Typed walsync errors become one `Error: ...` line and exit code 1, never a traceback;
    so does a fleet command run where PostgreSQL's driver (the `fleet` extra) is not installed."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except WalsyncError as error:
            raise click.ClickException(str(error)) from error
        except ModuleNotFoundError as error:
            if (error.name or "").split(".")[0] != "psycopg":
                raise
            raise click.ClickException("the fleet commands need PostgreSQL's driver: "
                                       "pip install 'walsync[fleet]'") from error


@click.group(cls=_Commands, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="walsync")
def cli() -> None:
    """walsync: an event-sourced sync core for offline recordings, and its audit tools."""


for command in (demo, simulate, incidents, serve_sim, sync, status, log, why, report, verify, export,
                import_, replay, timeline, diagram, ingest, fleet):
    cli.add_command(command)


def main(argv: list[str] | None = None) -> Any:
    """Console-script entry point."""
    return cli.main(args=argv, prog_name="walsync")



if __name__ == "__main__":
    main()
