"""`walsync demo`, `simulate`, `incidents` and `serve-sim`: the simulated backend and its incidents."""

from __future__ import annotations

import functools
import json
import sys
from pathlib import Path
from typing import Final

import attrs
import click

from walsync.adapters.cli.common import progress_bar
from walsync.adapters.cli.options import Number, OutputFile, force_option, fresh, usage
from walsync.adapters.cli.output import echo_json
from walsync.adapters.sim.scenarios import SCENARIOS
from walsync.core.policies import POLICIES, policy_named

__all__ = ['demo', 'incidents', 'serve_sim', 'simulate']

# The run's events are drawn up front and its backlog held in memory: an hour count past a year
# or a backlog past this many recordings filled the machine's memory before a line was printed
# (`--hours 1e9`: killed by the OOM killer at 24 GiB; T85).
MAX_HOURS: Final = 8760.0
MAX_WALS: Final = 100_000


@click.command()
@click.option("--db", "db_path", default="walsync-demo.db", show_default=True,
              type=OutputFile(), help="SQLite log file to write (the report goes beside it).")
@click.option("--policy", type=click.Choice(list(POLICIES)), default="walsync",
              show_default=True, help="Rule set the engine runs under.")
@force_option("the log and its report")
@click.option("--json", "as_json", is_flag=True,
              help="Print the run's figures and the files written as one JSON object.")
def demo(db_path: str, policy: str, force: bool, as_json: bool) -> None:
    """Simulate fair-use throttling then a saturated backend, and explain every stall."""
    from walsync.adapters.diagnosis.report import write_report
    from walsync.adapters.sim.demo import run_demo
    from walsync.adapters.sim.demo_report import next_steps, print_report

    path = Path(db_path)
    page = path.with_suffix(".html")
    fresh(path, force, sidecars=True)
    fresh(page, force)
    say = functools.partial(click.echo, err=as_json)
    say(f"walsync demo: policy {policy}, log {path}")
    with progress_bar("simulating") as progress:
        result = run_demo(path, policy_named(policy), progress=progress, say=say)
    if not as_json:
        print_report(path, result, say)
    summary = write_report(path, page)
    if as_json:
        echo_json({"db": str(path), "report": summary.to_json(), "policy": policy,
                   "result": result.to_json()})
        return
    say("\n" + summary.line())
    say("\nNext steps (each line runs as is in a new shell, in this folder):")
    for line in next_steps(path, page):
        say(f"  {line}")


_RESULT_KEYS = ("wals_total", "wals_synced", "wals_stalled", "wals_failed", "wals_shown_failed",
                "upload_requests", "responses_429", "responses_202", "status_polls",
                "stale_guard_failures", "retry_bumps", "cooldowns", "skipped_uploads",
                "drained_at", "events_logged", "head_hash", "wall_seconds")


@click.command()
@click.option("--scenario", type=click.Choice(sorted(SCENARIOS)), required=True,
              help="Which incident to replay (docs/scenarios.md).")
@click.option("--policy", type=click.Choice(list(POLICIES)), default="walsync",
              show_default=True, help="Rule set (ignored with --compare).")
@click.option("--seed", type=int, default=1, show_default=True, help="Seed of every random draw.")
@click.option("--hours", type=Number(min=0.01, max=MAX_HOURS),
              help="Virtual hours (scenario default; at most a year).")
@click.option("--wals", type=click.IntRange(min=0, max=MAX_WALS),
              help="Backlog size (scenario default).")
@click.option("--db", "db_path", required=True, type=OutputFile(),
              help="Log file to write; with --compare, one file per policy (FILE-POLICY.db).")
@force_option("the log files")
@click.option("--compare", is_flag=True, help="Run every policy on the same seed.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def simulate(scenario: str, policy: str, seed: int, hours: float | None, wals: int | None,
             db_path: str, force: bool, compare: bool, as_json: bool) -> None:
    """Replay an incident in virtual time against the simulated backend and measure it."""
    from walsync.adapters.sim.run import run_simulation
    from walsync.adapters.sim.scenarios import scenario_named

    chosen = scenario_named(scenario).with_overrides(hours=hours, wals=wals)
    names = list(POLICIES) if compare else [policy]
    path = Path(db_path)
    targets = {name: path.with_name(f"{path.stem}-{name}{path.suffix}") if compare else path
               for name in names}
    for target in targets.values():
        fresh(target, force, sidecars=True)
    results = []
    for name, target in targets.items():
        with progress_bar(f"{scenario} / {name}") as progress:
            results.append(run_simulation(chosen, POLICIES[name], seed, target,
                                          progress=progress))
    if as_json:
        payload = ({"scenario": scenario, "seed": seed,
                    "results": {r.policy: r.to_json() for r in results}}
                   if compare else results[0].to_json())
        echo_json(payload)
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


@click.command()
@click.option("--seed", type=int, default=1, show_default=True, help="Seed of every random draw.")
@click.option("--write", "out", type=OutputFile(),
              help="Write the Markdown page here (e.g. docs/incidents.md) instead of printing.")
@click.option("--logs", type=click.Path(file_okay=False),
              help="Keep the six logs in this folder (default: a temporary folder).")
@force_option("the page and the logs")
@click.option("--json", "as_json", is_flag=True,
              help="Print every run's figures as one JSON object instead of the page.")
def incidents(seed: int, out: str | None, logs: str | None, force: bool, as_json: bool) -> None:
    """Replay both incidents under every policy and print the comparison table."""
    from walsync.adapters.sim.incidents import INCIDENTS, incidents_markdown, run_incidents

    if as_json and out:
        usage("--json prints the figures and --write writes the page: choose one")
    if out:
        fresh(out, force)
    if logs:
        for log_file in (Path(logs) / f"{name}-{p}.db" for name in INCIDENTS for p in POLICIES):
            fresh(log_file, force, sidecars=True)
    results = run_incidents(seed, folder=logs,
                            progress=lambda label: click.echo(f"running {label}", err=True))
    if as_json:
        echo_json({"seed": seed, "incidents": {name: {policy: r.to_json() for policy, r in runs.items()}
                                               for name, runs in results.items()}})
        return
    command = f"walsync incidents --seed {seed} --write docs/incidents.md --force"
    page = incidents_markdown(results, seed, command)
    if out:
        Path(out).write_text(page, encoding="utf-8")
        click.echo(f"wrote {out}")
    else:
        click.echo(page, nl=False)


@click.command("serve-sim")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to bind.")
@click.option("--port", type=click.IntRange(0, 65535), default=8765, show_default=True,
              help="Port (0 picks a free one; the chosen URL is printed first).")
@click.option("--scenario", type=click.Choice(sorted(SCENARIOS)), default=None,
              help="Backend conditions of a scenario (default: a healthy backend).")
@click.option("--seed", type=int, default=1, show_default=True, help="Seed for background load.")
@click.option("--speed", type=Number(min=0.001), default=1.0, show_default=True,
              help="Backend seconds per wall-clock second (60: jobs finish 60x sooner).")
@click.option("--throttle-first", type=click.IntRange(0), default=0, show_default=True,
              metavar="N", help="Answer the first N uploads 429 (a throttling server).")
@click.option("--retry-after", default=None, metavar="VALUE",
              help="The Retry-After header of those 429s (delta-seconds or an HTTP-date).")
@click.option("--upload-delay", type=Number(min=0.0), default=0.0, show_default=True,
              metavar="SECONDS", help="Answer every upload only after this many seconds.")
def serve_sim(host: str, port: int, scenario: str | None, seed: int, speed: float,
              throttle_first: int, retry_after: str | None, upload_delay: float) -> None:
    """Serve the simulated backend over real HTTP (spec section 6) until interrupted."""
    import random
    import time

    from walsync.adapters.sim.backend import BackendConfig, SimBackend
    from walsync.adapters.sim.scenarios import scenario_named
    from walsync.adapters.sim.server import SimServer

    chosen = scenario_named(scenario) if scenario else None
    started = time.time()
    config = attrs.evolve(chosen.backend if chosen else BackendConfig(),
                          throttle_first=throttle_first, throttle_retry_after=retry_after)
    model = SimBackend(config, epoch=started)
    if chosen is not None and chosen.background is not None:
        model.add_background_work(chosen.background(random.Random(seed), chosen.hours * 3600))
    server = SimServer(model, lambda: (time.time() - started) * speed, host=host,
                       port=port, upload_delay=upload_delay).start()
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

