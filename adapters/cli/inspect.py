"""`walsync status`, `log`, `why`, `timeline` and `report`: reading one log, now or as of a moment."""

from __future__ import annotations

import json
import sys

import click

from walsync.adapters.cli.common import cut, db, fail, print_view, warn_unreadable
from walsync.adapters.diagnosis.render import event_json, event_line
from walsync.adapters.store.readonly.queries import cut_of, read_log
from walsync.adapters.store.readonly.unreadable import Unreadable
from walsync.core.events import EVENT_TYPES

__all__ = ['log', 'report', 'status', 'timeline', 'why']


@click.command()
@db
@cut
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def status(db_path: str, cut_at: str | None, cut_seq: int | None, as_json: bool) -> None:
    """The status rows, the status cards and the cooldown gate (now, or as of --at/--seq)."""
    from walsync.adapters.diagnosis.why import projection_at

    unreadable = Unreadable()
    view, cut = projection_at(db_path, at=cut_at, seq=cut_seq, unreadable=unreadable)
    warn_unreadable(unreadable)
    heading = None
    if cut_at is not None or cut_seq is not None:
        heading = f"as of seq {cut.seq}" + (f" ({cut.moment.isoformat()})" if cut.moment else "")
        if cut.note:
            heading += f"\nnote: {cut.note}"
    print_view(view, cut, as_json, heading)


@click.command()
@db
@click.option("--wal", "wal_id", help="Only this recording's stream.")
@click.option("--stream", help="Only this stream (wal:<id>, gate, engine).")
@click.option("--type", "type_name", type=click.Choice(sorted(EVENT_TYPES)),
              help="Only events of this type.")
@click.option("--since", metavar="ISO-8601", help="Only events at or after this time.")
@click.option("--until", metavar="ISO-8601", help="Only events at or before this time.")
@click.option("--from-seq", type=click.IntRange(min=0), help="Only events from this seq on.")
@click.option("--to-seq", type=click.IntRange(min=0), help="Only events up to this seq.")
@cut
@click.option("--json", "as_json", is_flag=True, help="JSON Lines: seq, at, stream, type, data.")
@click.option("--csv", "as_csv", is_flag=True, help="CSV with a header row.")
def log(db_path: str, wal_id: str | None, stream: str | None, type_name: str | None,
        since: str | None, until: str | None, from_seq: int | None, to_seq: int | None,
        cut_at: str | None, cut_seq: int | None, as_json: bool, as_csv: bool) -> None:
    """The events in order, with one plain-English sentence each; filter, then print."""
    import csv

    if as_json and as_csv:
        fail("choose --json or --csv, not both")
    cut_seq = _snapped(db_path, cut_seq)
    bounds = [b for b in (to_seq, cut_seq) if b is not None]
    times = [t for t in (until, cut_at) if t is not None]
    rows = read_log(db_path, wal_id=wal_id, stream=stream, type_name=type_name, since=since,
                    until=min(times) if times else None, from_seq=from_seq,
                    to_seq=min(bounds) if bounds else None)
    writer = csv.writer(sys.stdout) if as_csv else None
    if writer is not None:
        writer.writerow(["seq", "at", "stream", "version", "type", "event_id", "data"])
    for row in rows:
        if writer is not None:
            writer.writerow([row.seq, row.at, row.stream, row.version, row.type, row.event_id,
                             row.data])
        elif as_json:
            click.echo(json.dumps(event_json(row), ensure_ascii=False))
        else:
            click.echo(event_line(row))


@click.command()
@click.argument("wal_id", required=False)
@db
@cut
@click.option("--all", "every", is_flag=True, help="Every stalled recording with its reason.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (a list with --all).")
def why(wal_id: str | None, db_path: str, cut_at: str | None, cut_seq: int | None,
        every: bool, as_json: bool) -> None:
    """Why a recording is stalled, from the log alone: reason, blocker, causal chain."""
    from walsync.adapters.diagnosis.why import explain_all, explain_wal

    if every == (wal_id is not None):
        fail("give a WAL_ID or --all")
    unreadable = Unreadable()
    if every:
        reports = list(explain_all(db_path, at=cut_at, seq=cut_seq, unreadable=unreadable))
        warn_unreadable(unreadable)
        if as_json:
            click.echo(json.dumps([r.to_json() for r in reports], indent=2, ensure_ascii=False))
            return
        for r in reports:
            click.echo(f"{r.wal_id}  {r.reason:<24} {r.display or '':<9} since {r.since or '-'}")
        click.echo(f"{len(reports)} stalled recording(s)")
        return
    assert wal_id is not None
    report = explain_wal(db_path, wal_id, at=cut_at, seq=cut_seq, unreadable=unreadable)
    warn_unreadable(unreadable)
    if as_json:
        click.echo(json.dumps(report.to_json(), indent=2, ensure_ascii=False))
        return
    click.echo(f"{report.wal_id}: {report.reason} (as of seq {report.as_of_seq})\n")
    if report.cut_note:
        click.echo(f"note: {report.cut_note}\n")
    click.echo(report.summary)
    if report.causal_chain:
        click.echo("\nCausal chain:")
        for link in report.causal_chain:
            click.echo(f"  seq {link['seq']:>6}  {link['at'][:19]}  {link['sentence']}")


@click.command()
@click.argument("wal_id")
@db
@cut
def timeline(wal_id: str, db_path: str, cut_at: str | None, cut_seq: int | None) -> None:
    """One line per transition of a recording: time, state change, what happened."""
    from walsync.adapters.diagnosis.why import timeline as steps_of

    for step in steps_of(db_path, wal_id, at=cut_at, seq=_snapped(db_path, cut_seq)):
        click.echo(f"{step.at[:19]}  seq {step.seq:>6}  {step.before:>9} -> {step.after:<9}  "
                   f"{step.sentence}")


def _snapped(db_path: str, cut_seq: int | None) -> int | None:
    """`--seq N` as a cut: the end of the commit holding N, said on stderr when it moved."""
    if cut_seq is None:
        return None
    cut = cut_of(db_path, seq=cut_seq)
    if cut.note:
        click.echo(f"note: {cut.note}", err=True)
    return cut.seq


@click.command()
@db
@click.option("--wal", "wal_ids", multiple=True, help="Only this recording (repeatable).")
@click.option("--all", "every", is_flag=True, help="Every recording (up to 300 lanes).")
@click.option("--html", "out", required=True, type=click.Path(dir_okay=False),
              help="The self-contained HTML page to write.")
def report(db_path: str, wal_ids: tuple[str, ...], every: bool, out: str) -> None:
    """One HTML page: a swimlane per recording, cooldown bands, requests and each why."""
    from walsync.adapters.diagnosis.report import write_report

    if wal_ids and every:
        fail("give --wal or --all, not both")
    summary = write_report(db_path, out, wal_ids=list(wal_ids) or None, every=every)
    click.echo(summary.line())

