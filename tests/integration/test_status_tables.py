"""`walsync status` reads the projection tables the store commits with the events, never
folding the log (issue 17): the same rows, cards and gate as the fold, at any log size."""

from __future__ import annotations

import json
import sqlite3
from collections import Counter
from contextlib import closing
from pathlib import Path

import pytest
from click.testing import CliRunner

from walsync.adapters.cli.main import cli
from walsync.core.responses import UploadProcessed, UploadThrottled
from walsync.projections.view import Projection

from fakes import synced_log


def _status(path: Path, *extra: str) -> dict[str, object]:
    result = CliRunner().invoke(cli, ["status", "--db", str(path), "--json", *extra])
    assert result.exit_code == 0, result.output
    data: dict[str, object] = json.loads(result.output)
    return data


def test_status_prints_the_tables_without_folding_the_log(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = synced_log(tmp_path / "log.db", 6)
    folded = _status(path, "--seq", "999999")  # a cut: the fold, as before

    def refuse(*_: object) -> None:
        raise AssertionError("status folded the log")
    monkeypatch.setattr(Projection, "plan", refuse)
    monkeypatch.setattr(Projection, "plan_rows", refuse)
    committed = _status(path)
    folded.pop("cut_note", None)
    assert committed == folded
    assert len(committed["rows"]) == 6  # type: ignore[arg-type]  # a list of rows
    waiting = _status(path, "--state", "waiting")["rows"]
    assert waiting == [r for r in committed["rows"] if r["display"] == "waiting"]  # type: ignore[attr-defined, index]  # rows are dicts
    assert waiting


def test_tables_that_cannot_be_the_fold_are_not_trusted(tmp_path: Path) -> None:
    """A gate row behind the gate's stream (written by hand, or by a walsync that did not keep
    the tables): status folds the log instead of printing the stale row."""
    path = synced_log(tmp_path / "log.db", 4)
    before = _status(path)
    with closing(sqlite3.connect(path)) as conn, conn:
        conn.execute("DELETE FROM gate_state")
    assert _status(path) == before


def test_status_lists_the_recordings_still_moving_and_counts_every_one(tmp_path: Path) -> None:
    """A month of finished rows stays in the live tables; `status` lists the live recordings
    (not synced, not corrupted) and counts every recording by display state, so its cost
    follows what is still moving (issue 17). `--state` lists any rows, finished ones too; the
    fold (`--seq`) prints the same."""
    path = synced_log(tmp_path / "log.db", 6, UploadProcessed(), UploadThrottled())
    folded = Projection()
    with closing(sqlite3.connect(path)) as conn:
        folded.commit(folded.plan_rows(conn.execute(
            "SELECT seq, stream, type, schema_version, at, data FROM events ORDER BY seq")))
    every = [r._asdict() for r in folded.rows.values()]
    assert {r["display"] for r in every} >= {"synced", "waiting"}
    committed = _status(path)
    assert committed["rows"] == [r for r in every if r["state"] != "synced"]
    assert committed["displays"] == dict(Counter(r["display"] for r in every))
    assert _status(path, "--state", "synced")["rows"] == [
        r for r in every if r["display"] == "synced"]
    at_head = _status(path, "--seq", "999999")
    at_head.pop("cut_note", None)
    assert at_head == committed
    text = CliRunner().invoke(cli, ["status", "--db", str(path)]).output
    synced = next(r["wal_id"] for r in every if r["display"] == "synced")
    assert synced not in text and "recordings: " in text and " synced" in text

