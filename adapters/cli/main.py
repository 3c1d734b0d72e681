"""The `walsync` command line: a thin driving adapter over the same functions the tests call."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from walsync.adapters.cli.fleet import fleet, ingest
from walsync.adapters.diagnosis.render import (
    card_text,
    event_json,
    event_line,
    gate_text,
    rows_table,
    status_json,
)
from walsync.adapters.sim.scenarios import SCENARIOS
from walsync.adapters.store.readonly.queries import read_log
from walsync.adapters.store.readonly.unreadable import Unreadable
from walsync.core.errors import UnknownWal, WalsyncError
from walsync.core.events import EVENT_TYPES
from walsync.core.policies import POLICIES, policy_named
from walsync.projections.sentences import sentence

__all__ = ["main"]

DIAGRAM_DOC = Path("docs") / "state-diagram.md"


def _fail(message: str) -> None:
    raise click.ClickException(message)


def _warn_unreadable(unreadable: Unreadable) -> None:
    """Rows a read-only diagnosis could not fold are named on stderr, never dropped silently."""
    note = unreadable.note()
    if note is not None:
        click.echo(f"warning: {note}", err=True)


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


def _fresh(path: Path, force: bool) -> None:
    """Refuse to overwrite an existing log unless asked to; then clear it and its sidecars."""
    if path.exists() and not force:
        _fail(f"{path} exists; pass --force to overwrite it, or choose another --db")
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def _bar(label: str) -> Any:
    return click.progressbar(length=1000, label=label, file=sys.stderr, show_eta=False)


@cli.command()
@click.option("--db", "db_path", default="walsync-demo.db", show_default=True,
              type=click.Path(dir_okay=False), help="SQLite log file to write.")
@click.option("--policy", type=click.Choice(list(POLICIES)), default="walsync",
              show_default=True, help="Rule set the engine runs under.")
@click.option("--force", is_flag=True, help="Overwrite the database if it exists.")
def demo(db_path: str, policy: str, force: bool) -> None:
    """Simulate fair-use throttling then a saturated backend, and explain every stall."""
    from walsync.adapters.sim.demo import run_demo
    from walsync.adapters.sim.demo_report import print_report

    path = Path(db_path)
    _fresh(path, force)
    click.echo(f"walsync demo: policy {policy}, log {path}")
    with _bar("simulating") as bar:
        done = [0]

        def progress(fraction: float) -> None:
            bar.update(int(fraction * 1000) - done[0])
            done[0] = int(fraction * 1000)

        result = run_demo(path, policy_named(policy), progress=progress, say=click.echo)
        bar.update(1000 - done[0])
    print_report(path, result, click.echo)
    from walsync.adapters.diagnosis.report import write_report

    page = path.with_suffix(".html")
    click.echo("\n" + write_report(path, page).line())
    click.echo("\nInspect the log:")
    click.echo(f"  open {page}   (the swimlanes, cooldown bands and each stalled recording's why)")
    click.echo(f"  walsync why --all --db {path}")
    click.echo(f"  walsync status --db {path}")
    click.echo(f"  walsync log --db {path} --type CooldownStarted")
    click.echo(f"  sqlite-utils {path} 'select * from cooldowns'")  # noqa: S608 (text, not SQL)
    click.echo(f"  walsync simulate --scenario backend_saturation --compare --db /tmp/{path.stem}.db")


_RESULT_KEYS = ("wals_total", "wals_synced", "wals_stalled", "wals_failed", "wals_shown_failed",
                "upload_requests", "responses_429", "responses_202", "status_polls",
                "stale_guard_failures", "retry_bumps", "cooldowns", "skipped_uploads",
                "drained_at", "events_logged", "head_hash", "wall_seconds")


@cli.command()
@click.option("--scenario", type=click.Choice(sorted(SCENARIOS)), required=True,
              help="Which incident to replay (docs/scenarios.md).")
@click.option("--policy", type=click.Choice(list(POLICIES)), default="walsync",
              show_default=True, help="Rule set (ignored with --compare).")
@click.option("--seed", type=int, default=1, show_default=True, help="Seed of every random draw.")
@click.option("--hours", type=click.FloatRange(min=0.01), help="Virtual hours (scenario default).")
@click.option("--wals", type=click.IntRange(min=0), help="Backlog size (scenario default).")
@click.option("--db", "db_path", required=True, type=click.Path(dir_okay=False),
              help="Log file to write (overwritten); with --compare, one file per policy.")
@click.option("--compare", is_flag=True, help="Run every policy on the same seed.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def simulate(scenario: str, policy: str, seed: int, hours: float | None, wals: int | None,
             db_path: str, compare: bool, as_json: bool) -> None:
    """Replay an incident in virtual time against the simulated backend and measure it."""
    from walsync.adapters.sim.run import run_simulation
    from walsync.adapters.sim.scenarios import scenario_named

    chosen = scenario_named(scenario).with_overrides(hours=hours, wals=wals)
    names = list(POLICIES) if compare else [policy]
    path = Path(db_path)
    results = []
    for name in names:
        target = path.with_name(f"{path.stem}-{name}{path.suffix}") if compare else path
        with _bar(f"{scenario} / {name}") as bar:
            done = [0]

            def progress(fraction: float, bar: Any = bar, done: list[int] = done) -> None:
                bar.update(int(fraction * 1000) - done[0])
                done[0] = int(fraction * 1000)

            results.append(run_simulation(chosen, POLICIES[name], seed, target,
                                          progress=progress))
            bar.update(1000 - done[0])
    if as_json:
        payload = ({"scenario": scenario, "seed": seed,
                    "results": {r.policy: r.to_json() for r in results}}
                   if compare else results[0].to_json())
        click.echo(json.dumps(payload, indent=2))
        return
    click.echo(f"{chosen.name}: {chosen.summary}")
    click.echo(f"seed {seed}, {chosen.hours:g} virtual hours, {chosen.wals} backlog WALs\n")
    width = max(len(k) for k in _RESULT_KEYS)
    click.echo(f"{'':<{width}}  " + "  ".join(f"{r.policy:>22}" for r in results))
    for key in _RESULT_KEYS:
        values = [getattr(r, key) for r in results]
        shown = [(v[:12] + "…") if key == "head_hash" else
                 (json.dumps(v, separators=(",", ":")) if isinstance(v, dict) else v)
                 for v in values]
        click.echo(f"{key:<{width}}  " + "  ".join(f"{v!s:>22}" for v in shown))


@cli.command()
@click.option("--seed", type=int, default=1, show_default=True, help="Seed of every random draw.")
@click.option("--write", "out", type=click.Path(dir_okay=False),
              help="Write the Markdown page here (e.g. docs/incidents.md) instead of printing.")
@click.option("--logs", type=click.Path(file_okay=False),
              help="Keep the six logs in this folder (default: a temporary folder).")
def incidents(seed: int, out: str | None, logs: str | None) -> None:
    """Replay both incidents under every policy and print the comparison table."""
    from walsync.adapters.sim.incidents import incidents_markdown, run_incidents

    results = run_incidents(seed, folder=logs,
                            progress=lambda label: click.echo(f"running {label}", err=True))
    command = f"walsync incidents --seed {seed} --write docs/incidents.md"
    page = incidents_markdown(results, seed, command)
    if out:
        Path(out).write_text(page, encoding="utf-8")
        click.echo(f"wrote {out}")
    else:
        click.echo(page, nl=False)


@cli.command("serve-sim")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to bind.")
@click.option("--port", type=click.IntRange(0, 65535), default=8765, show_default=True,
              help="Port (0 picks a free one; the chosen URL is printed first).")
@click.option("--scenario", type=click.Choice(sorted(SCENARIOS)), default=None,
              help="Backend conditions of a scenario (default: a healthy backend).")
@click.option("--seed", type=int, default=1, show_default=True, help="Seed for background load.")
@click.option("--speed", type=click.FloatRange(min=0.001), default=1.0, show_default=True,
              help="Backend seconds per wall-clock second (60: jobs finish 60x sooner).")
def serve_sim(host: str, port: int, scenario: str | None, seed: int, speed: float) -> None:
    """Serve the simulated backend over real HTTP (spec section 6) until interrupted."""
    import random
    import time

    from walsync.adapters.sim.backend import BackendConfig, SimBackend
    from walsync.adapters.sim.scenarios import scenario_named
    from walsync.adapters.sim.server import SimServer

    chosen = scenario_named(scenario) if scenario else None
    started = time.time()
    model = SimBackend(chosen.backend if chosen else BackendConfig(), epoch=started)
    if chosen is not None and chosen.background is not None:
        model.add_background_work(chosen.background(random.Random(seed), chosen.hours * 3600))
    server = SimServer(model, lambda: (time.time() - started) * speed, host=host,
                       port=port).start()
    click.echo(f"serving the simulated backend on {server.url}", err=False)
    sys.stdout.flush()
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
        click.echo(f"stopped; {dict(model.counters)}")


@cli.command()
@click.option("--db", "db_path", required=True, type=click.Path(dir_okay=False),
              help="SQLite log file (created if missing).")
@click.option("--backend", "backend_url", required=True, help="Backend base URL.")
@click.option("--token", envvar="WALSYNC_TOKEN", required=True,
              help="Bearer token (or set WALSYNC_TOKEN). Never written to the log or output.")
@click.option("--recordings", "recordings_dir", required=True,
              type=click.Path(file_okay=False, exists=True), help="Folder of .bin recordings.")
@click.option("--once", is_flag=True, help="One pass (register, upload, poll) then stop.")
@click.option("--policy", type=click.Choice(list(POLICIES)), default="walsync",
              show_default=True, help="Rule set the engine runs under.")
@click.option("--poll-seconds", type=click.FloatRange(min=0.0), default=20.0, show_default=True,
              help="Longest wait between passes.")
@click.option("--max-minutes", type=click.FloatRange(min=0.0), default=60.0, show_default=True,
              help="Stop after this long even if recordings are still pending.")
def sync(db_path: str, backend_url: str, token: str, recordings_dir: str, once: bool,
         policy: str, poll_seconds: float, max_minutes: float) -> None:
    """Upload the recordings in a folder for real, until all are synced or stalled."""
    from walsync.adapters.service.folder_sync import sync_directory

    summary = sync_directory(db_path, backend_url=backend_url, token=token,
                             recordings_dir=recordings_dir, once=once, policy=policy,
                             poll_seconds=poll_seconds, max_seconds=max_minutes * 60,
                             say=click.echo)
    click.echo(f"finished: {summary.finished_reason}")


def _db(function: Any) -> Any:
    return click.option("--db", "db_path", required=True, type=click.Path(dir_okay=False),
                        help="SQLite log file (opened read-only).")(function)


def _cut(function: Any) -> Any:
    function = click.option("--seq", "cut_seq", type=click.IntRange(min=0),
                            help="Time travel: as of this seq.")(function)
    return click.option("--at", "cut_at", metavar="ISO-8601",
                        help="Time travel: as of this moment (e.g. 2026-05-21T12:00:00Z).")(function)


@cli.command()
@_db
@_cut
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def status(db_path: str, cut_at: str | None, cut_seq: int | None, as_json: bool) -> None:
    """The status rows, the status cards and the cooldown gate (now, or as of --at/--seq)."""
    from walsync.adapters.diagnosis.why import projection_at

    unreadable = Unreadable()
    view, cut = projection_at(db_path, at=cut_at, seq=cut_seq, unreadable=unreadable)
    _warn_unreadable(unreadable)
    heading = None
    if cut_at is not None or cut_seq is not None:
        heading = f"as of seq {cut.seq}" + (f" ({cut.moment.isoformat()})" if cut.moment else "")
    _print_view(view, cut, as_json, heading)


def _print_view(view: Any, cut: Any, as_json: bool, heading: str | None) -> None:
    """Rows, cards and gate of a projection, as text or as one JSON object."""
    if as_json:
        payload = status_json(view.rows.values(), view.cards, view.gate)
        payload["as_of_seq"] = cut.seq
        click.echo(json.dumps(payload, ensure_ascii=False, indent=2))
        return
    if heading:
        click.echo(heading)
    click.echo(rows_table(list(view.rows.values())))
    click.echo("")
    for page, card in view.cards.items():
        click.echo(f"card ({page} page): {card_text(card)}")
    click.echo(f"gate: {gate_text(view.gate)}")


@cli.command()
@_db
@click.option("--wal", "wal_id", help="Only this recording's stream.")
@click.option("--stream", help="Only this stream (wal:<id>, gate, engine).")
@click.option("--type", "type_name", type=click.Choice(sorted(EVENT_TYPES)),
              help="Only events of this type.")
@click.option("--since", metavar="ISO-8601", help="Only events at or after this time.")
@click.option("--until", metavar="ISO-8601", help="Only events at or before this time.")
@click.option("--from-seq", type=click.IntRange(min=0), help="Only events from this seq on.")
@click.option("--to-seq", type=click.IntRange(min=0), help="Only events up to this seq.")
@_cut
@click.option("--json", "as_json", is_flag=True, help="JSON Lines: seq, at, stream, type, data.")
@click.option("--csv", "as_csv", is_flag=True, help="CSV with a header row.")
def log(db_path: str, wal_id: str | None, stream: str | None, type_name: str | None,
        since: str | None, until: str | None, from_seq: int | None, to_seq: int | None,
        cut_at: str | None, cut_seq: int | None, as_json: bool, as_csv: bool) -> None:
    """The events in order, with one plain-English sentence each; filter, then print."""
    import csv

    if as_json and as_csv:
        _fail("choose --json or --csv, not both")
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


@cli.command()
@click.argument("wal_id", required=False)
@_db
@_cut
@click.option("--all", "every", is_flag=True, help="Every stalled recording with its reason.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (a list with --all).")
def why(wal_id: str | None, db_path: str, cut_at: str | None, cut_seq: int | None,
        every: bool, as_json: bool) -> None:
    """Why a recording is stalled, from the log alone: reason, blocker, causal chain."""
    from walsync.adapters.diagnosis.why import explain_all, explain_wal

    if every == (wal_id is not None):
        _fail("give a WAL_ID or --all")
    unreadable = Unreadable()
    if every:
        reports = list(explain_all(db_path, at=cut_at, seq=cut_seq, unreadable=unreadable))
        _warn_unreadable(unreadable)
        if as_json:
            click.echo(json.dumps([r.to_json() for r in reports], indent=2, ensure_ascii=False))
            return
        for r in reports:
            click.echo(f"{r.wal_id}  {r.reason:<24} {r.display or '':<9} since {r.since or '-'}")
        click.echo(f"{len(reports)} stalled recording(s)")
        return
    assert wal_id is not None
    report = explain_wal(db_path, wal_id, at=cut_at, seq=cut_seq, unreadable=unreadable)
    _warn_unreadable(unreadable)
    if as_json:
        click.echo(json.dumps(report.to_json(), indent=2, ensure_ascii=False))
        return
    click.echo(f"{report.wal_id}: {report.reason} (as of seq {report.as_of_seq})\n")
    click.echo(report.summary)
    if report.causal_chain:
        click.echo("\nCausal chain:")
        for link in report.causal_chain:
            click.echo(f"  seq {link['seq']:>6}  {link['at'][:19]}  {link['sentence']}")


@cli.command()
@_db
@click.option("--wal", "wal_ids", multiple=True, help="Only this recording (repeatable).")
@click.option("--all", "every", is_flag=True, help="Every recording (up to 300 lanes).")
@click.option("--html", "out", required=True, type=click.Path(dir_okay=False),
              help="The self-contained HTML page to write.")
def report(db_path: str, wal_ids: tuple[str, ...], every: bool, out: str) -> None:
    """One HTML page: a swimlane per recording, cooldown bands, requests and each why."""
    from walsync.adapters.diagnosis.report import write_report

    if wal_ids and every:
        _fail("give --wal or --all, not both")
    summary = write_report(db_path, out, wal_ids=list(wal_ids) or None, every=every)
    click.echo(summary.line())


@cli.command()
@_db
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


@cli.command()
@_db
@click.option("--out", required=True, type=click.Path(dir_okay=False),
              help="OUT.db (a SQLite snapshot), OUT.jsonl (JSON Lines) or OUT.jsonl.gz; never "
                   "overwritten.")
@click.option("--redact/--no-redact", default=True, show_default=True,
              help="Replace device ids, file paths, conversation ids, tokens, cookies, URL "
                   "query values, e-mail and IP addresses with stable per-export pseudonyms "
                   "(hashes are re-chained). --no-redact is for a private copy only.")
def export(db_path: str, out: str, redact: bool) -> None:
    """A consistent snapshot of the log to share, made with the backup API even while it is written."""
    from walsync.adapters.store.share.export import export_log

    report = export_log(db_path, out, redact=redact)
    click.echo(f"exported {report.events} events to {report.out} ({report.format}; head "
               f"{report.head}" + ("; redacted: " + ", ".join(report.redacted) if report.redacted
                                  else "") + ")")


@cli.command("import")
@click.argument("shared", type=click.Path(dir_okay=False))
@click.option("--into", "target", required=True, type=click.Path(dir_okay=False),
              help="A NEW database file to create (never your own log).")
def import_(shared: str, target: str) -> None:
    """Bring in a shared log (.db, .jsonl or .jsonl.gz) as hostile input: checked on a private copy."""
    from walsync.adapters.store.share.importer import import_log

    count = import_log(shared, target)
    click.echo(f"imported {count} events into {target}; inspect it with walsync why --all --db "
               f"{target}")


@cli.command()
@click.argument("shared", type=click.Path(dir_okay=False))
@_cut
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def replay(shared: str, cut_at: str | None, cut_seq: int | None, as_json: bool) -> None:
    """Rebuild every projection from a shared log offline, in memory, writing nothing."""
    from walsync.adapters.diagnosis.why import projection_from
    from walsync.adapters.store.share.importer import open_shared_log

    unreadable = Unreadable()
    with open_shared_log(shared, diagnosis=True) as conn:
        view, cut = projection_from(conn, at=cut_at, seq=cut_seq, unreadable=unreadable)
    _warn_unreadable(unreadable)
    _print_view(view, cut, as_json, f"replayed {cut.seq} events from {shared} (checked, read-only)")


@cli.command()
@click.argument("wal_id")
@_db
@_cut
def timeline(wal_id: str, db_path: str, cut_at: str | None, cut_seq: int | None) -> None:
    """One line per transition of a recording: time, state change, what happened."""
    from walsync.core.states import NEW, next_state

    state, shown = NEW, 0
    for row in read_log(db_path, wal_id=wal_id, until=cut_at, to_seq=cut_seq):
        event = row.event
        trigger = getattr(event, "trigger", "")
        after = next_state(state, trigger) or state
        click.echo(f"{row.at[:19]}  seq {row.seq:>6}  {state:>9} -> {after:<9}  {sentence(event)}")
        state, shown = after, shown + 1
    if not shown:
        raise UnknownWal(wal_id)


@cli.command()
@click.option("--write", is_flag=True, help=f"Rewrite {DIAGRAM_DOC} instead of printing.")
def diagram(write: bool) -> None:
    """The WAL state diagram (Mermaid), generated from the transition table."""
    from walsync.adapters.cli.diagram import diagram_markdown

    text = diagram_markdown()
    if write:
        DIAGRAM_DOC.write_text(text, encoding="utf-8")
        click.echo(f"wrote {DIAGRAM_DOC}")
    else:
        click.echo(text, nl=False)


cli.add_command(ingest)
cli.add_command(fleet)


def main(argv: list[str] | None = None) -> Any:
    """Console-script entry point."""
    return cli.main(args=argv, prog_name="walsync")


if __name__ == "__main__":
    main()
