"""`walsync ingest` and `walsync fleet init|status|why|stats|alerts|rebuild|token|serve`: the
PostgreSQL fleet path. Queries open read-only connections and run no DDL."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import click

from walsync.adapters.cli.options import IsoTime
from walsync.core.errors import StoreError
from walsync.projections.sentences import time_text

if TYPE_CHECKING:  # psycopg is imported only when a fleet command runs (fast `walsync` start)
    from walsync.adapters.fleet.store import PgConnection

__all__ = ["fleet", "ingest"]


@contextmanager
def _database(dsn: str, *, write: bool = False) -> Iterator[PgConnection]:
    """A connection whose driver errors end as one `Error: PostgreSQL: ...` line, and whose
    unknown filters are usage errors (exit 2)."""
    import psycopg

    from walsync.adapters.fleet.queries import UnknownFilter
    from walsync.adapters.fleet.store import connect

    conn = connect(dsn, write=write)
    try:
        yield conn
    except psycopg.Error as error:
        raise StoreError(f"PostgreSQL: {error}") from error
    except UnknownFilter as error:
        raise click.UsageError(str(error)) from error
    finally:
        conn.close()


def _echo_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, sort_keys=True))


def _dsn(fn: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--db", "dsn", required=True, metavar="DSN",
                        help="The fleet database (postgresql://... or a libpq string).")(fn)


def _json(fn: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")(fn)


@click.command()
@click.argument("logs", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--into", "dsn", required=True, metavar="DSN",
              help="The fleet database: postgresql://... or a libpq 'host=... dbname=...' string.")
@click.option("--device", "device", default=None,
              help="The device id of the (single) LOG; default: each file's name without "
                   ".db/.jsonl/.jsonl.gz.")
@_json
def ingest(logs: tuple[str, ...], dsn: str, device: str | None, as_json: bool) -> None:
    """Load device logs (.db, .jsonl, .jsonl.gz) into PostgreSQL: checked, only what is new."""
    from walsync.adapters.fleet.ingest import IngestRefused, device_id_for, ingest_log

    if device is not None and len(logs) != 1:
        raise click.UsageError("--device names one device: give exactly one LOG with it")
    done: list[dict[str, Any]] = []
    refused: list[dict[str, Any]] = []
    started = time.perf_counter()
    with _database(dsn, write=True) as conn, click.progressbar(
            logs, label="ingesting", file=sys.stderr, show_pos=True) as bar:
        for path in bar:
            try:
                done.append(ingest_log(conn, path, device_id_for(path, device)).to_json())
            except IngestRefused as error:
                refused.append({"device_id": error.device_id, "path": error.path,
                                "seq": error.seq, "reason": str(error)})
            except StoreError as error:  # e.g. an unusable device id taken from the file name
                refused.append({"device_id": None, "path": path, "seq": None, "reason": str(error)})
    seconds = time.perf_counter() - started
    added = sum(d["added"] for d in done)
    summary = {"ingested": done, "refused": refused, "devices": len({d["device_id"] for d in done}),
               "events_added": added, "events_already": sum(d["already"] for d in done),
               "seconds": round(seconds, 3), "events_per_second": round(added / max(seconds, 1e-9), 1)}
    if as_json:
        _echo_json(summary)
    else:
        for d in done:
            click.echo(f"device {d['device_id']}: +{d['added']} events ({d['already']} already "
                       f"held), head seq {d['head_seq']}  ({d['path']})")
        click.echo(f"ingested {added} new events from {len(done)} log(s) in {seconds:.2f} s")
    for r in refused:
        click.echo(f"refused: {r['reason']}", err=True)
    if refused:
        raise click.ClickException(f"{len(refused)} log(s) refused; nothing of them was added")


@click.group()
def fleet() -> None:
    """Fleet-wide answers from the PostgreSQL database that ingest and pushes fill."""


@fleet.command()
@_dsn
@_json
def init(dsn: str, as_json: bool) -> None:
    """Create or upgrade the fleet schema (migrations run once, under an advisory lock)."""
    from walsync.adapters.fleet.schema import SCHEMA_VERSION
    from walsync.adapters.fleet.store import init_schema

    applied = init_schema(dsn)
    if as_json:
        _echo_json({"applied": applied, "version": SCHEMA_VERSION})
    elif applied:
        click.echo(f"applied migration(s) {', '.join(map(str, applied))}; schema version "
                   f"{SCHEMA_VERSION}")
    else:
        click.echo(f"schema version {SCHEMA_VERSION} is already in place")


@fleet.command()
@_dsn
@_json
@click.option("-n", "--limit", type=click.IntRange(min=0), default=20, show_default=True,
              help="Closed gates to list.")
def status(dsn: str, as_json: bool, limit: int) -> None:
    """Devices and recordings by display state and stall reason, and the gates closed."""
    from walsync.adapters.fleet.queries import fleet_status

    with _database(dsn) as conn:
        found = fleet_status(conn, limit=limit)
    if as_json:
        _echo_json(found)
        return
    click.echo(f"{found['devices']} devices, {found['events']} events, "
               f"{found['cooling_now']} in a cooldown now")
    click.echo("recordings by display state:")
    for name, n in found["by_display"].items():
        click.echo(f"  {name:<12} {n['recordings']:>8} recordings on {n['devices']:>6} devices")
    click.echo("stalled recordings by reason:")
    for name, n in found["stalled_by_reason"].items():
        click.echo(f"  {name:<24} {n['recordings']:>8} recordings on {n['devices']:>6} devices")
    click.echo("gates: " + ", ".join(f"{k} {v}" for k, v in found["gates"].items()))
    for g in found["closed_gates"]:
        click.echo(f"  {g['device_id']}: closed for {g['reason']} until {time_text(g['until'])} "
                   f"(seq {g['set_by_seq']})")


@fleet.command()
@_dsn
@_json
@click.option("-n", "--limit", type=click.IntRange(min=0), default=10, show_default=True,
              help="Stalls to show.")
@click.option("--device", "device_id", default=None, help="Only this device's stalls.")
@click.option("--reason", default=None, help="Only stalls of this reason (e.g. cooldown_backend_busy).")
def why(dsn: str, as_json: bool, limit: int, device_id: str | None, reason: str | None) -> None:
    """The longest stalls across the fleet, each explained like `walsync why`."""
    from walsync.adapters.fleet.queries import fleet_why

    with _database(dsn) as conn:
        found = fleet_why(conn, limit=limit, device_id=device_id, reason=reason)
    if as_json:
        _echo_json(found)
        return
    for s in found:
        hours = s["stalled_seconds"] / 3600
        click.echo(f"{s['device_id']} {s['wal_id']}: {s['reason']} for {hours:.1f} h\n  {s['summary']}")
    if not found:
        click.echo("no stalled recordings")


@fleet.command()
@_dsn
@_json
@click.option("--device", "device_id", default=None, help="Only this device's counts.")
def stats(dsn: str, as_json: bool, device_id: str | None) -> None:
    """429 answers (every policy) and cooldowns (backend busy, fair use) per UTC hour."""
    from walsync.adapters.fleet.queries import fleet_stats

    with _database(dsn) as conn:
        found = fleet_stats(conn, device_id=device_id)
    if as_json:
        _echo_json(found)
        return
    click.echo(f"{'hour':<18} {'429s':>8} {'busy cooldowns':>15} {'fair-use cooldowns':>19}")
    for h in found["hours"]:
        click.echo(f"{h['hour']:<18} {h['rate_limited_429']:>8} {h['cooldown_backend_busy']:>15} "
                   f"{h['cooldown_fair_use']:>19}")
    t = found["totals"]
    click.echo(f"{'total':<18} {t['rate_limited_429']:>8} {t['cooldown_backend_busy']:>15} "
               f"{t['cooldown_fair_use']:>19}")


@fleet.command()
@_dsn
@_json
@click.option("--devices", type=click.IntRange(min=1), default=10, show_default=True,
              help="Devices entering the same cooldown reason that make a storm.")
@click.option("--minutes", type=click.FloatRange(min=0, min_open=True), default=15.0,
              show_default=True, help="The window they enter it within.")
@click.option("--since", type=IsoTime(), default=None, help="Only cooldowns started since then.")
def alerts(dsn: str, as_json: bool, devices: int, minutes: float, since: str | None) -> None:
    """Cooldown storms: many devices pausing for the same reason within a few minutes."""
    from walsync.adapters.fleet.alerts import cooldown_storms
    from walsync.core.serde import parse_time

    moment = parse_time(since) if since is not None else None  # IsoTime checked it
    with _database(dsn) as conn:
        found = cooldown_storms(conn, devices=devices, minutes=minutes, since=moment)
    if as_json:
        _echo_json(found)
        return
    for s in found:
        click.echo(f"storm: {s['devices']} devices entered a {s['reason']} cooldown between "
                   f"{time_text(s['first_at'])} and {time_text(s['last_at'])} (at most "
                   f"{s['peak_devices']} within {minutes:g} min)")
    if not found:
        click.echo(f"no cooldown storms ({devices} or more devices within {minutes:g} min)")


@fleet.command()
@_dsn
@_json
@click.option("--device", "device_id", default=None, help="Only this device.")
def rebuild(dsn: str, as_json: bool, device_id: str | None) -> None:
    """Refold the fleet projections from the events, one device per transaction (ingest,
    pushes and queries go on meanwhile)."""
    from walsync.adapters.fleet.queries import require_device
    from walsync.adapters.fleet.tail import rebuild as rebuild_devices

    started = time.perf_counter()
    with _database(dsn, write=True) as conn:
        require_device(conn, device_id)
        n = rebuild_devices(conn, device_id)
    seconds = time.perf_counter() - started
    if as_json:
        _echo_json({"devices": n, "seconds": round(seconds, 3)})
    else:
        click.echo(f"rebuilt the fleet projections of {n} devices in {seconds:.2f} s")


@fleet.group()
def token() -> None:
    """Device tokens for `walsync fleet serve` (stored hashed; shown once)."""


@token.command("create")
@_dsn
@_json
@click.option("--device", "device_id", required=True, help="The device the token may push for.")
def token_create(dsn: str, as_json: bool, device_id: str) -> None:
    """Issue a token for one device; it is printed once and only its hash is kept."""
    from walsync.adapters.fleet.tokens import create_token

    with _database(dsn, write=True) as conn:
        token_id, secret = create_token(conn, device_id)
    if as_json:
        _echo_json({"device_id": device_id, "token_id": token_id, "token": secret})
    else:
        click.echo(f"token {token_id} for device {device_id} (shown once; pass it to "
                   f"`walsync sync --fleet-token` or WALSYNC_FLEET_TOKEN):\n{secret}")


@token.command("revoke")
@_dsn
@_json
@click.option("--device", "device_id", required=True, help="The token's device.")
@click.option("--id", "token_id", required=True, help="The token id `token create` printed.")
def token_revoke(dsn: str, as_json: bool, device_id: str, token_id: str) -> None:
    """Stop a token working."""
    from walsync.adapters.fleet.tokens import revoke_token

    with _database(dsn, write=True) as conn:
        done = revoke_token(conn, device_id, token_id)
    if not done:
        raise click.UsageError(f"device {device_id!r} has no live token {token_id!r}")
    if as_json:
        _echo_json({"device_id": device_id, "token_id": token_id, "revoked": True})
    else:
        click.echo(f"revoked token {token_id} of device {device_id}")


@fleet.command()
@_dsn
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(1, 65535), default=8787, show_default=True)
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True,
              help="Worker processes (all write to the one database).")
@click.option("--max-body-mib", type=click.FloatRange(min=0, min_open=True), default=8.0,
              show_default=True, help="Largest push body accepted.")
def serve(dsn: str, host: str, port: int, workers: int, max_body_mib: float) -> None:
    """The HTTP endpoint devices push their log tails to (each with its own token)."""
    from walsync.adapters.fleet.serve import serve as run
    from walsync.adapters.fleet.store import connect

    connect(dsn, write=True).close()  # the schema in place, and a bad DSN one error line
    run(dsn, host=host, port=port, workers=workers, max_body=int(max_body_mib * (1 << 20)))
