"""Logs written before the projection tables became WITHOUT ROWID still open and import."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from walsync.adapters.sim.run import run_simulation
from walsync.adapters.sim.scenarios import scenario_named
from walsync.adapters.store.schema import legacy_projection_ddl
from walsync.adapters.store.share.importer import import_log
from walsync.adapters.store.sqlite import SqliteStore
from walsync.adapters.store.tables import dump_projection_tables
from walsync.core.policies import WALSYNC


def _legacy_log(path: Path, source: Path) -> None:
    """A log whose projection tables have the earlier (rowid) definitions, same rows."""
    with sqlite3.connect(source) as src:
        rows = src.execute("SELECT * FROM events ORDER BY seq").fetchall()
    with sqlite3.connect(path) as conn:
        for (kind, _), sql in legacy_projection_ddl().items():
            if kind == "table" and sql:
                conn.execute(sql)
    store = SqliteStore(path)  # adds events and views; keeps the rowid projection tables
    store.close()
    with sqlite3.connect(path) as conn:
        conn.executemany(f"INSERT INTO events VALUES ({', '.join('?' * len(rows[0]))})", rows)
    store = SqliteStore(path)  # folds the rows into the old tables
    store.close()


def test_a_log_with_rowid_projection_tables_opens_and_imports(tmp_path: Path) -> None:
    demo_like_log = tmp_path / "source.db"
    run_simulation(scenario_named("mixed").with_overrides(hours=4, wals=12), WALSYNC, 5,
                   demo_like_log)
    legacy = tmp_path / "legacy.db"
    _legacy_log(legacy, demo_like_log)
    with sqlite3.connect(legacy) as conn:
        ddl = conn.execute("SELECT sql FROM sqlite_schema WHERE name = 'wal_rows'").fetchone()[0]
        assert "WITHOUT ROWID" not in ddl
        assert conn.execute("SELECT count(*) FROM wal_rows").fetchone()[0] > 0
        old_tables = dump_projection_tables(conn)
    with sqlite3.connect(demo_like_log) as conn:
        assert dump_projection_tables(conn) == old_tables
    target = tmp_path / "imported.db"
    assert import_log(legacy, target) > 0


def test_a_log_with_the_retired_checkpoint_table_drops_it_at_open_and_imports(
        tmp_path: Path) -> None:
    """Logs written before the tables' checkpoint row was retired (it always named the head,
    and cost every commit a page) open with it dropped, and import as they are."""
    path = tmp_path / "before.db"
    run_simulation(scenario_named("mixed").with_overrides(hours=2, wals=6), WALSYNC, 3, path)
    with sqlite3.connect(path) as conn:
        before = dump_projection_tables(conn)
        (head,) = conn.execute("SELECT max(seq) FROM events").fetchone()
        conn.execute("CREATE TABLE [projection_checkpoint] ([name] TEXT PRIMARY KEY, "
                     "[seq] INTEGER) WITHOUT ROWID")  # as the previous release defined it
        conn.execute("INSERT INTO projection_checkpoint VALUES ('all', ?)", (head,))
    assert import_log(path, tmp_path / "imported.db") == head
    SqliteStore(path).close()
    with sqlite3.connect(path) as conn:
        names = {n for (n,) in conn.execute("SELECT name FROM sqlite_schema")}
        assert "projection_checkpoint" not in names
        assert dump_projection_tables(conn) == before


def test_tables_behind_the_log_are_rewritten_at_open(tmp_path: Path) -> None:
    """Events without their rows (written by hand, or by a tool that skips the tables) are
    folded into the tables when the log is next opened: the open compares the two."""
    path = tmp_path / "log.db"
    run_simulation(scenario_named("mixed").with_overrides(hours=2, wals=6), WALSYNC, 3, path)
    with sqlite3.connect(path) as conn:
        expected = dump_projection_tables(conn)
        conn.execute("DELETE FROM wal_rows WHERE last_seq > (SELECT max(seq) / 2 FROM events)")
        conn.execute("UPDATE sync_card SET text = 'stale'")
        assert dump_projection_tables(conn) != expected
    SqliteStore(path).close()
    with sqlite3.connect(path) as conn:
        assert dump_projection_tables(conn) == expected
