"""`walsync demo`, `simulate`, `incidents` and `serve-sim`: the simulated backend and its incidents."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from walsync.adapters.cli.common import fresh, progress_bar
from walsync.adapters.sim.scenarios import SCENARIOS
from walsync.core.policies import POLICIES, policy_named

__all__ = ['demo', 'incidents', 'serve_sim', 'simulate']


@click.command()
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
    fresh(path, force)
    click.echo(f"walsync demo: policy {policy}, log {path}")
    with progress_bar("simulating") as progress:
        result = run_demo(path, policy_named(policy), progress=progress, say=click.echo)
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


@click.command()
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
        with progress_bar(f"{scenario} / {name}") as progress:
            results.append(run_simulation(chosen, POLICIES[name], seed, target,
                                          progress=progress))
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


@click.command()
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


@click.command("serve-sim")
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

