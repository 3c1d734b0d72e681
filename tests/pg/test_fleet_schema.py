"""The fleet schema is applied once, by migrations (never by a query); every `fleet` query runs
under a read-only role in read-only transactions and waits on no writer; the layout stays
distributable by device id (Citus)."""

from __future__ import annotations

import json
import re
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from click.testing import CliRunner
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from walsync.adapters.cli.main import cli
from walsync.adapters.fleet.ingest import ingest_log
from walsync.adapters.fleet.queries import fleet_stats, fleet_status, fleet_why
from walsync.adapters.fleet.schema import (
    DISTRIBUTED_TABLES,
    PARTITIONS,
    REFERENCE_TABLES,
    SCHEMA_VERSION,
)
from walsync.adapters.fleet.store import connect, lock_device

DOCS = Path(__file__).parents[2] / "docs" / "fleet.md"
QUERIES = (["status"], ["why", "--limit", "10"], ["stats"], ["alerts", "--devices", "2"])


def _json(args: list[str]) -> Any:
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _timeless(found: Any) -> Any:
    """A `fleet why` answer without the stall ages (they run to now)."""
    return [{k: v for k, v in s.items() if k != "stalled_seconds"} for s in found] if isinstance(
        found, list) else found


@pytest.fixture
def reader(pg_dsn: str, fleet_logs: list[Path]) -> Iterator[str]:
    """A role that may only read the fleet schema, its sessions read-only by default."""
    conn = connect(pg_dsn, write=True)
    for path in fleet_logs:
        ingest_log(conn, path, path.stem)
    schema = re.search(r"search_path=(\w+)", pg_dsn)
    assert schema is not None
    role = f"reader_{uuid.uuid4().hex[:8]}"
    conn.execute(f"CREATE ROLE {role} LOGIN".encode())
    conn.execute(f"GRANT USAGE ON SCHEMA {schema[1]} TO {role}".encode())
    conn.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA {schema[1]} TO {role}".encode())
    options = f"-c search_path={schema[1]} -c default_transaction_read_only=on"
    yield make_conninfo(pg_dsn, user=role, options=options)
    conn.execute(f"DROP OWNED BY {role}".encode())
    conn.execute(f"DROP ROLE {role}".encode())
    conn.close()


def test_every_fleet_query_runs_under_a_read_only_role(pg_dsn: str, reader: str) -> None:
    for args in QUERIES:
        assert _timeless(_json(["fleet", *args, "--db", reader, "--json"])) == _timeless(
            _json(["fleet", *args, "--db", pg_dsn, "--json"])), args
    status = _json(["fleet", "status", "--db", reader, "--json"])
    assert status["devices"] == 5 and status["stalled_by_reason"]
    refused = CliRunner().invoke(cli, ["fleet", "rebuild", "--db", reader])
    assert refused.exit_code == 1 and "Error: PostgreSQL" in refused.output  # it may not write


def test_a_query_waits_on_no_open_ingest(pg_dsn: str, fleet_logs: list[Path]) -> None:
    """A writer holds a device's lock and uncommitted rows; queries with a lock timeout of
    50 ms still answer (they take no lock an ingest holds, and run no DDL)."""
    writer = connect(pg_dsn, write=True)
    ingest_log(writer, fleet_logs[0], "held")
    reader = connect(make_conninfo(pg_dsn, options=conninfo_to_dict(pg_dsn)["options"]
                                   + " -c lock_timeout=50"))
    try:
        with writer.transaction():
            lock_device(writer, "held")
            ingest_log(writer, fleet_logs[1], "new-device")  # uncommitted: a savepoint inside
            assert fleet_status(reader)["devices"] == 1
            assert fleet_why(reader, limit=10) and fleet_stats(reader)["hours"]
    finally:
        writer.close()
        reader.close()


def test_migrations_run_once_even_when_writers_race(pg_dsn: str) -> None:
    missing = CliRunner().invoke(cli, ["fleet", "status", "--db", pg_dsn])
    assert missing.exit_code == 1 and "fleet schema is missing" in missing.output
    errors: list[BaseException] = []

    def open_writer() -> None:
        try:
            connect(pg_dsn, write=True).close()
        except BaseException as error:  # reported below
            errors.append(error)

    threads = [threading.Thread(target=open_writer) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    again = _json(["fleet", "init", "--db", pg_dsn, "--json"])
    assert again == {"applied": [], "version": SCHEMA_VERSION}
    with psycopg.connect(pg_dsn) as conn:
        assert conn.execute("SELECT version FROM fleet_schema").fetchall() == [
            (v,) for v in range(1, SCHEMA_VERSION + 1)]


def test_init_on_a_fresh_schema_applies_every_migration(pg_dsn: str) -> None:
    first = _json(["fleet", "init", "--db", pg_dsn, "--json"])
    assert first == {"applied": list(range(1, SCHEMA_VERSION + 1)), "version": SCHEMA_VERSION}
    text = CliRunner().invoke(cli, ["fleet", "init", "--db", pg_dsn])
    assert "already in place" in text.output


def _rows(conn: psycopg.Connection[Any], sql: str) -> list[tuple[Any, ...]]:
    return conn.execute(sql.encode()).fetchall()


def test_the_layout_stays_distributable_by_device_id(pg_dsn: str) -> None:
    """Citus: every distributed table's primary and unique keys include device_id; the rest
    are declared reference tables; the docs give the calls for each."""
    connect(pg_dsn, write=True).close()
    with psycopg.connect(pg_dsn) as conn:
        strategy = _rows(conn, "SELECT p.partstrat, a.attname FROM pg_partitioned_table p "
                               "JOIN pg_attribute a ON a.attrelid = p.partrelid AND "
                               "a.attnum = p.partattrs[0] WHERE p.partrelid = 'events'::regclass")
        assert strategy == [("h", "device_id")]
        parts = _rows(conn, "SELECT count(*) FROM pg_inherits WHERE inhparent = 'events'::regclass")
        assert parts == [(PARTITIONS,)]
        tables = {t for (t,) in _rows(
            conn, "SELECT relname FROM pg_class WHERE relnamespace = current_schema()::regnamespace "
                  "AND relkind IN ('r', 'p') AND NOT relispartition")}
        assert tables == set(DISTRIBUTED_TABLES) | set(REFERENCE_TABLES)
        keys = _rows(conn, "SELECT c.relname, i.indexrelid::regclass::text, array_agg(a.attname) "
                           "FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid "
                           "JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) "
                           "WHERE i.indisunique AND c.relnamespace = current_schema()::regnamespace "
                           "AND NOT c.relispartition GROUP BY 1, 2")
        distributed = [k for k in keys if k[0] in DISTRIBUTED_TABLES]
        assert {k[0] for k in distributed} == set(DISTRIBUTED_TABLES)  # each has a key
        assert [k for k in distributed if "device_id" not in k[2]] == []
    docs = DOCS.read_text(encoding="utf-8")
    for table in DISTRIBUTED_TABLES:
        assert re.search(rf"create_distributed_table\('{table}', 'device_id'", docs), table
    for table in REFERENCE_TABLES:
        assert f"create_reference_table('{table}')" in docs, table


@pytest.mark.parametrize("bad", ["nope", "not_a_reason"])
def test_unknown_filters_are_usage_errors(pg_dsn: str, fleet_logs: list[Path], bad: str) -> None:
    conn = connect(pg_dsn, write=True)
    ingest_log(conn, fleet_logs[0], "dev-a")
    conn.close()
    for args in (["why", "--device", bad], ["why", "--reason", bad], ["stats", "--device", bad],
                 ["rebuild", "--device", bad]):
        result = CliRunner().invoke(cli, ["fleet", *args, "--db", pg_dsn])
        assert result.exit_code == 2 and bad in result.output, (args, result.output)
