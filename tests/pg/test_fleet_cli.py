"""`walsync ingest` and `walsync fleet ...` on a real server, as a user runs them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner
from log_edits import rewrite

from walsync.adapters.cli.main import cli


def test_ingest_then_fleet_commands_answer_in_text_and_json(pg_dsn: str,
                                                           fleet_logs: list[Path]) -> None:
    logs = [str(p) for p in fleet_logs]
    first = CliRunner().invoke(cli, ["ingest", "--into", pg_dsn, "--json", *logs])
    assert first.exit_code == 0, first.output
    summary = json.loads(first.stdout)
    assert summary["devices"] == len(logs) and summary["refused"] == []
    again = json.loads(CliRunner().invoke(cli, ["ingest", "--into", pg_dsn, "--json", *logs]).stdout)
    assert again["events_added"] == 0 and again["events_already"] == summary["events_added"]
    status = json.loads(CliRunner().invoke(cli, ["fleet", "status", "--db", pg_dsn, "--json"]).stdout)
    assert status["devices"] == len(logs) and status["events"] == summary["events_added"]
    why = json.loads(CliRunner().invoke(cli, ["fleet", "why", "--db", pg_dsn, "--json",
                                              "--limit", "2"]).stdout)
    assert len(why) == 2 and why[0]["why"]["stalled"] is True
    text = CliRunner().invoke(cli, ["fleet", "why", "--db", pg_dsn, "--limit", "1"])
    assert text.exit_code == 0 and why[0]["summary"] in text.output
    stats = CliRunner().invoke(cli, ["fleet", "stats", "--db", pg_dsn])
    assert stats.exit_code == 0 and "429s" in stats.output and "total" in stats.output
    shown = CliRunner().invoke(cli, ["fleet", "status", "--db", pg_dsn])
    assert f"{len(logs)} devices" in shown.output
    rebuilt = CliRunner().invoke(cli, ["fleet", "rebuild", "--db", pg_dsn])
    assert rebuilt.exit_code == 0 and f"{len(logs)} devices" in rebuilt.output


def test_a_refused_log_exits_1_naming_device_and_seq_and_the_others_still_load(
        pg_dsn: str, fleet_logs: list[Path], tmp_path: Path) -> None:
    bad = rewrite(fleet_logs[0], tmp_path / "phone-9.db", 5, rechain=False)
    result = CliRunner().invoke(cli, ["ingest", "--into", pg_dsn, str(bad), str(fleet_logs[1])])
    assert result.exit_code == 1
    assert "device phone-9" in result.output and "seq 5" in result.output
    assert f"device {fleet_logs[1].stem}: +" in result.output


def test_device_option_names_one_log_and_bad_servers_are_one_error_line(
        pg_dsn: str, fleet_logs: list[Path], tmp_path: Path) -> None:
    two = CliRunner().invoke(cli, ["ingest", "--into", pg_dsn, "--device", "x",
                                   str(fleet_logs[0]), str(fleet_logs[1])])
    assert two.exit_code == 2 and "exactly one LOG" in two.output
    named = CliRunner().invoke(cli, ["ingest", "--into", pg_dsn, "--device", "phone-1",
                                     "--json", str(fleet_logs[0])])
    assert json.loads(named.stdout)["ingested"][0]["device_id"] == "phone-1"
    down = CliRunner().invoke(cli, ["fleet", "status", "--db",
                                    f"host={tmp_path} port=1 dbname=none connect_timeout=2"])
    assert down.exit_code == 1 and down.output.startswith("Error: PostgreSQL")


def test_ingest_without_msgspec_says_which_extra_it_needs(fleet_logs: list[Path],
                                                          tmp_path: Path) -> None:
    """The tail's compiled checks come with the `fleet` extra: without msgspec, one line."""
    probe = ("import sys\nsys.modules['msgspec'] = None  # any import of it now fails\n"
             "from walsync.adapters.cli.main import main\n"
             f"main(['ingest', '--into', 'postgresql://nowhere/x', {str(fleet_logs[0])!r}])\n")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          cwd=tmp_path, timeout=120)
    assert done.returncode == 1
    assert done.stderr.strip() == ("Error: the fleet's ingest needs msgspec: "
                                   "pip install 'walsync[fleet]'"), done.stderr
