"""An empty log's tables equal its rebuild (the cards of an empty view are written too).

Regression: T30 exported a log before its first event; its tables had no card rows while a
rebuild of the same (empty) log wrote "All recordings synced" cards.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from walsync.adapters.store.sqlite import SqliteStore
from walsync.adapters.store.tables import dump_projection_tables


def test_an_empty_log_has_the_tables_its_rebuild_writes(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "empty.db")
    with sqlite3.connect(tmp_path / "empty.db") as conn:
        fresh = dump_projection_tables(conn)
    store.rebuild_projections()
    with sqlite3.connect(tmp_path / "empty.db") as conn:
        rebuilt = dump_projection_tables(conn)
    store.close()
    assert b"All recordings synced" in rebuilt
    assert fresh == rebuilt


def _damage_the_cards_then_reopen(path: Path, damage: str, read: str) -> list[object]:
    """A log whose card rows went through `damage` (SQL), opened again; then `read` of them."""
    store = SqliteStore(path)
    store.rebuild_projections()
    store.close()
    with sqlite3.connect(path) as conn:
        conn.execute(damage)
    SqliteStore(path).close()
    with sqlite3.connect(path) as conn:
        return [value for (value,) in conn.execute(read)]


def test_a_projection_row_that_no_longer_decodes_is_rewritten_at_open(tmp_path: Path) -> None:
    """Regression (long-tier T05): a bit flip left invalid UTF-8 in a row's text; opening
    raised an untyped OperationalError instead of rewriting the derived tables."""
    keys = _damage_the_cards_then_reopen(
        tmp_path / "log.db", "UPDATE sync_card SET message_key = CAST(X'73796EFF' AS TEXT)",
        "SELECT message_key FROM sync_card")
    assert keys and all(isinstance(k, str) and k.startswith("syncCard") for k in keys)


def test_a_projection_value_turned_into_a_blob_is_rewritten_at_open(tmp_path: Path) -> None:
    """Regression (long-tier T05): a bit flip turned a row's text into a BLOB; comparing the
    tables with the fold at open raised an untyped TypeError instead of rewriting them."""
    kinds = _damage_the_cards_then_reopen(
        tmp_path / "log.db", "UPDATE sync_card SET text = X'00FF'",
        "SELECT typeof(text) FROM sync_card")
    assert kinds and all(k == "text" for k in kinds)
