"""Replay a golden JSON Lines log into a fresh SQLite file and compute what must not drift."""

from __future__ import annotations

import json
import sqlite3
import tempfile
from pathlib import Path
from typing import Any

from walsync.adapters.diagnosis.why import explain_wal
from walsync.adapters.store.records import EVENT_COLUMNS, GENESIS_HASH, chain_hash, insert_rows
from walsync.adapters.store.schema import STATUS_TABLES, create_schema
from walsync.adapters.store.sqlite import SqliteStore
from walsync.adapters.store.tables import dump_projection_tables

COLUMNS = EVENT_COLUMNS


def load(jsonl: Path, db: Path) -> int:
    """Insert the rows as their writer stored them (checking the hash chain on the way): a
    hash and an engine-made event id as bytes from schema version 5 on (records.insert_rows).
    The count. Rows of schema versions before 3 have no `commit_end` (stored as NULL)."""
    rows = [json.loads(line) for line in jsonl.read_text(encoding="utf-8").splitlines()]
    previous = GENESIS_HASH
    for row in rows:
        assert row["prev_hash"] == previous, row["seq"]
        assert row["hash"] == chain_hash(
            previous, seq=row["seq"], event_id=row["event_id"], stream=row["stream"],
            version=row["version"], type_name=row["type"],
            schema_version=row["schema_version"], at=row["at"],
            data=json.loads(row["data"]), commit_end=row.get("commit_end")), row["seq"]
        previous = row["hash"]
    with sqlite3.connect(db) as conn:
        create_schema(conn)
        insert_rows(conn, [tuple(row.get(c) for c in COLUMNS) for row in rows])
    return len(rows)


def expected_outputs(jsonl: Path) -> dict[str, Any]:
    """Projections and every recording's `why`, as the current code computes them."""
    with tempfile.TemporaryDirectory() as folder:
        db = Path(folder) / "golden.db"
        count = load(jsonl, db)
        store = SqliteStore(db)  # folds the log and writes the projection tables
        store.close()
        with sqlite3.connect(db) as conn:
            # What the app shows (the live view's own tables are a cache of it: the store
            # checks them against the fold, T11).
            tables = dump_projection_tables(conn, STATUS_TABLES).decode("utf-8").splitlines()
            wal_ids = [r[0] for r in conn.execute(
                "SELECT DISTINCT substr(stream, 5) FROM events WHERE stream LIKE 'wal:%' "
                "ORDER BY 1")]
        why = {w: explain_wal(db, w).to_json() for w in wal_ids}
    return {"events": count, "projection_tables": tables, "why": why}
