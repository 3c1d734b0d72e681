"""A recording's stored fold (fleet_wals.fold) is written as two json arrays since migration 4;
a database whose rows hold the objects an earlier walsync wrote (jsonb, migrations 1-3) is
migrated in place and ingested onto: the rows it already held are read as they are, and the
fleet's tables and answers come out as if the device had been ingested by this walsync."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from log_edits import count, prefix

from walsync.adapters.fleet import projection, schema, store
from walsync.adapters.fleet.fold import _new_track, fold_from_stored, fold_to_stored, wal_json
from walsync.adapters.fleet.ingest import ingest_log
from walsync.adapters.fleet.queries import fleet_status, fleet_why
from walsync.adapters.fleet.store import PgConnection, connect
from walsync.core.errors import StoreError
from walsync.core.wal import Wal


def _lines(conn: PgConnection, device_id: str) -> list[tuple[Any, ...]]:
    """The device's fleet_wals rows, their folds read back as the fleet reads them."""
    return [(*r[:-1], fold_from_stored(r[-1])) for r in conn.execute(
        "SELECT wal_id, state, display, retry_count, version, last_seq, reason, gated, stalled, "
        "since, fold FROM fleet_wals WHERE device_id = %s ORDER BY wal_id", (device_id,))]


def test_folds_an_earlier_walsync_stored_are_read_and_moved_on(
        pg_dsn: str, fleet_logs: list[Path], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    log = fleet_logs[1]
    early = prefix(log, tmp_path / "early.db", count(log) * 9 // 10)
    with monkeypatch.context() as older:  # a walsync of migrations 1-3: jsonb objects
        older.setattr(schema, "MIGRATIONS", schema.MIGRATIONS[:3])
        older.setattr(schema, "SCHEMA_VERSION", 3)
        older.setattr(store, "SCHEMA_VERSION", 3)
        older.setattr(projection, "fold_to_stored", lambda fold: fold)
        with connect(pg_dsn, write=True) as writer:
            ingest_log(writer, early, "d1")
            kinds = writer.execute("SELECT DISTINCT jsonb_typeof(fold) FROM fleet_wals").fetchall()
            assert kinds == [("object",)]
    with connect(pg_dsn, write=True) as writer:  # migration 4, then the rest of the log
        assert writer.execute("SELECT max(version) FROM fleet_schema").fetchone() == (4,)
        ingest_log(writer, log, "d1")
        ingest_log(writer, log, "whole")  # the same log in one go, by this walsync
        kinds = writer.execute("SELECT DISTINCT json_typeof(fold) FROM fleet_wals "
                               "WHERE device_id = 'd1' ORDER BY 1").fetchall()
        assert kinds == [("array",), ("object",)]  # rows the tail moved, rows it did not
        assert _lines(writer, "d1") == _lines(writer, "whole")
        assert _lines(writer, "d1")
    with connect(pg_dsn) as reader:
        mine = {s["wal_id"]: s["why"] for s in fleet_why(reader, device_id="d1", limit=1000)}
        whole = {s["wal_id"]: s["why"] for s in fleet_why(reader, device_id="whole", limit=1000)}
        assert mine == whole and mine
        by_display = fleet_status(reader)["by_display"]
        assert all(v["recordings"] % 2 == 0 and v["devices"] == 2 for v in by_display.values())


def test_a_fold_of_another_layout_is_refused_not_misread() -> None:
    stored = fold_to_stored({"wal": fold_from_stored(_example())["wal"],
                             "track": fold_from_stored(_example())["track"]})
    assert fold_from_stored(stored) == fold_from_stored(_example())
    with pytest.raises(StoreError, match="fleet rebuild"):
        fold_from_stored([stored[0][:-1], stored[1]])


def _example() -> list[list[Any]]:
    """A stored fold as fold_to_stored writes it for a recording no event moved yet."""
    return fold_to_stored({"wal": wal_json(Wal(wal_id="w1")), "track": _new_track()})
