"""`walsync ingest` and `walsync fleet status|why|stats|rebuild`: the PostgreSQL fleet path."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import click

from walsync.core.errors import StoreError

if TYPE_CHECKING:  # psycopg is imported only when a fleet command runs (fast `walsync` start)
    from walsync.adapters.fleet.store import PgConnection

__all__ = ["fleet", "ingest"]


@contextmanager
def _database(dsn: str) -> Iterator[PgConnection]:
    """A connection whose driver errors end as one `Error: PostgreSQL: ...` line."""
    import psycopg

    from walsync.adapters.fleet.store import connect

    conn = connect(dsn)
    try:
        yield conn
    except psycopg.Error as error:
        raise StoreError(f"PostgreSQL: {error}") from error
    finally:
        conn.close()


def _echo_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, sort_keys=True))


@click.command()
@click.argument("logs", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--into", "dsn", required=True, metavar="DSN",
              help="The fleet database: postgresql://... or a libpq 'host=... dbname=...' string.")
@click.option("--device", "device", default=None,
              help="The device id of the (single) LOG; default: each file's name without .db/.jsonl.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON summary.")
def ingest(logs: tuple[str, ...], dsn: str, device: str | None, as_json: bool) -> None:
    """Load device logs (.db or .jsonl) into PostgreSQL: checked, bulk-copied, idempotent."""
    from walsync.adapters.fleet.ingest import IngestRefused, device_id_for, ingest_log

    if device is not None and len(logs) != 1:
        raise click.UsageError("--device names one device: give exactly one LOG with it")
    done: list[dict[str, Any]] = []
    refused: list[dict[str, Any]] = []
    started = time.perf_counter()
    with _database(dsn) as conn, click.progressbar(logs, label="ingesting", file=sys.stderr,
                                                  show_pos=True) as bar:
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


def _db(fn: Callable[..., Any]) -> Callable[..., Any]:
    fn = click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")(fn)
    return click.option("--db", "dsn", required=True, metavar="DSN",
                        help="The fleet database (postgresql://... or a libpq string).")(fn)


@click.group()
def fleet() -> None:
    """Fleet-wide answers from the PostgreSQL database that `walsync ingest` fills."""


@fleet.command()
@_db
@click.option("--limit", default=20, show_default=True, help="Closed gates to list.")
def status(dsn: str, as_json: bool, limit: int) -> None:
    """Devices and recordings by display state and stall reason, and the gates closed."""
    from walsync.adapters.fleet.queries import fleet_status

    with _database(dsn) as conn:
        found = fleet_status(conn, limit=limit)
    if as_json:
        _echo_json(found)
        return
    click.echo(f"{found['devices']} devices, {found['events']} events")
    click.echo("recordings by display state:")
    for name, n in found["by_display"].items():
        click.echo(f"  {name:<12} {n['recordings']:>8} recordings on {n['devices']:>6} devices")
    click.echo("stalled recordings by reason:")
    for name, n in found["stalled_by_reason"].items():
        click.echo(f"  {name:<24} {n['recordings']:>8} recordings on {n['devices']:>6} devices")
    click.echo("gates: " + ", ".join(f"{k} {v}" for k, v in found["gates"].items()))
    for g in found["closed_gates"]:
        click.echo(f"  {g['device_id']}: closed for {g['reason']} until {g['until']} "
                   f"(seq {g['set_by_seq']})")


@fleet.command()
@_db
@click.option("--limit", default=10, show_default=True, help="Stalls to show.")
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
        hours = (s["stalled_seconds"] or 0) / 3600
        click.echo(f"{s['device_id']} {s['wal_id']}: {s['reason']} for {hours:.1f} h\n  {s['summary']}")
    if not found:
        click.echo("no stalled recordings")


@fleet.command()
@_db
@click.option("--device", "device_id", default=None, help="Only this device's counts.")
def stats(dsn: str, as_json: bool, device_id: str | None) -> None:
    """429 answers and cooldowns (backend busy, fair use) per UTC hour across the fleet."""
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
@_db
def rebuild(dsn: str, as_json: bool) -> None:
    """Empty the fleet projections and refold every device from its events."""
    from walsync.adapters.fleet.projection import rebuild as rebuild_all

    with _database(dsn) as conn:
        n = rebuild_all(conn)
    if as_json:
        _echo_json({"devices": n})
        return
    click.echo(f"rebuilt the fleet projections of {n} devices")
