"""Correct counts and ids: 429s are counted under every policy (legacy logs them as generic
HTTP failures), a `.jsonl.gz` export is its device's stem, an empty log registers nothing."""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from log_edits import copy_log

from walsync.adapters.bootstrap import open_engine
from walsync.adapters.cli.main import cli
from walsync.adapters.fleet.ingest import IngestRefused, device_id_for, ingest_log
from walsync.adapters.fleet.queries import fleet_stats
from walsync.adapters.fleet.store import connect
from walsync.adapters.ports import ManualClock
from walsync.adapters.recordings.files import MemoryFiles
from walsync.adapters.store.share.export import export_log
from walsync.core.policies import REGISTERED


def _answers_429(path: Path) -> int:
    """The log's 429 answers as its own audit view shows them, whatever type logged them."""
    with closing(sqlite3.connect(path)) as conn:
        return int(conn.execute("SELECT count(*) FROM upload_answers WHERE http_status = 429")
                   .fetchone()[0])


def _throttled_log(path: Path, policy: str) -> Path:
    """A real engine under `policy` against a backend that answers every upload 429."""
    clock = ManualClock(datetime(2026, 5, 20, 8, 0, tzinfo=UTC))
    transport = httpx.MockTransport(lambda request: httpx.Response(
        429, json={"detail": "Too many requests"}, headers={"Retry-After": "60"}))
    engine = open_engine(path, base_url="http://backend.test", token="t", transport=transport,
                         files=MemoryFiles({f"phone_{i}": b"x" * 100 for i in range(3)}),
                         policy=policy, clock=clock)
    try:
        for i in range(3):
            engine.register(timer_start=i)
        for _ in range(4):
            engine.tick()
            engine.sync_all()
            clock.advance(3600)
    finally:
        engine.close()
    return path


def test_429s_are_counted_under_every_policy(pg_dsn: str, tmp_path: Path) -> None:
    conn = connect(pg_dsn, write=True)
    try:
        for policy in REGISTERED:
            log = _throttled_log(tmp_path / f"dev-{policy.name}.db", policy.name)
            ingest_log(conn, log, log.stem)
            expected = _answers_429(log)
            assert expected > 0, policy.name
            found = fleet_stats(conn, device_id=log.stem)["totals"]["rate_limited_429"]
            assert found == expected, policy.name
        legacy = conn.execute("SELECT count(*) FROM events WHERE device_id = 'dev-legacy' AND "
                              "type = 'UploadFailed'").fetchone()
        assert legacy is not None and legacy[0] > 0  # legacy logs its 429s as plain failures
    finally:
        conn.close()


@pytest.mark.parametrize(("name", "device"), [
    ("phone-9.jsonl.gz", "phone-9"), ("phone-9.JSONL.GZ", "phone-9"), ("phone-9.jsonl", "phone-9"),
    ("phone-9.db", "phone-9"), ("a.b.db", "a.b")])
def test_a_file_is_named_by_its_device_stem(name: str, device: str) -> None:
    assert device_id_for(Path("logs") / name) == device


def test_a_gzipped_export_and_the_db_are_one_device(pg_dsn: str, fleet_logs: list[Path],
                                                     tmp_path: Path) -> None:
    log = fleet_logs[0]
    export_log(log, tmp_path / "phone-9.jsonl.gz")
    db = tmp_path / "db" / "phone-9.db"
    db.parent.mkdir()
    db.write_bytes(log.read_bytes())
    result = CliRunner().invoke(cli, ["ingest", "--into", pg_dsn, "--json",
                                      str(tmp_path / "phone-9.jsonl.gz"), str(db)])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["devices"] == 1
    assert [(d["device_id"], d["added"] > 0) for d in summary["ingested"]] == [
        ("phone-9", True), ("phone-9", False)]


def test_an_empty_log_is_refused_and_registers_no_device(pg_dsn: str, fleet_logs: list[Path],
                                                         tmp_path: Path) -> None:
    empty = copy_log(fleet_logs[0], tmp_path / "phone-0.db")
    with closing(sqlite3.connect(empty, isolation_level=None)) as db:
        db.execute("DELETE FROM events")
    conn = connect(pg_dsn, write=True)
    try:
        with pytest.raises(IngestRefused) as refused:
            ingest_log(conn, empty, "phone-0")
        assert "holds no events" in str(refused.value) and "device phone-0" in str(refused.value)
        assert conn.execute("SELECT count(*) FROM devices").fetchone() == (0,)
    finally:
        conn.close()
    shown = CliRunner().invoke(cli, ["ingest", "--into", pg_dsn, str(empty)])
    assert shown.exit_code == 1 and "holds no events" in shown.output
