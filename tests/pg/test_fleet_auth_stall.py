"""A recording held by a pause for refused credentials is a `cooldown_auth` stall in the fleet,
as `walsync why` names it on the device: in the `fleet_stalls` view a dashboard reads, in
`fleet why` and under its `--reason` filter (migration 3; before it the view said
`cooldown_backend_busy`, and a database made before is mended by the next writer)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

import walsync
from walsync.adapters.bootstrap import open_engine
from walsync.adapters.fleet import schema, store
from walsync.adapters.fleet.ingest import ingest_log
from walsync.adapters.fleet.queries import fleet_status, fleet_why
from walsync.adapters.fleet.store import connect
from walsync.adapters.ports import ManualClock
from walsync.adapters.recordings.files import MemoryFiles


def _refused_log(path: Path) -> tuple[Path, str]:
    """A real engine whose one upload is answered 401 with no fresh token to try: uploads
    pause for sign-in, the recording waits under that pause."""
    transport = httpx.MockTransport(lambda request: httpx.Response(
        401, json={"detail": "Not authenticated"}))
    engine = open_engine(path, base_url="http://backend.test", token="t", transport=transport,
                         files=MemoryFiles({"phone_0": b"x" * 100}), policy="walsync",
                         clock=ManualClock(datetime(2026, 5, 20, 8, 0, tzinfo=UTC)))
    try:
        wal_id = engine.register(timer_start=0)
        engine.auto_sync(wal_id)
        gate = engine.gate().gate
        assert gate.limited and gate.reason == "auth"
    finally:
        engine.close()
    return path, wal_id


def test_a_stall_under_an_auth_pause_is_cooldown_auth(pg_dsn: str, tmp_path: Path) -> None:
    log, wal_id = _refused_log(tmp_path / "phone-auth.db")
    assert walsync.why(log, wal_id).reason == "cooldown_auth"
    with connect(pg_dsn, write=True) as writer:
        ingest_log(writer, log, "phone-auth")
    with connect(pg_dsn) as reader:
        view = reader.execute("SELECT wal_id, reason FROM fleet_stalls WHERE device_id = "
                              "'phone-auth'").fetchall()
        assert view == [(wal_id, "cooldown_auth")]
        [stall] = fleet_why(reader, device_id="phone-auth")
        assert (stall["reason"], stall["why"]["reason"]) == ("cooldown_auth", "cooldown_auth")
        assert [s["wal_id"] for s in fleet_why(reader, reason="cooldown_auth")] == [wal_id]
        assert fleet_why(reader, reason="cooldown_backend_busy") == []
        assert fleet_status(reader)["stalled_by_reason"] == {
            "cooldown_auth": {"recordings": 1, "devices": 1}}  # the totals name it so too


def test_a_database_of_version_2_is_mended_by_the_next_writer(
        pg_dsn: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    log, wal_id = _refused_log(tmp_path / "phone-auth.db")
    with monkeypatch.context() as older:  # a walsync that knew migrations 1 and 2 only
        older.setattr(schema, "MIGRATIONS", schema.MIGRATIONS[:2])
        older.setattr(schema, "SCHEMA_VERSION", 2)
        older.setattr(store, "SCHEMA_VERSION", 2)
        with connect(pg_dsn, write=True) as writer:
            ingest_log(writer, log, "phone-auth")
            assert writer.execute("SELECT reason FROM fleet_stalls").fetchall() == [
                ("cooldown_backend_busy",)]
    with connect(pg_dsn, write=True) as writer:
        assert writer.execute("SELECT max(version) FROM fleet_schema").fetchone() == (
            schema.SCHEMA_VERSION,)
        assert writer.execute("SELECT wal_id, reason FROM fleet_stalls").fetchall() == [
            (wal_id, "cooldown_auth")]
