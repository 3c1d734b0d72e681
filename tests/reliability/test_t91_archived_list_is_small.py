"""T91: the live log's list of archived recordings stays small: each row names its cut by the
segment's first seq, not by the segment's file name (about 45 bytes more per recording, and a
year archives some 335k: 22.6 MB of a 130 MB live log). A list an earlier walsync wrote, with
file names, is read alike: only whether a recording is listed is asked."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

from compacted import DAY, aged_log, days

from walsync.adapters.diagnosis.why import explain_wal
from walsync.adapters.store.segments.compact import compact_log
from walsync.core.responses import UploadProcessed


def test_t91_archived_recordings_are_listed_under_their_cut_first_seq(tmp_path: Path) -> None:
    h = aged_log(tmp_path / "log.db")
    path = h.store.path  # type: ignore[attr-defined]
    first = compact_log(path, older_than=days(30), now=h.clock.now())
    with closing(sqlite3.connect(path)) as conn:
        listed = conn.execute("SELECT wal_id, segment FROM archived_wals").fetchall()
        assert listed and {segment for _, segment in listed} == {str(first.first_seq)}
        with conn:  # as an earlier walsync wrote it: the segment's file name
            conn.execute("UPDATE archived_wals SET segment = ?", (first.segment,))
    h.clock.advance(20 * DAY)
    h.backend.answer_uploads(UploadProcessed())
    h.engine.sync_all()
    h.clock.advance(40 * DAY)
    h.add(1)
    second = compact_log(path, older_than=days(30), now=h.clock.now())
    with closing(sqlite3.connect(path)) as conn:
        segments = dict(conn.execute("SELECT wal_id, segment FROM archived_wals").fetchall())
    assert {segments[w] for w, _ in listed} == {first.segment}  # the earlier rows left as written
    assert set(segments.values()) == {first.segment, str(second.first_seq)}
    for wal_id, _ in listed:  # archived by the first cut: `why` reads its segment
        report = explain_wal(path, wal_id)
        assert report.wal_id == wal_id and report.state in ("synced", "deleted", "corrupted")
