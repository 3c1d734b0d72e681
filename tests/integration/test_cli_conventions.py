"""The conventions of docs/cli.md, held for every command: the reference matches `--help`, data
comes as --json (and -o where it is a table), lists take -n and --reverse, repeated filters
combine, one time format, --force for every file written, exit codes 0/1/2, a closed pipe."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import attrs
import click
import pytest
from click.testing import CliRunner
from field_server import FieldServer, recordings, walsync

from walsync.adapters.cli.main import cli
from walsync.adapters.cli.options import OutputFile
from walsync.adapters.ports import NewEvent
from walsync.adapters.service.folder_sync import SyncSummary
from walsync.adapters.store.sqlite import SqliteStore
from walsync.core.events import WalRegistered

from fakes import synced_log
from generated_docs import DOCS, commands, current, expected, option_names

WALSYNC = str(Path(sys.executable).parent / "walsync")
ALL = dict(commands())
# Commands that print no data (groups only dispatch): the server prints its URL, then serves.
NO_DATA = {"walsync serve-sim": "a server", "walsync fleet serve": "a server"}
TABLES = ("walsync status", "walsync log", "walsync timeline", "walsync why")
TIME_LIKE = re.compile(r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d(?::\d\d)?(?:\.\d+)?(?:Z|[+-]\d\d:\d\d| UTC)?")


def _run(*args: str, **kwargs: object) -> click.testing.Result:
    return CliRunner().invoke(cli, list(args), **kwargs)  # type: ignore[arg-type]  # CliRunner's kwargs


@pytest.fixture(scope="module")
def log_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return synced_log(tmp_path_factory.mktemp("conventions") / "log.db", 7)


def _help_options(path: str) -> set[str]:
    """Option spellings in the Options section of `walsync ... --help`."""
    args = [a for a in path.split()[1:] if a.isupper() is False or a == "SHARED"]
    args = ["x.jsonl" if a == "SHARED" else a for a in args]
    result = _run(*args, "--help")
    assert result.exit_code == 0, result.output
    options = result.output.split("Options:", 1)[1].split("Commands:", 1)[0]
    return set(re.findall(r"(?:^|[\s,/])(--?[a-zA-Z][\w-]*)", options))


def _documented_options(path: str) -> set[str]:
    text = current("cli.md")
    section = text.split(f"### `{path}`\n", 1)[1].split("\n### ", 1)[0]
    return set(re.findall(r"`(--?[a-zA-Z][\w-]*)`", section.split("| option |", 1)[-1])) | {
        "-h", "--help"} if "| option |" in section else {"-h", "--help"}


def test_the_reference_in_docs_cli_md_is_what_the_commands_say() -> None:
    assert current("cli.md") == expected("cli.md"), "run: python tests/generated_docs.py --write"
    # An option without a default shows none (click 8.3+ gives it a sentinel whose text the
    # reference printed 39 times as its default: `Sentinel.UNSET`).
    assert "Sentinel" not in expected("cli.md")


@pytest.mark.parametrize("path", sorted(ALL))
def test_every_option_of_every_command_is_in_help_and_in_the_docs(path: str) -> None:
    declared = set(option_names(ALL[path]))
    assert _help_options(path) == declared
    assert _documented_options(path) == declared


def test_every_top_level_command_has_a_section_of_its_own() -> None:
    text = (DOCS / "cli.md").read_text(encoding="utf-8")
    for name in cli.commands:
        assert f"## `walsync {name}`" in text, name


@pytest.mark.parametrize("path", sorted(p for p, c in ALL.items()
                                         if p not in NO_DATA and not isinstance(c, click.Group)))
def test_every_command_that_prints_data_takes_json(path: str) -> None:
    assert "--json" in option_names(ALL[path])


@pytest.mark.parametrize("path", TABLES)
def test_table_commands_take_output_limit_reverse_and_local(path: str) -> None:
    command = ALL[path]
    [output] = [p for p in command.params if p.name == "output"]
    assert isinstance(output.type, click.Choice)
    assert list(output.type.choices) == ["table", "json", "jsonl", "csv"]
    assert {"-o", "--output", "-n", "--limit", "--reverse", "--local", "--json"} <= set(
        option_names(command))


@pytest.mark.parametrize("path", sorted(ALL))
def test_a_command_that_writes_a_file_takes_force(path: str) -> None:
    writes = [p for p in ALL[path].params if isinstance(p.type, OutputFile)]
    if writes or path.endswith("diagram"):
        assert "--force" in option_names(ALL[path])


# -- exit codes -----------------------------------------------------------------------------------

USAGE = [
    ["why", "--db", "{log}"],
    ["why", "w", "--all", "--db", "{log}"],
    ["why", "w", "--db", "{log}", "-n", "3"],
    ["log", "--db", "{log}", "--json", "--csv"],
    ["log", "--db", "{log}", "-o", "xml"],
    ["log", "--db", "{log}", "--seq", "-1"],
    ["log", "--db", "{log}", "--since", "yesterday"],
    ["status", "--db", "{log}", "--at", "2026-05-20T00:00:00Z", "--seq", "3"],
    ["status", "--db", "{log}", "--state", "lost"],
    ["status", "--db", "{log}", "--bogus"],
    ["report", "--db", "{log}", "--wal", "x", "--all", "--html", "{tmp}/r.html"],
    ["simulate", "--scenario", "backend_saturation", "--hours", "nan", "--db", "{tmp}/s.db"],
    ["incidents", "--json", "--write", "{tmp}/i.md"],
    ["replay", "{tmp}/none.jsonl", "nothing"],
    ["no-such-command"],
]


@pytest.mark.parametrize("args", USAGE, ids=lambda a: " ".join(a))
def test_a_usage_error_is_one_error_line_and_exit_2(args: list[str], log_file: Path,
                                                    tmp_path: Path) -> None:
    result = _run(*[a.format(log=log_file, tmp=tmp_path) for a in args])
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    [line] = result.stderr.splitlines()
    assert line.startswith("Error: ") and "--help" in line


def test_runtime_errors_exit_1(log_file: Path, tmp_path: Path) -> None:
    missing = _run("status", "--db", str(tmp_path / "none.db"))
    assert missing.exit_code == 1 and missing.stderr.startswith("Error: no log file")
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"not a database" * 100)
    verified = _run("verify", "--db", str(junk))
    assert verified.exit_code == 1 and verified.stdout.startswith("BAD: ")
    assert "None" not in verified.stdout
    unknown = _run("why", "nobody", "--db", str(log_file))
    assert unknown.exit_code == 1 and unknown.stderr.startswith("Error: unknown WAL id")


def test_ctrl_c_in_a_batch_command_is_one_error_line_and_exit_130(tmp_path: Path) -> None:
    """Ctrl-C in `incidents` (or `demo`, `export`, ...) once it is at work: one `Error:` line
    saying what may be left, exit code 130; click printed "Aborted!" and exited 1."""
    child = subprocess.Popen(
        [WALSYNC, "incidents", "--logs", str(tmp_path)], stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE, text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        assert child.stderr is not None
        first = child.stderr.readline()  # "running fair_use_backlog / legacy": at work
        child.send_signal(signal.SIGINT)
        rest = child.stderr.read()
        child.wait(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert first.startswith("running "), first
    lines = rest.splitlines()
    assert child.returncode == 130, (child.returncode, rest)
    assert "Traceback" not in rest and "Aborted!" not in rest, rest
    assert lines[-1].startswith("Error: interrupted (Ctrl-C)") and "--force" in lines[-1], rest


@pytest.mark.parametrize("path", ["fleet status", "fleet why"])
def test_the_fleet_lists_take_n_as_every_list_does(path: str) -> None:
    """`fleet why -n 5` was "No such option '-n'" where every other list takes it."""
    assert "-n, --limit" in _run(*path.split(), "--help").stdout


def test_a_runtime_error_of_several_lines_is_one_error_line() -> None:
    """PostgreSQL's driver says "connection failed: ..." and "Is the server running ...?" on
    two lines; the command printed both (the second without `Error:`)."""
    pytest.importorskip("psycopg")
    done = subprocess.run([WALSYNC, "fleet", "status", "--db", "postgresql://127.0.0.1:1/x"],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 1 and done.stdout == ""
    assert len(done.stderr.splitlines()) == 1 and done.stderr.startswith("Error: PostgreSQL: ")
    assert "Is the server running" in done.stderr


def test_a_command_piped_into_head_exits_0(tmp_path: Path) -> None:
    path = tmp_path / "big.db"
    store = SqliteStore(path)
    at = datetime(2026, 5, 20, tzinfo=UTC)
    store.append([NewEvent(event_id=f"e{i}", event=WalRegistered(
        at=at + timedelta(seconds=i), wal_id=f"omi_{1779264000 + i}", timer_start=1779264000 + i))
        for i in range(3000)])  # far more than a pipe's buffer holds
    store.close()
    done = subprocess.run(["bash", "-c", f"set -o pipefail; {WALSYNC} log --db {path} | head -1"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("\n") == 1 and done.stderr == ""


# -- lists, filters, formats, times ----------------------------------------------------------------

def _lines(result: click.testing.Result) -> list[dict[str, object]]:
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_repeated_filters_are_or_and_different_filters_are_and(log_file: Path) -> None:
    db = str(log_file)
    both = _lines(_run("log", "--db", db, "--json", "--type", "CooldownStarted",
                       "--type", "UploadAccepted"))
    assert {r["type"] for r in both} == {"CooldownStarted", "UploadAccepted"}
    wals = [r["stream"] for r in _lines(_run("log", "--db", db, "--json", "--type", "WalRegistered"))]
    two = _lines(_run("log", "--db", db, "--json", "--wal", wals[0][4:], "--wal", wals[1][4:]))
    assert {r["stream"] for r in two} == set(wals[:2])
    anded = _lines(_run("log", "--db", db, "--json", "--wal", wals[0][4:], "--type", "WalRegistered"))
    assert [(r["stream"], r["type"]) for r in anded] == [(wals[0], "WalRegistered")]
    rows = _lines(_run("status", "--db", db, "-o", "jsonl", "--state", "uploaded",
                       "--state", "waiting"))
    assert {r["display"] for r in rows} == {"uploaded", "waiting"}
    only = _lines(_run("status", "--db", db, "-o", "jsonl", "--state", "uploaded"))
    assert {r["display"] for r in only} == {"uploaded"} and 0 < len(only) < len(rows)


def test_limit_and_reverse_on_every_list(log_file: Path) -> None:
    db = str(log_file)
    events = _lines(_run("log", "--db", db, "--json"))
    newest = _lines(_run("log", "--db", db, "--json", "-n", "3", "--reverse"))
    assert [e["seq"] for e in newest] == [e["seq"] for e in events[::-1][:3]]
    assert [e["seq"] for e in _lines(_run("log", "--db", db, "--json", "--limit", "2"))] == [
        e["seq"] for e in events[:2]]
    rows = _lines(_run("status", "--db", db, "-o", "jsonl"))
    assert _lines(_run("status", "--db", db, "-o", "jsonl", "-n", "2", "--reverse")) == rows[::-1][:2]
    wal = str(rows[0]["wal_id"])
    steps = _lines(_run("timeline", wal, "--db", db, "--json"))
    assert _lines(_run("timeline", wal, "--db", db, "--json", "-n", "1", "--reverse")) == steps[-1:]
    stalled = _lines(_run("why", "--all", "--db", db, "-o", "jsonl"))
    assert len(stalled) > 2
    assert _lines(_run("why", "--all", "--db", db, "-o", "jsonl", "-n", "2", "--reverse")) == (
        stalled[::-1][:2])


def test_json_keeps_its_shapes_and_every_table_speaks_every_format(log_file: Path) -> None:
    db = str(log_file)
    status = json.loads(_run("status", "--db", db, "--json").stdout)
    assert set(status) == {"rows", "cards", "gate", "displays", "as_of_seq"}
    assert isinstance(json.loads(_run("why", "--all", "--db", db, "--json").stdout), list)
    assert set(_lines(_run("log", "--db", db, "--json"))[0]) == {
        "seq", "at", "stream", "version", "type", "event_id", "data"}
    wal = status["rows"][0]["wal_id"]
    for args in (["status"], ["log"], ["why", "--all"], ["timeline", wal], ["policies"]):
        extra = [] if args == ["policies"] else ["--db", db]
        as_json = _run(*args, *extra, "-o", "json")
        assert as_json.exit_code == 0, as_json.output
        json.loads(as_json.stdout)
        for line in _run(*args, *extra, "-o", "jsonl").stdout.splitlines():
            json.loads(line)
        table = _run(*args, *extra, "-o", "csv").stdout.splitlines()
        assert table and "," in table[0]


def test_sync_json_is_one_object_of_the_summary_s_fields_and_progress_goes_to_stderr(
        tmp_path: Path) -> None:
    names = recordings(tmp_path / "rec", 3)
    (tmp_path / "rec" / "notes.bin").write_bytes(b"x")
    with FieldServer() as server:
        done = walsync("sync", "--db", "log.db", "--backend", server.url, "--token",
                       "tok-conventions-0123456789", "--recordings", "rec", "--once", "--json",
                       cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)  # the whole of stdout is one object
    assert set(summary) == {f.name for f in attrs.fields(SyncSummary)}
    assert summary["registered"] == 3 and summary["finished_reason"] == "once"
    assert len(summary["rows"]) == len(names) and all(r["wal_id"] for r in summary["rows"])
    assert summary["skipped"] and "notes.bin" in summary["skipped"][0]
    assert "registered 3 new recording(s)" in done.stderr and "finished (once)" in done.stderr


def test_every_time_printed_as_text_is_iso_8601_utc(log_file: Path) -> None:
    db = str(log_file)
    wal = json.loads(_run("status", "--db", db, "--json").stdout)["rows"][0]["wal_id"]
    texts = [_run(*args).stdout for args in (
        ["status", "--db", db], ["status", "--db", db, "--seq", "5"], ["log", "--db", db],
        ["why", "--all", "--db", db], ["why", wal, "--db", db], ["timeline", wal, "--db", db])]
    found = [t for text in texts for t in TIME_LIKE.findall(text)]
    assert found, "expected times in the output"
    assert [t for t in found if not re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", t)] == []


def test_local_shows_the_same_moments_in_local_time(log_file: Path) -> None:
    env = {**os.environ, "TZ": "Asia/Kolkata"}
    args = [WALSYNC, "log", "--db", str(log_file), "--type", "CooldownStarted"]
    utc = subprocess.run(args, capture_output=True, text=True, env=env, timeout=60).stdout
    local = subprocess.run([*args, "--local"], capture_output=True, text=True, env=env,
                           timeout=60).stdout
    utc_times = re.findall(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", utc)
    local_times = re.findall(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+05:30", local)
    assert utc_times and len(local_times) == len(utc_times)
    assert [datetime.fromisoformat(t) for t in local_times] == [
        datetime.fromisoformat(t.replace("Z", "+00:00")) for t in utc_times]
    as_json = subprocess.run([*args, "--json", "--local"], capture_output=True, text=True, env=env,
                             timeout=60).stdout
    assert "+05:30" not in as_json and json.loads(as_json.splitlines()[0])["at"].endswith("Z")


# -- files -----------------------------------------------------------------------------------------

def test_every_command_that_writes_refuses_an_existing_file_without_force(
        log_file: Path, tmp_path: Path) -> None:
    target = tmp_path / "exists"
    writes = {
        "report": ["report", "--db", str(log_file), "--html", "{t}.html"],
        "export": ["export", "--db", str(log_file), "--out", "{t}.jsonl"],
        "import": ["import", "{shared}", "--into", "{t}.db"],
        "simulate": ["simulate", "--scenario", "backend_saturation", "--hours", "0.2", "--wals",
                     "2", "--db", "{t}.db"],
        "demo": ["demo", "--db", "{t}.db"],
        "incidents": ["incidents", "--write", "{t}.md"],
    }
    shared = tmp_path / "shared.jsonl"
    assert _run("export", "--db", str(log_file), "--out", str(shared)).exit_code == 0
    for name, args in writes.items():
        suffix = Path(args[-1]).suffix
        existing = target.with_suffix(suffix)
        existing.write_bytes(b"keep me")
        filled = [a.format(t=target, shared=shared) for a in args]
        refused = _run(*filled)
        assert refused.exit_code == 1, (name, refused.output)
        assert "exists; pass --force" in refused.stderr, (name, refused.stderr)
        assert existing.read_bytes() == b"keep me", name
        if name in ("report", "export", "import", "simulate"):
            forced = _run(*filled, "--force")
            assert forced.exit_code == 0, (name, forced.output)
            assert existing.read_bytes() != b"keep me", name
        existing.unlink()


def test_force_never_overwrites_the_log_being_read(log_file: Path, tmp_path: Path) -> None:
    before = log_file.read_bytes()
    for args in (["report", "--db", str(log_file), "--html", str(log_file), "--force"],
                 ["export", "--db", str(log_file), "--out", str(log_file), "--force"]):
        result = _run(*args)
        assert result.exit_code == 1 and "log being read" in result.stderr, result.output
    assert log_file.read_bytes() == before


def test_diagram_write_needs_force(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    page = tmp_path / "docs" / "state-diagram.md"
    page.parent.mkdir()
    page.write_text("old\n", encoding="utf-8")
    refused = _run("diagram", "--write")
    assert refused.exit_code == 1 and page.read_text(encoding="utf-8") == "old\n"
    forced = _run("diagram", "--write", "--force")
    assert forced.exit_code == 0 and "```mermaid" in page.read_text(encoding="utf-8")


# -- replay asks a shared log what a live log is asked ---------------------------------------------

def test_replay_answers_why_timeline_log_and_time_travel_like_the_live_log(
        log_file: Path, tmp_path: Path) -> None:
    shared = tmp_path / "private.jsonl"
    assert _run("export", "--db", str(log_file), "--out", str(shared), "--no-redact").exit_code == 0
    db = str(log_file)
    wal = json.loads(_run("status", "--db", db, "--json").stdout)["rows"][0]["wal_id"]
    at = _lines(_run("log", "--db", db, "--json"))[4]["at"]
    for question in (["why", wal, "--json"], ["why", "--all", "-o", "jsonl"],
                     ["timeline", wal, "--json"], ["log", "--json", "--type", "CooldownStarted"],
                     ["status", "--at", str(at), "--json"], ["status", "--seq", "6"]):
        live = _run(*question[:1], "--db", db, *question[1:])
        replayed = _run("replay", str(shared), *question)
        assert live.exit_code == replayed.exit_code == 0, (question, replayed.output)
        assert replayed.stdout == live.stdout, question
    default = _run("replay", str(shared), "--json")
    assert json.loads(default.stdout) == json.loads(_run("status", "--db", db, "--json").stdout)
