"""T94: `walsync ingest` of a compacted device log, given as the log file itself (its sealed
segments beside it) or as its export, takes the whole history from seq 1; a fleet that already
holds the device's early rows takes the rest from the segments; one that holds every sealed row
reads none of them. The fleet then answers for the device what the device's own log answers."""

from __future__ import annotations

import json
import sqlite3
from collections import Counter
from contextlib import closing
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from fleet_sim import per_device_answers
from log_edits import copy_log, count, prefix

from walsync.adapters.cli.main import cli
from walsync.adapters.fleet.queries import fleet_status, fleet_why
from walsync.adapters.fleet.store import connect
from walsync.adapters.store.segments.compact import compact_log
from walsync.adapters.store.segments.travel import history_from
from walsync.core.serde import parse_time


def _at_of(log: Path, seq: int) -> datetime:
    with closing(sqlite3.connect(log)) as conn:
        return parse_time(str(conn.execute("SELECT at FROM events WHERE seq = ?",
                                           (seq,)).fetchone()[0]))


def _ingest(dsn: str, *logs: str) -> list[dict[str, Any]]:
    result = CliRunner().invoke(cli, ["ingest", "--into", dsn, *logs, "--json"])
    assert result.exit_code == 0, result.output
    found = json.loads(result.stdout)  # the progress bar went to stderr
    assert found["refused"] == []
    return list(found["ingested"])


def _held(dsn: str, device: str) -> list[tuple[int, str]]:
    with connect(dsn) as conn:
        return [(int(s), str(h)) for s, h in conn.execute(
            "SELECT seq, hash FROM events WHERE device_id = %s ORDER BY seq", (device,))]


def test_t94_the_fleet_ingests_a_compacted_log_whole(pg_dsn: str, fleet_logs: list[Path],
                                                     tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # relative paths, as a user types them
    source = fleet_logs[3]
    total = count(source)
    early = prefix(source, Path("early.db"), total // 4)
    log = copy_log(source, Path("phone-c.db"))
    report = compact_log(log, older_than=timedelta(days=30), segment_events=total // 5,
                         now=_at_of(log, total * 2 // 3) + timedelta(days=30))
    assert report.first_seq == 1 and count(early) < report.last_seq < total
    assert len(list(Path().glob("phone-c.db.seg-*"))) >= 2
    whole = [(r.seq, r.hash) for r in history_from(log, 1)]
    # One chain from seq 1, with a SegmentSealed and a StateCarried appended per segment.
    assert [seq for seq, _ in whole] == list(range(1, total + 2 * report.segments + 1))
    export = CliRunner().invoke(cli, ["export", "--db", "phone-c.db", "--out", "phone-e.jsonl.gz",
                                      "--no-redact"])
    assert export.exit_code == 0, export.output
    # phone-c first holds the early rows only: the rest come from the segments, then the live log.
    _ingest(pg_dsn, "early.db", "--device", "phone-c")
    done = _ingest(pg_dsn, "phone-c.db", "phone-e.jsonl.gz")
    assert [(d["device_id"], d["head_seq"], d["head_hash"]) for d in done] == [
        ("phone-c", *whole[-1]), ("phone-e", *whole[-1])]
    assert done[0]["added"] == len(whole) - count(early)
    assert _held(pg_dsn, "phone-c") == whole and _held(pg_dsn, "phone-e") == whole
    # Every sealed row held: ingesting the log again reads no segment (there is none now).
    for segment in Path().glob("phone-c.db.seg-*"):
        segment.rename(segment.name + ".away")
    [again] = _ingest(pg_dsn, "phone-c.db")
    assert (again["added"], again["head_seq"]) == (0, whole[-1][0])
    # A device the fleet does not hold yet needs them: refused, naming what is gone.
    refused = CliRunner().invoke(cli, ["ingest", "--into", pg_dsn, "phone-c.db", "--device", "x"])
    assert refused.exit_code == 1
    assert ("refused: device x (phone-c.db): phone-c.db: it was compacted and history before "
            "seq ") in refused.output and "was removed by retention on " in refused.output
    assert _held(pg_dsn, "x") == []
    device = per_device_answers(source)  # the device's own answers (status, why --all, gate)
    with connect(pg_dsn) as conn:
        for name in ("phone-c", "phone-e"):
            stalls = {s["wal_id"]: s["why"] for s in fleet_why(conn, limit=10_000, device_id=name)}
            assert stalls == device["stalled"]
        status = fleet_status(conn, limit=100)
    assert {k: v["recordings"] for k, v in status["by_display"].items()} == dict(
        Counter({k: 2 * n for k, n in device["displays"].items()}))
    assert status["gates"] == {device["gate"][1] or "open": 2}
