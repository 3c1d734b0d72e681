"""A reader that asks `fleet why` again reuses the explanations it computed, but only as of the
seq its device had: once the device's log grows, the stall is explained again from the new
events, and the answer is the one a fresh reader gives."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from log_edits import count, prefix
from psycopg import ClientCursor

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


def _relations(plan: Any) -> set[str]:
    """The tables and indexes' tables a plan (EXPLAIN's JSON) reads."""
    if isinstance(plan, list):
        return set().union(*map(_relations, plan)) if plan else set()
    if not isinstance(plan, dict):
        return set()
    found = {plan["Relation Name"]} if "Relation Name" in plan else set()
    return found.union(*map(_relations, plan.values()))


def _plan_as_run(reader: PgConnection, query: Any, params: Any) -> Any:
    """The plan the reader runs a statement by: prepared, so under its plan_cache_mode."""
    text = bytes(query).decode() if not isinstance(query, str) else query
    parts = text.split("%s")
    numbered = parts[0] + "".join(f"${n}{part}" for n, part in enumerate(parts[1:], 1))
    kinds = ["text[]" if all(isinstance(v, str) for v in p) else "bigint[]" for p in params or ()]
    declared = "(" + ", ".join(kinds) + ")" if kinds else ""
    reader.execute(("PREPARE probe" + declared + " AS " + numbered).encode())
    try:
        args = "(" + ", ".join(f"%s::{kind}" for kind in kinds) + ")" if kinds else ""
        explain = ClientCursor(reader).mogrify("EXPLAIN (FORMAT JSON) EXECUTE probe" + args, params)
        return reader.execute(explain.encode(), prepare=False).fetchone()[0]  # type: ignore[index]
    finally:
        reader.execute(b"DEALLOCATE probe")


def test_a_first_why_reads_only_the_partitions_of_its_devices(
        writer: PgConnection, pg_dsn: str, fleet_logs: list[Path]) -> None:
    """A reader plans once for any values (generic plans); the events `explain()` reads are
    asked with their values in the statement, so PostgreSQL reads the picked device's
    partition alone, not all of them (4.4 ms against 0.9 in docs/fleet.md's run)."""
    for log in fleet_logs:
        ingest_log(writer, log, log.stem)
    with connect(pg_dsn) as reader:
        sent: list[tuple[Any, Any]] = []
        execute = reader.execute

        def spy(query: Any, params: Any = None, **given: Any) -> Any:
            sent.append((query, params))
            return execute(query, params, **given)

        reader.execute = spy  # type: ignore[method-assign]
        try:
            picked = fleet_why(reader, limit=1, device_id="dev-busy-a")
        finally:
            reader.execute = execute  # type: ignore[method-assign]
        assert picked
        home = str(execute(b"SELECT tableoid::regclass::text FROM events WHERE device_id = %s "
                           b"LIMIT 1", ("dev-busy-a",)).fetchone()[0])  # type: ignore[index]
        on_events = [(q, p) for q, p in sent if b"FROM events" in bytes(q)]
        assert on_events
        for query, params in on_events:
            read = {name for name in _relations(_plan_as_run(reader, query, params))
                    if name.startswith("events")}
            assert read == {home}, query
