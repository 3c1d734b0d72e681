"""A reader that asks `fleet why` again reuses the explanations it computed, but only as of the
seq its device had: once the device's log grows, the stall is explained again from the new
events, and the answer is the one a fresh reader gives."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from log_edits import count, prefix

from walsync.adapters.fleet.ingest import ingest_log
from walsync.adapters.fleet.queries import fleet_why
from walsync.adapters.fleet.store import PgConnection, connect


@pytest.fixture
def writer(pg_dsn: str) -> Any:
    conn = connect(pg_dsn, write=True)
    yield conn
    conn.close()


def why(reader: PgConnection, limit: int = 10_000, **given: Any) -> list[dict[str, Any]]:
    """fleet_why without the stall ages (they run to now: no two asks give the same)."""
    return [{k: v for k, v in s.items() if k != "stalled_seconds"}
            for s in fleet_why(reader, limit=limit, **given)]


def fresh_why(dsn: str, device_id: str) -> list[dict[str, Any]]:
    with connect(dsn) as reader:
        return why(reader, device_id=device_id)


def test_a_stall_is_explained_again_once_its_device_moves(
        writer: PgConnection, pg_dsn: str, fleet_logs: list[Path], tmp_path: Path) -> None:
    log = next(p for p in fleet_logs if p.stem == "dev-busy-a")
    ingest_log(writer, prefix(log, tmp_path / "dev-busy-a.db", count(log) // 2), "dev-busy-a")
    with connect(pg_dsn) as reader:
        early = why(reader, device_id="dev-busy-a")
        assert early and why(reader, device_id="dev-busy-a") == early
        assert early == fresh_why(pg_dsn, "dev-busy-a")
        ingest_log(writer, log, "dev-busy-a")
        later = why(reader, device_id="dev-busy-a")
        assert later == fresh_why(pg_dsn, "dev-busy-a")
        # the same stalls, now explained as of the device's later last event
        both = {s["wal_id"] for s in early} & {s["wal_id"] for s in later}
        assert both and all(s["why"]["as_of"] != early[0]["why"]["as_of"]
                            for s in later if s["wal_id"] in both)


def test_answers_given_are_the_callers_to_change(writer: PgConnection, pg_dsn: str,
                                                 fleet_logs: list[Path]) -> None:
    log = next(p for p in fleet_logs if p.stem == "dev-busy-a")
    ingest_log(writer, log, "dev-busy-a")
    with connect(pg_dsn) as reader:
        first = why(reader, limit=3)
        first[0]["why"]["summary"] = "changed by the caller"
        assert why(reader, limit=3) == fresh_why(pg_dsn, "dev-busy-a")[:3]
