"""T81: a log this walsync changed in a way an earlier walsync cannot read holds a row of a
schema version that walsync refuses. An earlier walsync (schema version 4) reads only the list
of archived recordings it wrote itself (`archived_wals`, a row per recording): converted into
`archived_chunks` at an open for writing that appended nothing, its list read as empty (`why`
of an archived recording: unknown; its file registered again as new, uploaded twice). The
conversion is committed only with rows of schema version 5 (an append, a compaction), which
every earlier walsync refuses; until then the list stays as that walsync wrote it, and this
one reads it as it is. Run against the walsync of 3ec4371 by hand: docs/reliability.md."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import pytest
from compacted import DAY, as_earlier_list, days

from walsync.adapters.store.segments.archive_list import archived_ids, is_listed
from walsync.adapters.store.segments.compact import compact_log
from walsync.adapters.store.sqlite import SqliteStore
from walsync.core.errors import DuplicateWal
from walsync.core.policies import WALSYNC
from walsync.core.serde import SCHEMA_VERSION

from fakes import Harness

START = 1_779_000_000
_REFUSED_BY_V4 = 5  # the first schema version an earlier walsync refuses to read


def _tables(path: Path) -> set[str]:
    with closing(sqlite3.connect(path)) as conn:
        return {n for (n,) in conn.execute("SELECT name FROM sqlite_schema WHERE type = 'table' "
                                           "AND name LIKE 'archived%'")}


def _versions_after(path: Path, seq: int) -> set[int]:
    with closing(sqlite3.connect(path)) as conn:
        return {v for (v,) in conn.execute("SELECT DISTINCT schema_version FROM events "
                                           "WHERE seq > ?", (seq,))}


def _earlier_log(path: Path) -> tuple[Harness, list[str]]:
    """300 recordings synced 40 days ago, compacted at 30 days, their list as an earlier
    walsync wrote it; the harness's engine closed."""
    h = Harness(WALSYNC, store=SqliteStore(path))
    old = h.engine.register_all([h.engine.registration(device="omi", timer_start=START + 60 * i,
                                                       delivered=True) for i in range(300)])
    h.clock.advance(40 * DAY)
    h.add(1)
    compact_log(path, older_than=days(30), now=h.clock.now())
    h.engine.close()
    as_earlier_list(path, old, f"{path.name}.seg-0000000001-0000000302.jsonl.gz")
    return h, old


def test_t81_the_list_is_converted_only_with_rows_an_earlier_walsync_refuses(
        tmp_path: Path) -> None:
    path = tmp_path / "log.db"
    _, old = _earlier_log(path)
    store = SqliteStore(path)  # opened for writing, nothing appended: the earlier list stays
    head = store.head()[0]
    store.close()
    assert _tables(path) == {"archived_chunks", "archived_wals"}
    with closing(sqlite3.connect(path)) as conn:
        assert is_listed(conn, old[7])
    again = Harness(WALSYNC, store=SqliteStore(path))
    with pytest.raises(DuplicateWal):  # this walsync reads the earlier list as it is
        again.engine.register(device="omi", timer_start=START + 60 * 7)
    assert _tables(path) == {"archived_chunks", "archived_wals"}  # a refusal appends nothing
    again.engine.register(device="omi", timer_start=START + 30)
    again.engine.close()
    assert _tables(path) == {"archived_chunks"}  # converted with the rows appended
    assert _versions_after(path, head) == {SCHEMA_VERSION} == {_REFUSED_BY_V4}
    with closing(sqlite3.connect(path)) as conn:
        assert archived_ids(conn) == set(old)


def test_t81_a_compaction_converts_the_list_with_its_own_rows(tmp_path: Path) -> None:
    path = tmp_path / "log.db"
    h, old = _earlier_log(path)
    store = SqliteStore(path)
    head = store.head()[0]
    store.close()
    compact_log(path, older_than=days(1), now=h.clock.now() + days(3))
    assert _tables(path) == {"archived_chunks"}
    assert _versions_after(path, head) == {SCHEMA_VERSION} == {_REFUSED_BY_V4}
    with closing(sqlite3.connect(path)) as conn:  # listed once, under the first cut
        assert set(old) <= archived_ids(conn)
        assert conn.execute("SELECT sum(count) FROM archived_chunks WHERE segment = 1"
                            ).fetchone()[0] == len(old)
