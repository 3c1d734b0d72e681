"""T43: foreign objects in the log are refused at open. A trigger on one of walsync's tables
(or views), and an object that takes one of walsync's names, make `walsync sync` refuse the log
with one `Error:` line naming the object and the statement that drops it, leaving the file
where it is, byte for byte; `verify` calls it BAD. A user's own tables, indexes and views are
left alone, and `verify` lists them."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest
from field_server import FieldServer, recordings, walsync
from storage_fixtures import log_then, registered

from walsync.adapters.store.sqlite import SqliteStore
from walsync.core.errors import ForeignObjects

TOKEN = "tok-t43-0123456789abcdef"
SPY = ("CREATE TABLE seen (seq INTEGER)",
       "CREATE TRIGGER spy AFTER INSERT ON events BEGIN INSERT INTO seen VALUES (new.seq); END")


def _sync(folder: Path, url: str) -> subprocess.CompletedProcess[str]:  # noqa: F821 (a name in a string)
    return walsync("sync", "--db", "log.db", "--backend", url, "--token", TOKEN,
                   "--recordings", "rec", "--once", cwd=folder)


def test_t43_a_trigger_on_events_is_refused_at_open_and_by_verify(tmp_path: Path) -> None:
    """Regression: the log opened, the trigger ran on every append, and verify said ok."""
    path = log_then(tmp_path, *SPY)
    names = recordings(tmp_path / "rec", 2)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    with FieldServer() as server:
        refused = _sync(tmp_path, server.url)
        assert refused.returncode == 1, refused.stdout + refused.stderr
        [line] = refused.stderr.strip().splitlines()
        assert line.startswith("Error: ") and "'spy'" in line and 'DROP TRIGGER "spy"' in line
        assert server.posted() == {}
        assert hashlib.sha256(path.read_bytes()).hexdigest() == digest
        assert [p.name for p in tmp_path.iterdir() if p.name.startswith("log.db")
                and not p.name.endswith(("-wal", "-shm"))] == ["log.db"]  # nothing moved

        verify = walsync("verify", "--db", "log.db", "--json", cwd=tmp_path)
        report = json.loads(verify.stdout)
        assert verify.returncode == 1 and not report["ok"] and "spy" in report["problem"]

        with closing(sqlite3.connect(path)) as conn:  # as the error says
            conn.execute('DROP TRIGGER "spy"')
            conn.commit()
        synced = _sync(tmp_path, server.url)
        assert synced.returncode == 0, synced.stderr
        assert server.posted() == dict.fromkeys(names, 1)
    verify = walsync("verify", "--db", "log.db", cwd=tmp_path)
    assert verify.returncode == 0 and "left alone, not walsync's: table seen" in verify.stdout
    with closing(sqlite3.connect(path)) as conn:
        assert conn.execute("SELECT count(*) FROM seen").fetchone()[0] == 0


@pytest.mark.parametrize(("statements", "named"), [
    (("CREATE TRIGGER quiet BEFORE DELETE ON wal_rows BEGIN SELECT 1; END",), "'quiet'"),
    (("CREATE TRIGGER instead INSTEAD OF INSERT ON wal_events BEGIN SELECT 1; END",), "'instead'"),
    (("CREATE TRIGGER Upper AFTER UPDATE ON EVENTS BEGIN SELECT 1; END",), "'Upper'"),
    (("DROP VIEW cooldowns", "CREATE TABLE cooldowns (seq INTEGER)"), "'cooldowns'"),
    (("CREATE TABLE Sync_Card2 (x)", "CREATE VIEW [Gate_State_] AS SELECT 1",
      "DROP VIEW retry_bumps", "CREATE VIEW Retry_Bumps AS SELECT 1 AS seq"), "'Retry_Bumps'"),
], ids=["trigger-on-a-projection", "instead-of-on-a-view", "another-case",
        "a-table-in-a-view's-name", "a-view-in-another-case"])
def test_t43_objects_acting_on_or_shadowing_walsync_are_refused_where_they_are(
        tmp_path: Path, statements: tuple[str, ...], named: str) -> None:
    path = log_then(tmp_path, *statements)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    with pytest.raises(ForeignObjects, match=named):
        SqliteStore(path)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == digest
    assert not [p for p in tmp_path.iterdir() if ".corrupt-" in p.name or "salvag" in p.name]


def test_t43_a_users_own_objects_are_left_alone_and_listed(tmp_path: Path) -> None:
    path = log_then(tmp_path, "CREATE TABLE notes (seq INTEGER, text TEXT)",
                "CREATE INDEX events_by_time ON events (at)",
                "CREATE VIEW registrations AS SELECT seq FROM events WHERE type = 'WalRegistered'",
                "CREATE TRIGGER stamp AFTER INSERT ON notes BEGIN SELECT 1; END", "ANALYZE")
    store = SqliteStore(path)
    store.append([registered("t", 1)])
    store.close()
    verify = walsync("verify", "--db", str(path), "--json", cwd=tmp_path)
    report = json.loads(verify.stdout)
    assert report["ok"], report
    assert report["user_objects"] == ["index events_by_time", "table notes", "trigger stamp",
                                      "view registrations"]
