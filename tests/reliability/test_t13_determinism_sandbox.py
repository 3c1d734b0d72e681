"""T13: replay is deterministic. The fold, `why`, `status`, `walsync replay` and replay_into
run in a sandbox where clocks, random sources, uuids, sockets and SQLite writes raise; two runs
give byte-identical output, and so does a run under TZ=Pacific/Apia (UTC+13/+14, the date-line
zone), because every time comes from the events.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from golden_replay import load
from replay_model import projection_bytes
from sandbox import Nondeterminism, sandbox
from tier import record

from walsync.adapters.cli.main import cli
from walsync.adapters.diagnosis.why import explain_all, explain_wal, projection_at
from walsync.adapters.store.share.replay import replay_into
from walsync.adapters.store.sqlite import SqliteStore
from walsync.adapters.store.tables import dump_projection_tables

GOLDEN = Path(__file__).parents[1] / "golden"
LOGS = sorted(GOLDEN.glob("v*/*.jsonl"))


@pytest.fixture(scope="module")
def logs(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Every golden log as a SQLite file (built before any sandbox: setting up may write)."""
    made = []
    for log in LOGS:
        db = tmp_path_factory.mktemp(log.parent.name) / f"{log.stem}.db"
        load(log, db)
        SqliteStore(db).close()
        made.append(db)
    return made


@pytest.fixture
def timezone(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    yield
    monkeypatch.undo()
    time.tzset()


def _cli(args: list[str]) -> str:
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    return result.stdout


def replay_everything(db: Path, out: Path) -> dict[str, bytes | str]:
    """Every replay path over one log, sandboxed; the results serialised outside the sandbox."""
    with sandbox():
        projection, _ = projection_at(db)
        wal_ids = sorted(projection.wals)
        whys = [explain_wal(db, w).to_json() for w in wal_ids]
        stalled = [r.to_json() for r in explain_all(db)]
        cli_why = _cli(["why", "--all", "--db", str(db), "--json"])
        cli_status = _cli(["status", "--db", str(db), "--json"])
    target = out / f"replayed-{len(list(out.iterdir()))}.db"
    with sandbox(writable=frozenset({target})):  # it writes a fresh database, and only that
        replay_into(db, target)
    with sandbox(watchdog=True):  # hostile-input read deadline (C8) uses the monotonic clock
        cli_replay = _cli(["replay", str(db), "--json"])
    replayed = SqliteStore(target)
    tables = dump_projection_tables(replayed.connection)
    replayed.close()
    return {"projection": projection_bytes(projection), "whys": json.dumps(whys),
            "stalled": json.dumps(stalled), "cli_why": cli_why, "cli_status": cli_status,
            "cli_replay": cli_replay, "replay_into": tables}


def test_t13_replay_twice_and_in_another_timezone_is_identical(
        logs: list[Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        timezone: None) -> None:
    for db in logs:
        first = replay_everything(db, tmp_path)
        second = replay_everything(db, tmp_path)
        assert first == second, db
        monkeypatch.setenv("TZ", "Pacific/Apia")
        time.tzset()
        assert time.timezone == -13 * 3600, "no tz database: TZ=Pacific/Apia would be UTC"
        apia = replay_everything(db, tmp_path)
        monkeypatch.setenv("TZ", "UTC")
        time.tzset()
        assert first == apia, f"{db}: TZ=Pacific/Apia changed the replay"
        assert first["projection"] == first["replay_into"]  # the in-memory fold = the written tables
    record("test_t13_replay_twice_and_in_another_timezone_is_identical",
           "sandboxed replays of golden logs", 3 * len(logs))


@pytest.mark.parametrize("reach", ["time.time", "datetime.now", "random", "uuid4", "socket",
                                   "sqlite_write", "bound_clock"])
def test_t13_the_sandbox_catches_each_kind_of_escape(reach: str, tmp_path: Path) -> None:
    """The sandbox is itself tested: each forbidden call is caught (or the check could not fail)."""
    import random
    import socket
    import sqlite3
    import uuid
    from datetime import UTC, datetime
    from time import time as bound_time  # bound before the sandbox patches the module

    db = tmp_path / "x.db"
    sqlite3.connect(db).execute("CREATE TABLE t (x)").connection.close()
    calls = {
        "time.time": lambda: time.time(),
        "datetime.now": lambda: datetime.now(UTC),
        "random": lambda: random.random(),
        "uuid4": lambda: uuid.uuid4(),
        "socket": lambda: socket.socket(),
        "sqlite_write": lambda: sqlite3.connect(db).execute("INSERT INTO t VALUES (1)"),
        "bound_clock": lambda: bound_time(),
    }
    with pytest.raises((Nondeterminism, sqlite3.DatabaseError)), sandbox():
        calls[reach]()
