"""Replay a log into a fresh database: copy the events verbatim, rebuild every projection."""

from __future__ import annotations

from contextlib import closing
from pathlib import Path

from walsync.adapters.store.readonly.queries import all_rows, connect_readonly
from walsync.adapters.store.readonly.unreadable import Unreadable
from walsync.adapters.store.records import insert_rows, select_rows
from walsync.adapters.store.sqlite import SqliteStore
from walsync.core.errors import LogFromNewerVersion, StoreError

__all__ = ["replay_into"]



def _refuse_unreadable(source: str | Path) -> None:
    """A writable copy of a log this code cannot fully read would be a log no walsync of this
    version may open: refuse before writing anything (read-only diagnosis reports them)."""
    unreadable = Unreadable()
    with closing(connect_readonly(source)) as src:
        for _ in unreadable.known(all_rows(src)):
            pass
    note = unreadable.note()
    if note is not None:
        raise LogFromNewerVersion(f"{source}: {note}")


def replay_into(source: str | Path, target: str | Path) -> None:
    """Write `target` (which must not exist) from `source`'s events; the source is only read."""
    if Path(target).exists():
        raise StoreError(f"{target} exists; replay writes a fresh database only")
    _refuse_unreadable(source)
    store = SqliteStore(target)
    try:
        conn = store.connection
        with closing(connect_readonly(source)) as src:
            rows = src.execute(select_rows(src) + " ORDER BY seq")
            conn.execute("BEGIN IMMEDIATE")
            insert_rows(conn, rows)
            conn.execute("COMMIT")
        store.rebuild_projections()
    finally:
        store.close()
