"""T91: the live log's list of archived recordings stays small: each cut's recordings are
listed under the cut's first seq, not under the segment's file name (about 45 bytes more per
recording, and a year archives some 335k: 22.6 MB of a 130 MB live log), and since T77 a
thousand to a compressed row. A list an earlier walsync wrote, a row per recording naming the
segment's file, is converted alike: only whether a recording is listed is asked."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

from compacted import DAY, aged_log, days

from walsync.adapters.diagnosis.why import explain_wal
from walsync.adapters.store.segments.archive_list import archived_ids
from walsync.adapters.store.segments.compact import compact_log
from walsync.core.responses import UploadProcessed

_CUTS = "SELECT DISTINCT segment FROM archived_chunks"


def test_t91_archived_recordings_are_listed_under_their_cut_first_seq(tmp_path: Path) -> None:
    h = aged_log(tmp_path / "log.db")
    path = h.store.path  # type: ignore[attr-defined]
    first = compact_log(path, older_than=days(30), now=h.clock.now())
    with closing(sqlite3.connect(path)) as conn:
        listed = archived_ids(conn)
        assert listed and {s for (s,) in conn.execute(_CUTS)} == {first.first_seq}
        with conn:  # as an earlier walsync wrote it: a row each, the segment's file name
            conn.execute("CREATE TABLE [archived_wals] ([wal_id] TEXT PRIMARY KEY, "
                         "[version] INTEGER NOT NULL, [segment] TEXT NOT NULL) WITHOUT ROWID")
            conn.executemany("INSERT INTO archived_wals VALUES (?, 1, ?)",
                             [(w, first.segment) for w in listed])
            conn.execute("DELETE FROM archived_chunks")
    h.clock.advance(20 * DAY)
    h.backend.answer_uploads(UploadProcessed())
    h.engine.sync_all()
    h.clock.advance(40 * DAY)
    h.add(1)
    second = compact_log(path, older_than=days(30), now=h.clock.now())
    with closing(sqlite3.connect(path)) as conn:
        cuts = {s for (s,) in conn.execute(_CUTS)}
        now_listed = archived_ids(conn)
    assert cuts == {first.first_seq, second.first_seq}  # the earlier rows under their cut
    assert listed <= now_listed
    for wal_id in listed:  # archived by the first cut: `why` reads its segment
        report = explain_wal(path, wal_id)
        assert report.wal_id == wal_id and report.state in ("synced", "deleted", "corrupted")
