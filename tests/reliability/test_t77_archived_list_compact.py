"""T77: the live log's list of recordings retention archived takes a few bytes a recording
(issue 17: a row per recording took 26 bytes and its B-tree's share, 8.9 MB of a year's live
log). Each cut's recordings are stored sorted, a thousand compressed into one row; whether a
recording is listed is still answered exactly (a registration of its id again is refused,
`why` reads its segment), and a list an earlier walsync wrote is converted with the first
rows appended (T81: never before)."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import pytest
from compacted import DAY, as_earlier_list, days

from walsync.adapters.diagnosis.why import explain_wal
from walsync.adapters.store.segments.anchors import is_archived
from walsync.adapters.store.segments.archive_list import archived_ids, archived_total, is_listed
from walsync.adapters.store.segments.compact import compact_log
from walsync.adapters.store.sqlite import SqliteStore
from walsync.core.errors import DuplicateWal
from walsync.core.policies import WALSYNC

from fakes import Harness

RECORDINGS = 3000
START = 1_779_000_000


def _archived_log(path: Path) -> tuple[Harness, list[str]]:
    """RECORDINGS recordings born synced 40 days ago, one a minute, and one recent; compacted
    at 30 days: the old ones archived."""
    h = Harness(WALSYNC, store=SqliteStore(path))
    old = h.engine.register_all([h.engine.registration(device="omi", timer_start=START + 60 * i,
                                                       delivered=True)
                                 for i in range(RECORDINGS)])
    h.clock.advance(40 * DAY)
    h.add(1)
    compact_log(path, older_than=days(30), now=h.clock.now())
    return h, old


def _list_bytes(conn: sqlite3.Connection) -> int:
    """The pages of every table holding the archived list (SQLite's dbstat)."""
    return int(conn.execute("SELECT coalesce(sum(pgsize), 0) FROM dbstat "
                            "WHERE name LIKE 'archived%'").fetchone()[0])


def test_t77_the_archived_list_takes_a_few_bytes_a_recording(tmp_path: Path) -> None:
    """Regression: a row per recording, about 30 bytes each with its page's share."""
    path = tmp_path / "log.db"
    h, old = _archived_log(path)
    with closing(sqlite3.connect(path)) as conn:
        per_recording = _list_bytes(conn) / RECORDINGS
        assert per_recording <= 8, f"{per_recording:.1f} bytes a recording"
        assert all(is_archived(conn, w) for w in old)
        # exactly: ids between the listed ones, or never made, are not listed
        assert not is_archived(conn, f"omi_{START + 30}") and not is_archived(conn, "omi_1")
    h.engine.close()
    again = Harness(WALSYNC, store=SqliteStore(path))
    with pytest.raises(DuplicateWal):  # an archived recording's id is taken for good
        again.engine.register(device="omi", timer_start=START + 60 * 7)
    again.engine.register(device="omi", timer_start=START + 30)  # never made: registered
    again.engine.close()
    report = explain_wal(path, old[RECORDINGS // 2])
    assert report.wal_id == old[RECORDINGS // 2] and report.state == "synced"


def test_t77_an_earlier_list_is_converted_with_the_first_rows_appended(tmp_path: Path) -> None:
    path = tmp_path / "log.db"
    h, old = _archived_log(path)
    h.engine.close()
    as_earlier_list(path, old, "log.db.seg-0000000001-0000003002.jsonl.gz")
    with closing(sqlite3.connect(path)) as conn:  # read as it is before that
        assert is_listed(conn, old[5]) and archived_total(conn) == RECORDINGS
        earlier = _list_bytes(conn)
    assert explain_wal(path, old[5]).state == "synced"
    again = Harness(WALSYNC, store=SqliteStore(path))
    again.engine.register(device="omi", timer_start=START + 30)  # rows appended: converted
    again.engine.close()
    with closing(sqlite3.connect(path)) as conn:
        tables = {n for (n,) in conn.execute("SELECT name FROM sqlite_schema WHERE type = 'table'")}
        assert "archived_wals" not in tables
        assert archived_ids(conn) == set(old) and is_listed(conn, old[5])
        assert {s for (s,) in conn.execute("SELECT DISTINCT segment FROM archived_chunks")} == {1}
        assert _list_bytes(conn) * 4 < earlier
