"""Issue 17, items 1 and 2: opening a log reads the live view the store committed with the
events (the live recordings' state and the summary) and folds only the events after the
tables' head; the view keeps only the recordings that can still move in memory, reads a
finished one from the log when asked, and a pass touches only the live ones. A log written
before the live view's tables existed opens with the same answers."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from contextlib import closing
from pathlib import Path

import pytest
from raw_log import chain, write_rows
from replay_model import check_replay_equals_live

from walsync.adapters.ports import NewEvent
from walsync.adapters.store.readonly.verify import verify_log
from walsync.adapters.store.records import chain_hash, hex_of
from walsync.adapters.store.sqlite import SqliteStore
from walsync.core import decide_reconcile, decide_upload
from walsync.core.errors import DuplicateWal, LogFromNewerVersion
from walsync.core.events import WalRegistered
from walsync.core.policies import WALSYNC
from walsync.core.responses import UploadJobAccepted, UploadProcessed
from walsync.core.serde import SCHEMA_VERSION
from walsync.projections.view import Projection, StoredRow

from fakes import T0, Harness, ids


def _history(path: Path, *, synced: int = 30, waiting: int = 3) -> Harness:
    """A log of `synced` recordings synced (two deleted after), one uploaded, `waiting` left
    waiting; the harness's engine still open on it."""
    h = Harness(WALSYNC, store=SqliteStore(path))
    h.add(synced)
    h.backend.answer_uploads(*[UploadProcessed()] * synced)
    h.engine.sync_all()
    h.backend.upload_answers.clear()  # one answer per batch was taken
    done = [r.wal_id for r in h.engine.rows()]
    h.engine.delete(done[0])
    h.engine.delete(done[1])
    [uploaded] = h.add(1)
    h.backend.answer_uploads(UploadJobAccepted(job_id="job-live"))
    h.engine.sync_wal(uploaded)
    h.add(waiting)
    return h


def _registered(h: Harness) -> list[str]:
    return [r.stream[4:] for r in h.store.read() if r.type == "WalRegistered"]


def _answers(store: SqliteStore) -> tuple[object, ...]:
    """What the app reads back: every row in order, the cards, the gate, the live ones."""
    view = store.projection
    return (view.all_rows(), view.cards, view.gate, view.wals, view.checkpoint)


@pytest.fixture
def folded(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the stored rows every fold over stored rows reads (one entry per fold)."""
    counts: list[int] = []
    real = Projection.plan_rows

    def counting(self: Projection, rows: Iterable[StoredRow], only: str | None = None) -> object:
        seen = list(rows)
        counts.append(len(seen))
        return real(self, seen, only)

    monkeypatch.setattr(Projection, "plan_rows", counting)
    return counts


def test_open_folds_no_event_before_the_tables_head(tmp_path: Path, folded: list[int]) -> None:
    h = _history(tmp_path / "log.db")
    head = h.seq()
    h.engine.close()
    SqliteStore(tmp_path / "log.db").close()  # the first reopen walks the whole chain (T53)
    folded.clear()
    store = SqliteStore(tmp_path / "log.db")
    try:
        assert store.projection.checkpoint == head
        # Reading finished recordings by id folds their streams alone (a few rows each), never
        # the log: no fold at open read more rows than one recording's stream.
        assert sum(folded) == 0, folded
        check_replay_equals_live(store)
    finally:
        store.close()


def test_open_folds_only_the_events_after_the_tables_head(
        tmp_path: Path, folded: list[int]) -> None:
    """The tables' head behind the log's (a writer that did not keep the live view appended):
    opening folds exactly the events after it, and writes what they change."""
    path = tmp_path / "log.db"
    h = _history(path)
    behind = h.seq()
    with closing(sqlite3.connect(path)) as conn:
        saved = {t: conn.execute(f"SELECT * FROM {t}").fetchall()
                 for t in ("live_wals", "projection_head")}
    h.add(2)
    h.backend.answer_uploads(UploadProcessed())
    h.engine.sync_wal(h.engine.rows()[-1].wal_id)
    head = h.seq()
    h.engine.close()
    SqliteStore(path).close()  # the first reopen walks the whole chain (T53)
    with closing(sqlite3.connect(path)) as conn:  # the live view as of `behind`
        for table, rows in saved.items():
            conn.execute(f"DELETE FROM {table}")
            width = len(rows[0])
            conn.executemany(f"INSERT INTO {table} VALUES ({', '.join('?' * width)})",
                             rows)
        conn.commit()
    folded.clear()
    store = SqliteStore(path)
    try:
        assert max(folded) == head - behind, (folded, head, behind)
        check_replay_equals_live(store)
    finally:
        store.close()
    folded.clear()
    SqliteStore(path).close()  # the tail was written into the tables: nothing is left to fold
    assert sum(folded) == 0, folded


def test_a_log_written_before_the_live_view_opens_with_the_same_answers(tmp_path: Path) -> None:
    path = tmp_path / "log.db"
    h = _history(path)
    h.engine.close()
    store = SqliteStore(path)
    before = _answers(store)
    store.close()
    # The previous version's schema: the same, without the live view's two tables.
    with closing(sqlite3.connect(path)) as conn:
        conn.execute("DROP TABLE live_wals")
        conn.execute("DROP TABLE projection_head")
        conn.commit()
    store = SqliteStore(path)
    try:
        assert _answers(store) == before
        check_replay_equals_live(store)
    finally:
        store.close()
    with closing(sqlite3.connect(path)) as conn:  # migrated: the live view is there now
        assert conn.execute("SELECT seq FROM projection_head").fetchone()[0] == before[-1]


def test_the_view_keeps_only_live_recordings_and_reads_finished_ones_by_id(tmp_path: Path) -> None:
    h = _history(tmp_path / "log.db", synced=30, waiting=3)
    view = h.store.projection
    assert {w.status for w in view.wals.values()} == {"miss", "uploaded"}
    assert len(view.wals) == len(view.rows) == 4  # 3 waiting and 1 uploaded, not 30 more
    synced = next(r.wal_id for r in h.engine.rows() if r.state == "synced")
    assert synced not in view.wals
    assert h.engine.recording(synced).status == "synced"  # read from the log
    assert h.engine.row(synced).display == "synced"
    with pytest.raises(DuplicateWal):  # finished: asked of the store by its stream index
        h.engine.register(timer_start=int(synced.rsplit("_", 1)[1]))
    deleted = next(w for w in _registered(h) if h.store.projection.wal(w) is None)
    for wal_id in (synced, deleted):  # neither registered again, one by one or in a folder's
        assert h.engine.register_all([h.engine.registration(
            timer_start=int(wal_id.rsplit("_", 1)[1]))]) == []
    with pytest.raises(DuplicateWal):
        h.engine.register(timer_start=int(deleted.rsplit("_", 1)[1]))
    h.engine.delete(synced)  # a finished recording moves once more
    assert h.store.projection.row(synced) is None
    check_replay_equals_live(h.store)  # type: ignore[arg-type]  # the harness's SqliteStore
    h.engine.close()


def test_a_pass_touches_only_live_recordings(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "log.db"
    _history(path, synced=30, waiting=3).engine.close()
    seen: dict[str, list[int]] = {"sync": [], "reconcile": []}
    candidates, group = decide_upload.batch_candidates, decide_reconcile.group_by_job

    def counted_candidates(wals: list[object], *args: object, **kwargs: object) -> object:
        seen["sync"].append(len(wals))
        return candidates(wals, *args, **kwargs)  # type: ignore[arg-type]

    def counted_group(wals: list[object]) -> object:
        seen["reconcile"].append(len(wals))
        return group(wals)  # type: ignore[arg-type]

    monkeypatch.setattr(decide_upload, "batch_candidates", counted_candidates)
    monkeypatch.setattr(decide_reconcile, "group_by_job", counted_group)
    h = Harness(WALSYNC, store=SqliteStore(path))
    h.engine._new_id = ids(2)  # not the first engine's ids again
    try:
        h.backend.answer_uploads(UploadProcessed())
        h.engine.sync_all()
        h.engine.reconcile()
    finally:
        h.engine.close()
    # 4 live (3 waiting, 1 uploaded) of 34 recordings: each pass was given those alone.
    assert seen["sync"] and max(seen["sync"]) == 4, seen
    assert seen["reconcile"] and max(seen["reconcile"]) <= 4, seen


def _delivered(path: Path, recordings: int) -> None:
    """A log of `recordings` recordings registered as delivered live (synced at once: none
    live), in commits of 100, opened once more (its chain verified, as a device's is)."""
    store = SqliteStore(path)
    for first in range(0, recordings, 100):
        store.append([NewEvent(event_id=f"d{i}", event=WalRegistered(
            at=T0, wal_id=f"omi_{i}", timer_start=i, delivered=True))
            for i in range(first, first + 100)])
    store.close()
    SqliteStore(path).close()


def _open_steps(path: Path) -> int:
    """SQLite's virtual machine steps (in thousands) an open of the store runs on its own
    connection: a count, not a time, so the same on any machine."""
    steps = [0]

    def connect(name: str, timeout: float) -> sqlite3.Connection:
        conn = sqlite3.connect(name, isolation_level=None, timeout=timeout,
                               check_same_thread=False)
        conn.set_progress_handler(lambda: steps.__setitem__(0, steps[0] + 1) or 0, 1000)
        return conn

    SqliteStore(path, connect=connect).close()
    return steps[0]


def test_an_opens_sqlite_work_does_not_grow_with_the_log(tmp_path: Path) -> None:
    """Neither the fold nor the look for rows of a newer walsync reads the rows before the
    tables' head (the look scanned every row: 0.38 of 0.55 s of an open at 1M events)."""
    _delivered(tmp_path / "small.db", 500)
    _delivered(tmp_path / "big.db", 4000)
    small, big = _open_steps(tmp_path / "small.db"), _open_steps(tmp_path / "big.db")
    assert big <= small * 1.5 + 5, (small, big)


def test_rows_of_a_newer_walsync_are_looked_for_wherever_the_tables_writer_is_another(
        tmp_path: Path) -> None:
    path = tmp_path / "log.db"
    _delivered(path, 200)
    with closing(sqlite3.connect(path)) as conn:
        # Deep in the log, before the tables' head, as a newer walsync writes it: its chain
        # whole, the tables its own (another writer).
        conn.execute("UPDATE events SET type = 'FutureThing' WHERE seq = 5")
        prev = conn.execute(f"SELECT {hex_of('hash')} FROM events WHERE seq = 4").fetchone()[0]
        for seq, event_id, stream, version, type_name, schema_version, at, data, end in (
                conn.execute(f"SELECT seq, {hex_of('event_id')}, stream, version, type, "
                             "schema_version, at, data, commit_end FROM events WHERE seq >= 5 "
                             "ORDER BY seq")):
            prev = chain_hash(prev, seq=seq, event_id=event_id, stream=stream, version=version,
                              type_name=type_name, schema_version=schema_version, at=at,
                              data=json.loads(data), commit_end=end)
            conn.execute(f"UPDATE events SET hash = ?, prev_hash = (SELECT {hex_of('hash')} "
                         "FROM events WHERE seq = ?) WHERE seq = ?", (prev, seq - 1, seq))
        conn.execute("UPDATE verified_head SET hash = ?", (prev,))
        conn.execute("UPDATE projection_head SET summary = "
                     "json_set(summary, '$.writer', '4:a newer one')")
        conn.commit()
    assert verify_log(path).ok  # a sound log, which this walsync cannot fold
    with pytest.raises(LogFromNewerVersion, match="first at seq 5"):
        SqliteStore(path)


def test_rows_of_a_newer_walsync_after_the_tables_head_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "log.db"
    _delivered(path, 200)
    store = SqliteStore(path)
    seq, digest = store.head()
    store.close()
    write_rows(path, chain([{"event_id": "x", "stream": "engine", "version": 1,
                             "type": "FutureThing", "schema_version": SCHEMA_VERSION + 1,
                             "at": "2026-05-20T08:00:01.000000Z", "data": {}}],
                           first_seq=seq + 1, prev_hash=digest))
    with pytest.raises(LogFromNewerVersion, match=f"first at seq {seq + 1}"):
        SqliteStore(path)


def test_the_live_view_is_read_in_one_snapshot_while_another_writer_commits(
        tmp_path: Path) -> None:
    """Regression (T06 under load): opening read the summary, the live recordings and their
    rows as three separate reads, so another writer committing in between paired the summary
    of one seq with recordings of a later one, and folding the events after the summary over
    them left the display counts short. Here a second store commits a registration exactly
    before the rows are read (after the summary and the recordings were)."""
    path = tmp_path / "log.db"
    store = SqliteStore(path)
    store.append([NewEvent(event_id="r-0", event=WalRegistered(at=T0, wal_id="r_0",
                                                              timer_start=0))])
    store.close()
    other = SqliteStore(path)

    class Interleaved(sqlite3.Connection):
        pending = True

        def execute(self, sql: str, *args: object) -> sqlite3.Cursor:  # type: ignore[override]  # a spy
            if self.pending and sql.startswith("SELECT w.* FROM live_wals"):
                Interleaved.pending = False
                other.append([NewEvent(event_id="r-1", event=WalRegistered(
                    at=T0, wal_id="r_1", timer_start=1))])
            return super().execute(sql, *args)

    def connect(file: str, timeout: float) -> sqlite3.Connection:
        return sqlite3.connect(file, isolation_level=None, timeout=timeout,
                               check_same_thread=False, factory=Interleaved)

    opened = SqliteStore(path, connect=connect)
    assert not Interleaved.pending  # the other writer committed in the middle of the open
    assert {k: v for k, v in opened.projection.displays.items() if v} == {"waiting": 2}
    opened.close()
    other.close()
    rebuilt = Projection()
    with closing(sqlite3.connect(path)) as conn:
        rebuilt.commit(rebuilt.plan_rows(conn.execute(
            "SELECT seq, stream, type, schema_version, at, data FROM events ORDER BY seq")))
        summary = json.loads(conn.execute("SELECT summary FROM projection_head").fetchone()[0])
    assert summary["displays"] == {k: v for k, v in rebuilt.displays.items() if v}
