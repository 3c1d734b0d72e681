"""Helpers for T92-T94: a compacted device log (two sealed segments and a live log) and what a
user asks of a log through the CLI, to compare a log with its export, import or replay."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from click.testing import CliRunner
from compacted import aged_log, archived_ids, days, fold_of, whole_history

from walsync.adapters.cli.main import cli
from walsync.adapters.store.segments.compact import compact_log

__all__ = ["answers", "compacted_device", "run"]


def compacted_device(folder: Path) -> tuple[Path, list[str]]:
    """`folder/log.db`, forty days of a device compacted at 30 days into segments of 20
    events (two of them), and every recording it ever held."""
    path = folder / "log.db"
    h = aged_log(path)
    ids = sorted(fold_of(whole_history(path)).wals)
    report = compact_log(path, older_than=days(30), now=h.clock.now(), segment_events=20)
    h.store.close()
    assert report.segments == 2 and report.first_seq == 1 and archived_ids(path)
    return path, ids


def run(*args: str, code: int = 0) -> str:
    """`walsync ARGS` (in the current folder: the tests pass relative paths); its output."""
    result = CliRunner().invoke(cli, list(args))
    assert result.exit_code == code, (args, result.output)
    return result.output


def answers(*where: str, ids: list[str]) -> dict[str, Any]:
    """`status --all`, `why --all`, and `why` and `timeline` of each recording, as JSON, asked
    with `where` (`--db FILE`, or `replay FILE` before the question)."""
    def ask(question: str, *args: str) -> Any:
        replay = where[0] == "replay"
        text = run(*where, question, *args) if replay else run(question, *where, *args)
        lines = [line for line in text.splitlines() if not line.startswith("replaying ")]
        if question == "timeline":
            return [json.loads(line) for line in lines]
        return json.loads("\n".join(lines))

    return {"status": ask("status", "--all", "--json"), "why_all": ask("why", "--all", "--json"),
            "why": {w: ask("why", w, "--json") for w in ids},
            "timeline": {w: ask("timeline", w, "--json") for w in ids}}
