"""The CLI on real log files: status, log, demo, diagram, and clear errors."""

from __future__ import annotations

import json
import re
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from walsync.adapters.cli.main import cli

from fakes import synced_log


@pytest.fixture
def log_file(tmp_path: Path) -> Path:
    return synced_log(tmp_path / "log.db", 4)


def test_status_prints_rows_cards_and_gate(log_file: Path) -> None:
    result = CliRunner().invoke(cli, ["status", "--db", str(log_file)])
    assert result.exit_code == 0, result.output
    assert "Uploaded · processing on Omi" in result.output
    assert "Fair-use limit reached — syncing will resume automatically" in result.output
    assert "uploads paused until" in result.output


def test_status_json_has_rows_with_message_keys_cards_and_gate(log_file: Path) -> None:
    result = CliRunner().invoke(cli, ["status", "--db", str(log_file), "--json"])
    data = json.loads(result.output)
    assert {r["message_key"] for r in data["rows"]} == {"syncStatusUploaded",
                                                        "syncStatusWaiting"}
    assert data["cards"]["sync"]["message_key"] == "syncCardRateLimited"
    assert data["gate"]["limited"] is True and data["gate"]["reason"] == "rateLimit"


def test_log_json_lines_filter_by_wal_and_type(log_file: Path) -> None:
    result = CliRunner().invoke(cli, ["log", "--db", str(log_file), "--json",
                                      "--type", "CooldownStarted"])
    lines = [json.loads(line) for line in result.output.splitlines()]
    assert len(lines) == 1
    assert set(lines[0]) >= {"seq", "at", "stream", "type", "data"}
    assert lines[0]["data"]["seconds"] == 1800
    wal = json.loads(CliRunner().invoke(cli, ["status", "--db", str(log_file), "--json"])
                     .output)["rows"][0]["wal_id"]
    per_wal = CliRunner().invoke(cli, ["log", "--db", str(log_file), "--wal", wal]).output
    assert per_wal.count(f"wal:{wal}") == len(per_wal.splitlines()) > 0


def test_log_text_has_a_sentence_per_event(log_file: Path) -> None:
    out = CliRunner().invoke(cli, ["log", "--db", str(log_file)]).output
    assert "The server throttled the upload (HTTP 429, no Retry-After)" in out


def test_missing_or_foreign_files_are_clear_errors(tmp_path: Path) -> None:
    runner = CliRunner()
    missing = runner.invoke(cli, ["status", "--db", str(tmp_path / "none.db")])
    assert missing.exit_code == 1 and "no log file" in missing.output
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not sqlite" * 100)
    bad = runner.invoke(cli, ["log", "--db", str(junk)])
    assert bad.exit_code == 1 and "not a readable SQLite database" in bad.output
    assert "Traceback" not in bad.output


def test_demo_refuses_to_overwrite_without_force(tmp_path: Path) -> None:
    target = tmp_path / "d.db"
    target.write_bytes(b"keep me")
    result = CliRunner().invoke(cli, ["demo", "--db", str(target)])
    assert result.exit_code == 1 and "--force" in result.output
    assert target.read_bytes() == b"keep me"


def test_demo_shows_both_stalls_and_explains_them(tmp_path: Path) -> None:
    target = tmp_path / "d.db"
    result = CliRunner().invoke(cli, ["demo", "--db", str(target), "--policy", "seed"])
    assert result.exit_code == 0, result.output
    out = result.output
    assert "fair-use throttling" in out
    assert "the backend being busy" in out
    assert "Job timed out (background worker likely died)" in out
    assert "Status rows" in out and "Cooldown history" in out


def _commands(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...],
                                                                             click.Command]]:
    """Every command and subcommand with the words that call it (`fleet status`)."""
    found = []
    for name, command in group.commands.items():
        found.append(((*prefix, name), command))
        if isinstance(command, click.Group):  # a group's own arguments come before its commands
            arguments = tuple(p.human_readable_name for p in command.params
                              if isinstance(p, click.Argument))
            found += _commands(command, (*prefix, name, *arguments))
    return found


@pytest.mark.parametrize(("words", "command"), _commands(cli), ids=lambda v: " ".join(v)
                         if isinstance(v, tuple) else "")
def test_every_command_has_help_and_a_docs_entry(words: tuple[str, ...],
                                                 command: click.Command) -> None:
    docs = Path(__file__).parents[2].joinpath("docs", "cli.md").read_text(encoding="utf-8")
    assert re.search(r"walsync\s+" + r"\s+".join(words) + r"\b", docs), words
    summary = (command.help or "").strip().split("\n")[0]
    assert len(summary) >= 15, f"walsync {' '.join(words)} needs a one-line help text"
    args = ["shared.jsonl" if w.isupper() else w for w in words]  # e.g. replay SHARED why
    result = CliRunner().invoke(cli, [*args, "--help"])
    assert result.exit_code == 0, result.output
    assert " ".join(summary.split()) in " ".join(result.output.split())


def test_verify_passes_a_clean_log_and_names_the_first_bad_seq(log_file: Path,
                                                              tmp_path: Path) -> None:
    import sqlite3

    good = CliRunner().invoke(cli, ["verify", "--db", str(log_file)])
    assert good.exit_code == 0 and good.output.startswith("ok: ")
    head = good.output.split("head ")[1].split()[0]
    anchored = CliRunner().invoke(cli, ["verify", "--db", str(log_file), "--expect-head", head])
    assert anchored.exit_code == 0
    tampered = tmp_path / "t.db"
    with sqlite3.connect(log_file) as src, sqlite3.connect(tampered) as dst:
        src.backup(dst)
        dst.execute("UPDATE events SET type = 'WalDeleted' WHERE seq = 3")
    bad = CliRunner().invoke(cli, ["verify", "--db", str(tampered), "--expect-head", head])
    assert bad.exit_code == 1 and "BAD at seq 3" in bad.output
    junk = CliRunner().invoke(cli, ["verify", "--db", str(log_file), "--expect-head", "nope"])
    assert junk.exit_code == 2


def test_export_import_and_replay_a_shared_log(log_file: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    shared = tmp_path / "shared.jsonl"
    exported = runner.invoke(cli, ["export", "--db", str(log_file), "--out", str(shared),
                                   "--redact"])
    assert exported.exit_code == 0, exported.output
    assert "redacted" in exported.output
    replayed = runner.invoke(cli, ["replay", str(shared), "--json"])
    assert replayed.exit_code == 0, replayed.output
    rows = json.loads(replayed.stdout)["rows"]
    original = json.loads(runner.invoke(cli, ["status", "--db", str(log_file), "--json"])
                          .output)["rows"]
    assert sorted(r["display"] for r in rows) == sorted(r["display"] for r in original)
    assert {r["wal_id"] for r in rows}.isdisjoint({r["wal_id"] for r in original})
    target = tmp_path / "imported.db"
    imported = runner.invoke(cli, ["import", str(shared), "--into", str(target)])
    assert imported.exit_code == 0 and target.exists()
    again = runner.invoke(cli, ["import", str(shared), "--into", str(target)])
    assert again.exit_code == 1 and "exists; pass --force" in again.output
    hostile = tmp_path / "hostile.jsonl"
    hostile.write_text('{"walsync_export": 1, "a": NaN}\n', encoding="utf-8")
    bad = runner.invoke(cli, ["replay", str(hostile)])
    assert bad.exit_code == 1 and bad.output.startswith("Error:")
    assert "Traceback" not in bad.output


def test_import_refuses_a_log_whose_chain_was_tampered(log_file: Path, tmp_path: Path) -> None:
    import sqlite3

    tampered = tmp_path / "tampered.db"
    src, dst = sqlite3.connect(log_file), sqlite3.connect(tampered)
    src.backup(dst)
    dst.execute("UPDATE events SET at = '2026-05-20T09:00:00.000000Z' WHERE seq = 2")
    dst.commit()
    src.close()
    dst.close()  # the last close checkpoints the WAL into the file an importer reads
    result = CliRunner().invoke(cli, ["import", str(tampered), "--into", str(tmp_path / "x.db")])
    assert result.exit_code == 1 and "seq 2" in result.output
    assert not (tmp_path / "x.db").exists()
