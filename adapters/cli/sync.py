"""`walsync sync`: upload the recordings in a folder for real."""

from __future__ import annotations

import functools

import attrs
import click

from walsync.adapters.cli.options import BackendUrl, BearerToken, Number
from walsync.adapters.cli.output import echo_json
from walsync.core.policies import POLICIES

__all__ = ['sync']


@click.command()
@click.option("--db", "db_path", required=True, type=click.Path(dir_okay=False),
              help="SQLite log file (created if missing).")
@click.option("--backend", "backend_url", required=True, type=BackendUrl(),
              help="Backend base URL (http:// or https://).")
@click.option("--token", envvar="WALSYNC_TOKEN", required=True, type=BearerToken(),
              help="Bearer token (or set WALSYNC_TOKEN). Never written to the log or output.")
@click.option("--recordings", "recordings_dir", required=True,
              type=click.Path(file_okay=False, exists=True), help="Folder of .bin recordings.")
@click.option("--once", is_flag=True, help="One pass (register, upload, poll) then stop.")
@click.option("--policy", type=click.Choice(list(POLICIES)), default="walsync",
              show_default=True, help="Rule set the engine runs under.")
@click.option("--poll-seconds", type=Number(min=0.0), default=20.0, show_default=True,
              help="Longest wait between passes.")
@click.option("--max-minutes", type=Number(min=0.0), default=60.0, show_default=True,
              help="Stop after this long even if recordings are still pending.")
@click.option("--json", "as_json", is_flag=True,
              help="Print the run's summary as one JSON object (progress goes to stderr).")
@click.option("--fleet", "fleet_url", default=None, metavar="URL",
              help="After each pass, push the log's new events to this `walsync fleet serve`.")
@click.option("--fleet-token", envvar="WALSYNC_FLEET_TOKEN", default=None,
              help="The device's fleet token (or set WALSYNC_FLEET_TOKEN); it names the device.")
def sync(db_path: str, backend_url: str, token: str, recordings_dir: str, once: bool,
         policy: str, poll_seconds: float, max_minutes: float, as_json: bool,
         fleet_url: str | None, fleet_token: str | None) -> None:
    """Upload the recordings in a folder for real, until all are synced or stalled."""
    from walsync.adapters.push.client import push_after_pass
    from walsync.adapters.service.folder_sync import sync_directory

    if (fleet_url is None) != (fleet_token is None):
        raise click.UsageError("--fleet and --fleet-token (or WALSYNC_FLEET_TOKEN) go together")

    say = functools.partial(click.echo, err=as_json)

    def push() -> None:
        if fleet_url is not None and fleet_token is not None:
            push_after_pass(db_path, fleet_url, fleet_token, say)

    summary = sync_directory(db_path, backend_url=backend_url, token=token,
                             recordings_dir=recordings_dir, once=once, policy=policy,
                             poll_seconds=poll_seconds, max_seconds=max_minutes * 60,
                             say=say, after_pass=push)
    if as_json:
        echo_json(attrs.asdict(summary))
    else:
        click.echo(f"finished: {summary.finished_reason}")
