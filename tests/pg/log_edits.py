"""Edited copies of a device log: a prefix (an earlier state of the same log), a row rewritten
with the chain recomputed (verifies, but contradicts what was ingested), a byte tampered."""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from pathlib import Path

from walsync.adapters.store.records import READ_PREV_HASH, chain_hash, hex_of


def copy_log(src: Path, dst: Path) -> Path:
    """A consistent copy made with the backup API."""
    with closing(sqlite3.connect(src)) as source, closing(sqlite3.connect(dst)) as target:
        source.backup(target)
    return dst


def prefix(src: Path, dst: Path, upto: int) -> Path:
    """The log as it was when it ended at seq `upto` (or, when `upto` is inside a commit, at
    the end of that commit: a log only ever ends between commits)."""
    copy_log(src, dst)
    with closing(sqlite3.connect(dst, isolation_level=None)) as conn:
        conn.execute("DELETE FROM events WHERE seq > (SELECT coalesce(commit_end, seq) FROM "
                     "events WHERE seq = ?)", [upto])
    return dst


def count(path: Path) -> int:
    with closing(sqlite3.connect(path)) as conn:
        return int(conn.execute("SELECT count(*) FROM events").fetchone()[0])


def rewrite(src: Path, dst: Path, seq: int, *, rechain: bool, data: str | None = None) -> Path:
    """Row `seq` gets another event id (or this `data`); with `rechain` every later hash is
    recomputed."""
    copy_log(src, dst)
    with closing(sqlite3.connect(dst, isolation_level=None)) as conn:
        if data is None:
            conn.execute(f"UPDATE events SET event_id = {hex_of('event_id')} || '-forged' "
                         "WHERE seq = ?", [seq])
        else:
            conn.execute("UPDATE events SET data = ? WHERE seq = ?", [data, seq])
        if not rechain:
            return dst
        prev = conn.execute(f"SELECT {READ_PREV_HASH} FROM events WHERE seq = ?",
                            [seq]).fetchone()[0]
        for row_seq, *rest in conn.execute(
                f"SELECT seq, {hex_of('event_id')}, stream, version, type, schema_version, at, "
                "data, commit_end FROM events WHERE seq >= ? ORDER BY seq", [seq]).fetchall():
            event_id, stream, version, type_name, schema_version, at, data, commit_end = rest
            digest = chain_hash(prev, seq=row_seq, event_id=event_id, stream=stream,
                                version=version, type_name=type_name,
                                schema_version=schema_version, at=at, data=json.loads(data),
                                commit_end=commit_end)
            conn.execute("UPDATE events SET prev_hash = ?, hash = ? WHERE seq = ?",
                         [prev, digest, row_seq])
            prev = digest
    return dst
