"""Fixtures for tests that need a real PostgreSQL: one throwaway server per test process
(so pytest-xdist workers never share one), one fresh schema per test.

WALSYNC_PG_DSN=... uses that server instead. Without a server binary the tests skip with a
clear message, unless WALSYNC_REQUIRE_PG=1 (CI), where they fail instead.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import psycopg
import pytest
from psycopg.conninfo import make_conninfo

from pg_temp_server import TempServer, find_bin_dir

NO_SERVER = ("no PostgreSQL server binary found (initdb, pg_ctl, postgres in "
             "/usr/lib/postgresql/*/bin or on PATH): install postgresql or set WALSYNC_PG_DSN")


@pytest.fixture(scope="session")
def pg_server() -> Iterator[str]:
    """A libpq DSN of a running server for this test process."""
    given = os.environ.get("WALSYNC_PG_DSN")
    if given:
        yield given
        return
    bin_dir = find_bin_dir()
    if bin_dir is None:
        if os.environ.get("WALSYNC_REQUIRE_PG") == "1":
            pytest.fail(NO_SERVER + " (WALSYNC_REQUIRE_PG=1: not skipping)")
        pytest.skip(NO_SERVER)
    server = TempServer(bin_dir)
    try:
        yield server.start()
    finally:
        server.stop()


@pytest.fixture
def pg_dsn(pg_server: str) -> Iterator[str]:
    """The server's DSN with search_path set to a schema of this test's own, dropped after."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_server, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}".encode())
    yield make_conninfo(pg_server, options=f"-c search_path={schema}")
    with psycopg.connect(pg_server, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA {schema} CASCADE".encode())
