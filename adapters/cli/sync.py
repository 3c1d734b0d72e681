"""`walsync sync` and `walsync watch`: upload the recordings in a folder for real, in a batch
run or as they appear."""

from __future__ import annotations

import functools
import shlex
import signal
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import FrameType
from typing import Any, TypeVar

import attrs
import click

from walsync.adapters.cli.follow import until_stopped
from walsync.adapters.cli.options import BackendUrl, BearerToken, Number
from walsync.adapters.cli.output import echo_json
from walsync.adapters.cli.retention import retention_option
from walsync.core.policies import POLICIES

__all__ = ['sync', 'watch']

F = TypeVar("F", bound=Callable[..., Any])


def _log_and_backend(function: F) -> F:
    """`--db` (the log, created if missing) and `--backend`: where a folder's uploads go."""
    function = click.option("--backend", "backend_url", required=True, type=BackendUrl(),
                            help="Backend base URL (http:// or https://).")(function)
    return click.option("--db", "db_path", required=True, type=click.Path(dir_okay=False),
                        help="SQLite log file (created if missing).")(function)


def _fleet_push(function: F) -> F:
    """`--fleet` and `--fleet-token`, which go together: push the log's tail after each pass."""

    @functools.wraps(function)
    def checked(*args: Any, fleet_url: str | None, fleet_token: str | None, **kwargs: Any) -> Any:
        if (fleet_url is None) != (fleet_token is None):
            raise click.UsageError("--fleet and --fleet-token (or WALSYNC_FLEET_TOKEN) go together")
        return function(*args, fleet_url=fleet_url, fleet_token=fleet_token, **kwargs)

    checked = click.option("--fleet-token", envvar="WALSYNC_FLEET_TOKEN", default=None,
                           help="The device's fleet token (or set WALSYNC_FLEET_TOKEN); it names "
                                "the device.")(checked)
    return click.option("--fleet", "fleet_url", default=None, metavar="URL",  # type: ignore[return-value]  # click decorators return the same callable
                        help="After each pass, push the log's new events to this "
                             "`walsync fleet serve`.")(checked)


@click.command()
@_log_and_backend
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
@_fleet_push
@retention_option
def sync(db_path: str, backend_url: str, token: str, recordings_dir: str, once: bool,
         policy: str, poll_seconds: float, max_minutes: float, as_json: bool,
         fleet_url: str | None, fleet_token: str | None, horizon: timedelta | None) -> None:
    """Upload the recordings in a folder for real, until all are synced or stalled.

    Ctrl-C or SIGTERM stops it (exit code 0, the log closed); the next run goes on."""
    from walsync.adapters.push.client import push_after_pass
    from walsync.adapters.service.folder_sync import sync_directory
    from walsync.adapters.service.retention import BackgroundRetention

    retention = BackgroundRetention(db_path, horizon) if horizon is not None else None

    say = functools.partial(click.echo, err=as_json)

    def push() -> None:
        if fleet_url is not None and fleet_token is not None:
            push_after_pass(db_path, fleet_url, fleet_token, say)
        if retention is not None:  # the engine's clock is the system's here
            sealed = retention.step(datetime.now(UTC))
            if sealed is not None:
                say(f"retention: seq {sealed.first_seq}-{sealed.last_seq} sealed into "
                    f"{sealed.segment} ({sealed.archived} finished recording(s) archived)")

    # Ctrl-C or SIGTERM: sync_directory closes the log on the way out, and the run ends as
    # `watch` does, exit code 0 (it printed "Aborted!" and exited 1; SIGTERM killed it; T85).
    with until_stopped() as stopped:
        summary = sync_directory(db_path, backend_url=backend_url, token=token,
                                 recordings_dir=recordings_dir, once=once, policy=policy,
                                 poll_seconds=poll_seconds, max_seconds=max_minutes * 60,
                                 say=say, after_pass=push)
    if stopped.is_set():
        say(f"stopped by a signal; the log {db_path} keeps everything committed. An upload "
            "that was out shows as syncing until its claim lapses (about a minute after it "
            "started), then the next run sends it again. Run "
            "the same command again to go on; `walsync status --db "
            f"{shlex.quote(db_path)}` shows where each recording stands.")
        return
    if as_json:
        echo_json(attrs.asdict(summary))
    else:
        click.echo(f"finished: {summary.finished_reason}")


def _token_from(token: str | None, token_file: str | None) -> str:
    """The token given, or the first line of the token file; a usage error without either."""
    if (token is None) == (token_file is None):
        raise click.UsageError("give one of --token (or WALSYNC_TOKEN) and --token-file")
    if token is not None:
        return token
    assert token_file is not None
    return BearerToken().convert(Path(token_file).read_text(encoding="utf-8").strip(), None, None)


@click.command()
@_log_and_backend
@click.option("--token", envvar="WALSYNC_TOKEN", default=None, type=BearerToken(),
              help="Bearer token (or set WALSYNC_TOKEN). Never written to the log or output.")
@click.option("--token-file", default=None, type=click.Path(dir_okay=False, exists=True),
              help="A file holding the bearer token (its first line).")
@click.option("--recordings", "recordings_dir", required=True,
              type=click.Path(file_okay=False, exists=True), help="Folder of .bin recordings.")
@click.option("--policy", type=click.Choice(list(POLICIES)), default="walsync",
              show_default=True, help="Rule set the engine runs under.")
@click.option("--settle-seconds", type=Number(min=0.0), default=1.0, show_default=True,
              help="A file is complete once its size held still this long.")
@click.option("--poll-seconds", type=Number(min=0.05), default=None,
              help="List the folder on this interval instead of filesystem events.")
@click.option("--stop-timeout", type=Number(min=0.0), default=5.0, show_default=True,
              help="On SIGTERM or Ctrl-C, stop within this many seconds.")
@click.option("--json", "as_json", is_flag=True,
              help="Print each state change as one JSON object per line.")
@_fleet_push
@retention_option
def watch(db_path: str, backend_url: str, token: str | None, token_file: str | None,
          recordings_dir: str, policy: str, settle_seconds: float, poll_seconds: float | None,
          stop_timeout: float, as_json: bool, fleet_url: str | None,
          fleet_token: str | None, horizon: timedelta | None) -> None:
    """Upload a folder's recordings as they appear, until SIGTERM or Ctrl-C (exit 0)."""
    from walsync.adapters.bootstrap import open_engine
    from walsync.adapters.push.client import push_after_pass
    from walsync.adapters.service.watch import watch_folder
    from walsync.core.redaction import TokenScrubber, token_warning

    secret = _token_from(token, token_file)
    scrub = TokenScrubber(secret)
    say = functools.partial(click.echo, err=as_json)

    def tell(text: str) -> None:
        say(scrub(text))

    def show(change: dict[str, Any]) -> None:
        if as_json:
            echo_json(change, lines=True)
        elif "gate" in change:
            click.echo(scrub(f"{change['at']} gate: {change['text']}"))
        else:
            click.echo(scrub(f"{change['at']} {change['wal_id']}: {change['state']} "
                             f"({change['text']})"))

    warning = token_warning(secret)
    if warning is not None:
        tell(f"warning: {warning}")
    def push(_engine: object) -> None:
        if fleet_url is not None and fleet_token is not None:
            push_after_pass(db_path, fleet_url, fleet_token, tell)

    stopped, wake = threading.Event(), threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stopped.set()
        wake.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        # A token file is read again when the backend refuses the token (a sign-in elsewhere
        # wrote a new one): it is the client's token provider.
        source: Any = secret if token_file is None else functools.partial(
            _token_from, None, token_file)
        engine = open_engine(db_path, base_url=backend_url, token=source,
                             recordings_dir=recordings_dir, policy=policy)
        try:
            tell(f"watching {recordings_dir} (log {db_path}); SIGTERM or Ctrl-C stops")
            summary = watch_folder(engine, Path(recordings_dir), stopped=stopped, wake=wake,
                                   tell=tell, changes=show, settle_seconds=settle_seconds,
                                   poll_seconds=poll_seconds, stop_timeout=stop_timeout,
                                   after_pass=[push] if fleet_url else [], retention=horizon)
        finally:
            engine.close()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    tell(f"stopped: {summary.registered} recording(s) registered"
         + ("" if summary.stopped_in_time else "; a request still out was recorded abandoned"))
