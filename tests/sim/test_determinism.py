"""Same scenario, policy and seed: a byte-identical log, whatever the process or hash seed."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from walsync.adapters.sim.run import run_simulation
from walsync.adapters.sim.scenarios import scenario_named
from walsync.core.policies import POLICIES


def _dump(path: Path) -> bytes:
    import sqlite3

    with sqlite3.connect(path) as conn:
        return b"\n".join(repr(row).encode() for row in conn.execute(
            "SELECT * FROM events ORDER BY seq"))


def test_two_runs_give_the_same_head_hash_and_the_same_rows(tmp_path: Path) -> None:
    scenario = scenario_named("mixed").with_overrides(hours=6, wals=40)
    first = run_simulation(scenario, POLICIES["walsync"], 5, tmp_path / "a.db")
    second = run_simulation(scenario, POLICIES["walsync"], 5, tmp_path / "b.db")
    assert first.head_hash == second.head_hash
    assert _dump(tmp_path / "a.db") == _dump(tmp_path / "b.db")
    other = run_simulation(scenario, POLICIES["walsync"], 6, tmp_path / "c.db")
    assert other.head_hash != first.head_hash


def test_another_process_with_another_hash_seed_agrees(tmp_path: Path) -> None:
    code = ("import sys; from walsync.adapters.sim.scenarios import scenario_named; "
            "from walsync.adapters.sim.run import run_simulation; "
            "from walsync.core.policies import POLICIES; "
            "s = scenario_named('backend_saturation').with_overrides(hours=3, wals=12); "
            "print(run_simulation(s, POLICIES['seed'], 9, sys.argv[1]).head_hash)")
    hashes = set()
    for hash_seed, name in (("1", "x.db"), ("2", "y.db")):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed, "TZ": "Pacific/Apia"}
        done = subprocess.run([sys.executable, "-c", code, str(tmp_path / name)], env=env,
                              capture_output=True, text=True, timeout=120, check=True)
        hashes.add(done.stdout.strip())
    local = run_simulation(scenario_named("backend_saturation").with_overrides(hours=3, wals=12),
                           POLICIES["seed"], 9, tmp_path / "z.db").head_hash
    assert hashes == {local}


def documented_simulate_fields() -> set[str]:
    """The field names of the table under `walsync simulate` in docs/cli.md (first column)."""
    page = (Path(__file__).parents[2] / "docs" / "cli.md").read_text(encoding="utf-8")
    section = page.split("## `walsync simulate`", 1)[1].split("\n## ", 1)[0]
    cells = [line.split("|")[1] for line in section.splitlines() if line.startswith("| `")]
    return {name for cell in cells for name in re.findall(r"`(\w+)`", cell)}


def test_the_documented_fields_are_read_from_the_table() -> None:
    assert {"scenario", "head_hash", "wall_seconds", "duplicate_uploads"} <= (
        documented_simulate_fields())


def test_simulate_json_has_exactly_the_documented_fields(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from walsync.adapters.cli.main import cli

    result = CliRunner().invoke(cli, ["simulate", "--scenario", "flaky_network", "--policy",
                                      "seed", "--seed", "3", "--hours", "2", "--wals", "9",
                                      "--db", str(tmp_path / "s.db"), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output[result.output.index("{"):])
    assert set(data) == documented_simulate_fields()
    assert data["virtual_hours"] == 2 and data["policy"] == "seed" and data["wals_total"] >= 9
    compare = CliRunner().invoke(cli, ["simulate", "--scenario", "flaky_network", "--compare",
                                       "--hours", "1", "--wals", "3", "--db",
                                       str(tmp_path / "c.db")])
    assert compare.exit_code == 0, compare.output
    assert all(p in compare.output for p in ("legacy", "seed", "walsync"))
    assert (tmp_path / "c-legacy.db").exists() and (tmp_path / "c-walsync.db").exists()


def test_the_simulated_backend_records_the_engine_head_sent_with_each_upload(
        tmp_path: Path) -> None:
    from walsync.adapters.sim.run import SimulationRun

    scenario = scenario_named("flaky_network").with_overrides(hours=1, wals=6)
    run = SimulationRun([scenario], POLICIES["seed"], 2, tmp_path / "h.db")
    run.run(None)
    heads = run.model.log_heads
    assert heads and all(":" in h for h in heads)
    seqs = [int(h.split(":")[0]) for h in heads]
    assert seqs == sorted(seqs) and seqs[-1] <= run.engine.store.head()[0]
    stored = {r.seq: r.hash for r in run.engine.store.read()}
    assert all(stored[int(s)] == digest for s, digest in (h.split(":") for h in heads))
    run.engine.close()
