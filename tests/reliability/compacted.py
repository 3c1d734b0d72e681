"""Helpers for the retention tests (T54-T59): a log of recordings of every kind spread over
days, the whole history's fold kept beside it, and the comparison of a compacted live log's
fold with it."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import closing
from datetime import timedelta
from pathlib import Path
from typing import Any

from walsync.adapters.store.segments.anchors import fold_log, seals
from walsync.adapters.store.segments.archive_list import archived_ids as listed_ids
from walsync.adapters.store.segments.files import read_segment
from walsync.adapters.store.sqlite import SqliteStore
from walsync.core.policies import WALSYNC
from walsync.core.responses import JobStatus, UploadError, UploadJobAccepted, UploadProcessed
from walsync.core.states import FINISHED_STATES
from walsync.projections.snapshot import summary_data
from walsync.projections.view import Projection

from fakes import Harness

DAY = 86_400


def aged_log(path: Path) -> Harness:
    """Forty days of a device: synced, deleted, failed, waiting and uploaded recordings from
    long ago (one synced then deleted after the horizon), and recent ones; the harness's engine
    still open on it."""
    h = Harness(WALSYNC, store=SqliteStore(path))
    old = h.add(6)
    h.backend.answer_uploads(*[UploadProcessed()] * 4)
    h.engine.sync_all(only=old[:4])
    h.backend.upload_answers.clear()  # one answer per batch was taken
    h.engine.delete(old[0])
    h.backend.answer_uploads(UploadError(kind="server_error", message="boom", http_status=500))
    h.engine.sync_wal(old[4])  # failed once: its retry count moves, it stays live
    h.backend.answer_uploads(UploadJobAccepted(job_id="job-old"))
    h.engine.sync_wal(old[5])  # uploaded: waits for its job across the cut
    h.clock.advance(5 * DAY)
    waiting = h.add(2)  # waiting from before the cut
    h.clock.advance(35 * DAY)
    h.backend.answer_job("job-old", JobStatus(job_id="job-old", status="completed"))
    h.engine.reconcile()  # finished after the cut: carried, not archived
    h.engine.delete(old[1])  # synced before the cut, deleted after it: carried, not archived
    h.add(2)
    h.backend.answer_uploads(UploadProcessed())
    h.engine.sync_wal(waiting[0])  # a recording from before the cut moves after it
    return h


def whole_history(path: Path) -> list[tuple[Any, ...]]:
    """Every row of the log's history, segments first, as the fold takes them."""
    out: list[tuple[Any, ...]] = []
    with closing(sqlite3.connect(path)) as conn:
        for *_, seal in seals(conn):
            out += [(r[0], r[2], r[4], r[5], r[6], r[7])
                    for r in read_segment(path.with_name(seal.file), seal.sha256)]
        out += conn.execute("SELECT seq, stream, type, schema_version, at, data FROM events "
                            "ORDER BY seq").fetchall()
    return out


def fold_of(rows: list[tuple[Any, ...]]) -> Projection:
    view = Projection()
    view.commit(view.plan_rows(iter(rows)))
    return view


def live_fold(path: Path) -> Projection:
    with closing(sqlite3.connect(path)) as conn:
        return fold_log(conn)


def archived_ids(path: Path) -> set[str]:
    with closing(sqlite3.connect(path)) as conn:
        return listed_ids(conn)


def assert_same_projections(live: Projection, whole: Projection, archived: set[str]) -> None:
    """The live log's fold answers as the whole history's: every status row but the archived
    ones (each of them finished), the cards, the summary (display counts, gate, run, policy,
    retry budget), and each carried recording's state, retry count included."""
    assert archived.isdisjoint(live.rows) and archived.isdisjoint(live.wals)
    assert all(whole.wals[w].status in FINISHED_STATES for w in archived)
    assert live.rows == {w: r for w, r in whole.rows.items() if w not in archived}
    assert live.wals == {w: s for w, s in whole.wals.items() if w not in archived}
    assert {w: s.retry_count for w, s in live.wals.items()} == {
        w: s.retry_count for w, s in whole.wals.items() if w not in archived}
    assert live.cards == whole.cards
    assert summary_data(live) == summary_data(whole)
    assert live.checkpoint == whole.checkpoint


def days(n: int) -> timedelta:
    return timedelta(days=n)


def rows_of(path: Path) -> Iterator[tuple[Any, ...]]:
    with closing(sqlite3.connect(path)) as conn:
        yield from conn.execute("SELECT * FROM events ORDER BY seq")


def as_earlier_list(path: Path, ids: list[str], segment: str) -> None:
    """The list of archived recordings rewritten as a walsync before `archived_chunks` wrote
    it: a row per recording naming its segment's file (T77, T81)."""
    with closing(sqlite3.connect(path)) as conn, conn:
        conn.execute("CREATE TABLE [archived_wals] ([wal_id] TEXT PRIMARY KEY, "
                     "[version] INTEGER NOT NULL, [segment] TEXT NOT NULL) WITHOUT ROWID")
        conn.executemany("INSERT INTO archived_wals VALUES (?, 1, ?)", [(w, segment) for w in ids])
        conn.execute("DELETE FROM archived_chunks")
