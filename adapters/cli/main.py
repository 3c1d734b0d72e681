"""The `walsync` command line: a thin driving adapter over the same functions the tests call.

Each command group is a module of its own; this one makes the group and the entry point, and
holds the exit codes: 0 done (also when the reader of a pipe, such as `head`, stopped reading),
1 a runtime error, 2 a usage error, 130 Ctrl-C; every error is one `Error: ...` line on stderr.
"""

from __future__ import annotations

import os
import sys
from typing import IO, Any

import click

from walsync.adapters.cli.diagram import diagram, policies
from walsync.adapters.cli.fleet import fleet, ingest
from walsync.adapters.cli.inspect import log, report, status, timeline, why
from walsync.adapters.cli.logfile import export, import_, replay, verify
from walsync.adapters.cli.retention import compact
from walsync.adapters.cli.sim import demo, incidents, serve_sim, simulate
from walsync.adapters.cli.sync import sync, watch
from walsync.core.errors import WalsyncError

__all__ = ["Interrupted", "OneLineUsageError", "cli", "main"]


class OneLineUsageError(click.ClickException):
    """A usage error shown as one line (click shows usage, a hint and the error on four), exit 2."""

    exit_code = 2

    def __init__(self, error: click.UsageError) -> None:
        hint = ""
        if error.ctx is not None:
            hint = f" (see '{error.ctx.command_path} --help')"
        super().__init__(" ".join(error.format_message().split()) + hint)

    def show(self, file: IO[Any] | None = None) -> None:
        click.echo(f"Error: {self.format_message()}", err=True, file=file)


def _stop_writing_stdout() -> None:
    """The reader of our stdout is gone (`walsync log | head -1`): send the rest, and the final
    flush at exit, to /dev/null, so the command ends quietly with exit code 0."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # not a real file (e.g. a test's capture)
        pass


class _Commands(click.Group):
    """Typed walsync errors become one `Error: ...` line and exit code 1 (so does a fleet command
    run where PostgreSQL's driver, the `fleet` extra, is not installed, and so does an error of the
    file system: a folder gone, a disk full), usage errors one line and exit code 2, a closed
    pipe exit code 0; never a traceback for any of them."""

    def make_context(self, info_name: str | None, args: list[str],
                     parent: click.Context | None = None, **extra: Any) -> click.Context:
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except click.UsageError as error:
            raise OneLineUsageError(error) from error

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.UsageError as error:
            raise OneLineUsageError(error) from error
        except WalsyncError as error:  # one line, whatever the message held (a driver's)
            raise click.ClickException(" ".join(str(error).split())) from error
        except ModuleNotFoundError as error:
            missing = (error.name or "").split(".")[0]
            if missing in ("starlette", "uvicorn"):
                raise click.ClickException(f"`walsync fleet serve` needs {missing}: "
                                           "pip install 'walsync[fleet]'") from error
            if missing == "msgspec":
                raise click.ClickException("the fleet's ingest needs msgspec: "
                                           "pip install 'walsync[fleet]'") from error
            if missing != "psycopg":
                raise
            raise click.ClickException("the fleet commands need PostgreSQL's driver: "
                                       "pip install 'walsync[fleet]'") from error
        except BrokenPipeError:
            _stop_writing_stdout()
            ctx.exit(0)
        except OSError as error:  # the file system said no where no check could foresee it
            raise click.ClickException(_os_error(error)) from error
        except KeyboardInterrupt as error:  # click would print "Aborted!" and exit 1
            raise Interrupted() from error


class Interrupted(click.ClickException):
    """Ctrl-C in a command that does not stop on it by design (the followers, `watch` and
    `sync` do, exit 0): one `Error:` line saying what may be left, exit code 130 (128 + SIGINT,
    as a shell reports a command Ctrl-C ended)."""

    exit_code = 130

    def __init__(self) -> None:
        super().__init__("interrupted (Ctrl-C); a file it was writing may be incomplete: run the "
                         "command again (with --force where it writes a file)")


def _os_error(error: OSError) -> str:
    """An OSError as one line: the file it names, what the system said."""
    if error.filename is not None and error.strerror:
        return f"{error.filename}: {error.strerror}"
    return str(error) or type(error).__name__


@click.group(cls=_Commands, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="walsync")
def cli() -> None:
    """walsync: an event-sourced sync core for offline recordings, and its audit tools."""


for command in (demo, simulate, incidents, serve_sim, sync, watch, status, log, why, report, verify, export,
                import_, replay, compact, timeline, diagram, policies, ingest, fleet):
    cli.add_command(command)


def main(argv: list[str] | None = None) -> Any:
    """Console-script entry point."""
    return cli.main(args=argv, prog_name="walsync")


if __name__ == "__main__":
    main()
