"""`walsync status`, `log`, `why`, `timeline` and `report`: reading one log, now or as of a moment."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Sequence
from contextlib import closing
from typing import Final

import click

from walsync.adapters.cli.common import DISPLAY_STATES, print_view, warn_unreadable
from walsync.adapters.cli.follow import events_after, until_stopped
from walsync.adapters.cli.options import (
    SEQ,
    IsoTime,
    OutputFile,
    cut,
    db,
    force_option,
    fresh,
    limit_options,
    local_option,
    output_options,
    usage,
)
from walsync.adapters.cli.output import echo_json, emit, take
from walsync.adapters.diagnosis.render import event_json, event_line
from walsync.adapters.diagnosis.report_page import LANES_SHOWN
from walsync.adapters.diagnosis.why import Step
from walsync.adapters.ports import StoredEvent
from walsync.adapters.store.feed import ChangeFeed
from walsync.adapters.store.readonly.job_rows import as_member_rows
from walsync.adapters.store.readonly.queries import Cut, connect_readonly, cut_of, read_log
from walsync.adapters.store.readonly.status_tables import StatusTables, status_tables
from walsync.adapters.store.readonly.unreadable import Unreadable
from walsync.core.events import EVENT_TYPES
from walsync.projections.sentences import time_text
from walsync.projections.why import WhyReport

__all__ = ['DISPLAY_STATES', 'log', 'report', 'status', 'timeline', 'why']

_EVENT_COLUMNS: Final = ("seq", "at", "stream", "version", "type", "event_id", "data")
_WHY_COLUMNS: Final = ("wal_id", "state", "display", "stalled", "reason", "since",
                       "next_attempt_at", "retry_count", "retry_budget", "as_of_seq", "summary")


def _or_none(values: tuple[str, ...]) -> tuple[str, ...] | None:
    return values or None


@click.command()
@db
@cut
@click.option("--state", "states", multiple=True, type=click.Choice(DISPLAY_STATES),
              help="Only rows in this display state (repeatable: any of them).")
@limit_options
@output_options()
@local_option
@click.option("--watch", is_flag=True,
              help="Then print the status again at every commit of any process, until Ctrl-C.")
@click.option("--all", "every", is_flag=True,
              help="Every recording, the ones retention archived too (their rows folded from "
                   "the sealed segments beside the log: reads the whole history).")
def status(db_path: str, cut_at: str | None, cut_seq: int | None, states: tuple[str, ...],
           limit: int | None, reverse: bool, output: str, local: bool, watch: bool,
           every: bool) -> None:
    """The status rows, the status cards and the cooldown gate (now, or as of --at/--seq)."""
    from walsync.adapters.diagnosis.why import projection_at

    if watch and (cut_at is not None or cut_seq is not None):
        usage("--watch shows the log as it grows: not with --at or --seq")
    if watch and output in ("jsonl", "csv"):
        usage("--watch prints the whole status at each change: use -o table or --json")
    if cut_at is None and cut_seq is None and not every:
        tables = _tables(db_path, states)
        if tables is not None:  # as committed: no fold of the log
            _print_tables(db_path, tables, output, states=states, limit=limit, reverse=reverse,
                          local=local, watch=watch)
            return
    unreadable = Unreadable()
    view, cut = projection_at(db_path, at=cut_at, seq=cut_seq, unreadable=unreadable, whole=every)
    if every and not states:  # every recording, in every display state
        states = DISPLAY_STATES
    warn_unreadable(unreadable)
    heading = None
    if cut_at is not None or cut_seq is not None:
        heading = f"as of seq {cut.seq}" + (f" ({time_text(cut.moment)})" if cut.moment else "")
        if cut.note:
            heading += f"\nnote: {cut.note}"
    print_view(view, cut, output, heading, states=states, limit=limit, reverse=reverse, local=local,
               lines=watch)
    if not watch:
        return
    with until_stopped():
        feed = ChangeFeed(db_path, after=cut.seq, interval=0.1)
        try:
            for batch in feed:  # each change: the status again, as of its last event
                view.apply((row.seq, row.event) for row in batch)
                now = Cut(seq=batch[-1].seq, moment=None)
                _print_again(view, now, batch[-1].at, output, states=states, limit=limit,
                             reverse=reverse, local=local)
        finally:
            feed.close()


def _tables(db_path: str, states: tuple[str, ...] = ()) -> StatusTables | None:
    """The status as the projection tables hold it (None: fold the log instead): the rows in
    `states`, else the live ones."""
    with closing(connect_readonly(db_path)) as conn:
        return status_tables(conn, states)


def _print_tables(db_path: str, tables: StatusTables, output: str, *, states: tuple[str, ...],
                  limit: int | None, reverse: bool, local: bool, watch: bool) -> None:
    """`status` from the tables; with --watch, read again at every commit of any process."""
    print_view(tables, Cut(seq=tables.seq, moment=None), output, None, states=states,
               limit=limit, reverse=reverse, local=local, lines=watch)
    if not watch:
        return
    with until_stopped():
        feed = ChangeFeed(db_path, after=tables.seq, interval=0.1)
        try:
            for batch in feed:
                again = _tables(db_path, states) or tables
                now = Cut(seq=again.seq, moment=None)
                _print_again(again, now, batch[-1].at, output, states=states, limit=limit,
                             reverse=reverse, local=local)
        finally:
            feed.close()


def _print_again(view: object, now: Cut, at: str, output: str, *, states: tuple[str, ...],
                 limit: int | None, reverse: bool, local: bool) -> None:
    """The status once more, in a stream of them (--watch)."""
    if output == "table":
        click.echo("")
    heading = f"as of seq {now.seq} ({time_text(at)})"
    print_view(view, now, output, heading, states=states, limit=limit, reverse=reverse,
               local=local, lines=True)


@click.command()
@db
@click.option("--wal", "wal_ids", multiple=True, help="Only this recording's events (repeatable).")
@click.option("--stream", "streams", multiple=True,
              help="Only this stream: wal:<id>, job:<attempt id> (a job's end, stored once "
              "for its members), gate or engine (repeatable).")
@click.option("--type", "type_names", multiple=True, type=click.Choice(sorted(EVENT_TYPES)),
              help="Only events of this type (repeatable).")
@click.option("--since", type=IsoTime(), help="Only events at or after this time.")
@click.option("--until", type=IsoTime(), help="Only events at or before this time.")
@click.option("--from-seq", type=SEQ, help="Only events from this seq on.")
@click.option("--to-seq", type=SEQ, help="Only events up to this seq.")
@cut
@limit_options
@output_options(json_is="jsonl", csv_flag=True)
@local_option
@click.option("--follow", is_flag=True,
              help="Then keep printing events as any process commits them, until Ctrl-C.")
def log(db_path: str, wal_ids: tuple[str, ...], streams: tuple[str, ...],
        type_names: tuple[str, ...], since: str | None, until: str | None, from_seq: int | None,
        to_seq: int | None, cut_at: str | None, cut_seq: int | None, limit: int | None,
        reverse: bool, output: str, local: bool, follow: bool) -> None:
    """The events in order, with one plain-English sentence each; filter, then print."""
    if follow:
        _check_follow(output, reverse=reverse, bounded=(until, to_seq, cut_at, cut_seq))
        cut_seq = cut_of(db_path).seq  # the history up to here, then the feed from here
    cut_seq = _snapped(db_path, cut_seq)
    bounds = [b for b in (to_seq, cut_seq) if b is not None]
    times = [t for t in (until, cut_at) if t is not None]
    rows: Iterable[StoredEvent] = read_log(
        db_path, wal_id=_or_none(wal_ids), stream=_or_none(streams),
        type_name=_or_none(type_names), since=since, until=min(times) if times else None,
        from_seq=from_seq, to_seq=min(bounds) if bounds else None, descending=reverse,
        limit=limit)
    _note_segments(db_path, wal_ids)
    if follow:
        assert cut_seq is not None
        keep = _matcher(wal_ids, streams, type_names, since, from_seq)
        later = events_after(db_path, cut_seq, keep)
        rows = itertools.chain(rows, as_member_rows(later, set(wal_ids)) if wal_ids else later)
    with until_stopped():
        emit(rows, output, text=event_line, data=event_json, columns=_EVENT_COLUMNS,
             csv_row=lambda r: [r.seq, r.at, r.stream, r.version, r.type, r.event_id, r.data],
             local=local)


def _note_segments(db_path: str, wal_ids: Sequence[str]) -> None:
    """`log --wal` shows the live log's events: say so for a recording whose earlier events a
    compaction moved into a sealed segment (`why` and `timeline` read them)."""
    from walsync.adapters.store.segments.history import needs_segments

    with closing(connect_readonly(db_path)) as conn:
        moved = [w for w in wal_ids if needs_segments(conn, w)]
    for wal_id in moved:
        click.echo(f"note: {wal_id}'s earlier events lie in a sealed segment (retention); this "
                   f"shows the live log's. `walsync timeline {wal_id}` and `why` read them.",
                   err=True)


def _check_follow(output: str, *, reverse: bool, bounded: Sequence[object]) -> None:
    """`--follow` and `--watch` print a stream from the log's end on."""
    if output == "json":
        usage("a followed log is a stream: use --json (JSON Lines), -o jsonl, -o table or -o csv")
    if reverse:
        usage("--follow prints events as they come: not with --reverse")
    if any(b is not None for b in bounded):
        usage("--follow reads on past the log's end: not with --until, --to-seq, --at or --seq")


def _matcher(wal_ids: Sequence[str], streams: Sequence[str], type_names: Sequence[str],
             since: str | None, from_seq: int | None) -> Callable[[StoredEvent], bool]:
    """The log's filters, for the events that come later (OR within one, AND across)."""
    wanted = {f"wal:{w}" for w in wal_ids}

    def keep(row: StoredEvent) -> bool:
        if wanted and row.stream.startswith("job:"):  # a job's end: its members' own
            return any(keep(member) for member in as_member_rows([row], wal_ids))
        return ((not wanted or row.stream in wanted) and (not streams or row.stream in streams)
                and (not type_names or row.type in type_names)
                and (since is None or row.at >= since)
                and (from_seq is None or row.seq >= from_seq))

    return keep


def _why_text(report: WhyReport) -> str:
    lines = [f"{report.wal_id}: {report.reason} (as of seq {report.as_of_seq})", ""]
    if report.cut_note:
        lines += [f"note: {report.cut_note}", ""]
    lines.append(report.summary)
    if report.causal_chain:
        lines += ["", "Causal chain:"]
        lines += [f"  seq {link['seq']:>6}  {time_text(link['at'])}  {link['sentence']}"
                  for link in report.causal_chain]
    return "\n".join(lines)


def _why_line(r: WhyReport) -> str:
    since = time_text(r.since) if r.since else "-"
    return f"{r.wal_id}  {r.reason:<24} {r.display or '':<9} since {since}"


@click.command()
@click.argument("wal_id", required=False)
@db
@cut
@click.option("--all", "every", is_flag=True, help="Every stalled recording with its reason.")
@limit_options
@output_options()
@local_option
def why(wal_id: str | None, db_path: str, cut_at: str | None, cut_seq: int | None,
        every: bool, limit: int | None, reverse: bool, output: str, local: bool) -> None:
    """Why a recording is stalled, from the log alone: reason, blocker, causal chain."""
    from walsync.adapters.diagnosis.why import explain_all, explain_wal

    if every == (wal_id is not None):
        usage("give a WAL_ID or --all")
    if not every and (limit is not None or reverse):
        usage("-n/--limit and --reverse go with --all")
    unreadable = Unreadable()
    if every:  # printed as they are explained (a year's stalled ones held gigabytes at once)
        reports = take(explain_all(db_path, at=cut_at, seq=cut_seq, unreadable=unreadable),
                       limit, reverse)
        emit(reports, output, text=_why_line, data=WhyReport.to_json, columns=_WHY_COLUMNS,
             local=local, footer=lambda n: f"{n} stalled recording(s)")
        warn_unreadable(unreadable)
        return
    assert wal_id is not None
    report = explain_wal(db_path, wal_id, at=cut_at, seq=cut_seq, unreadable=unreadable)
    warn_unreadable(unreadable)
    if output == "json":
        echo_json(report.to_json())
    else:
        emit([report], output, text=_why_text, data=WhyReport.to_json, columns=_WHY_COLUMNS,
             local=local)


def _timeline_line(step: Step) -> str:
    return (f"{time_text(step.at)}  seq {step.seq:>6}  {step.before:>9} -> {step.after:<9}  "
            f"{step.sentence}")


@click.command()
@click.argument("wal_id")
@db
@cut
@limit_options
@output_options(json_is="jsonl")
@local_option
def timeline(wal_id: str, db_path: str, cut_at: str | None, cut_seq: int | None,
             limit: int | None, reverse: bool, output: str, local: bool) -> None:
    """One line per transition of a recording: time, state change, what happened."""
    from walsync.adapters.diagnosis.why import timeline as steps_of

    steps = steps_of(db_path, wal_id, at=cut_at, seq=_snapped(db_path, cut_seq))
    emit(take(steps, limit, reverse), output, text=_timeline_line, data=Step._asdict,
         columns=Step._fields, local=local)


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
@click.option("--all", "every", is_flag=True,
              help="Every recording: those that stalled first, then the rest, in pages.")
@click.option("-n", "--limit", type=click.IntRange(min=1), default=None,
              help=f"Lanes to show by default: the N longest stalls (default {LANES_SHOWN}).")
@click.option("--html", "out", required=True, type=OutputFile(),
              help="The self-contained HTML page to write.")
@force_option("the page")
@click.option("--json", "as_json", is_flag=True, help="Print what the page shows as one JSON object.")
def report(db_path: str, wal_ids: tuple[str, ...], every: bool, limit: int | None, out: str,
           force: bool, as_json: bool) -> None:
    """One HTML page: the recordings that stalled, the longest first, on a time axis fitted to
    their stalls, with the cooldowns, every request and each one's why."""
    from walsync.adapters.diagnosis.report import write_report

    if sum((bool(wal_ids), every, limit is not None)) > 1:
        usage("give one of --wal, --all and -n/--limit")
    fresh(out, force, reading=db_path)
    summary = write_report(db_path, out, wal_ids=list(wal_ids) or None, every=every,
                           limit=limit or LANES_SHOWN)
    if as_json:
        echo_json(summary.to_json())
    else:
        click.echo(summary.line())
