"""T57: opening a compacted log. Its first row is no longer seq 1: the start-up gate walks the
chain from the cut its last SegmentSealed names (the hash its first row continues, each carried
stream's version), the verified checkpoint and the tail after it work as before, the live view
is read from the tables, and `status` reads them even when every gate event lies in a segment.
A damaged compacted log is salvaged as any log is (its verified prefix from the cut on, the
segments left beside it and still anchored); one whose anchors cannot be read is refused and
left untouched."""

from __future__ import annotations

import hashlib
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest
from click.testing import CliRunner
from compacted import DAY, archived_ids, days, live_fold

from walsync.adapters.cli.main import cli
from walsync.adapters.diagnosis.why import explain_wal
from walsync.adapters.ports import NewEvent
from walsync.adapters.store.readonly.full_check import verify_full
from walsync.adapters.store.segments.anchors import live_start
from walsync.adapters.store.segments.compact import compact_log
from walsync.adapters.store.sqlite import SqliteStore
from walsync.adapters.store.startup_gate import read_verified_head
from walsync.core.errors import LogCorrupt
from walsync.core.events import WalDeleted
from walsync.core.policies import WALSYNC
from walsync.core.responses import UploadProcessed, UploadThrottled

from fakes import Harness


def _compacted(folder: Path) -> tuple[Path, Harness, list[str]]:
    """Old history: a 429 (the gate's only events), four synced; two left waiting whose every
    event lies before the cut. Compacted; the engine still open."""
    path = folder / "log.db"
    h = Harness(WALSYNC, store=SqliteStore(path))
    synced = h.add(4)
    h.backend.answer_uploads(UploadThrottled(retry_after_raw="60"))
    h.engine.sync_all()
    h.clock.advance(120)
    h.engine.tick(upload=False)  # the pause ends
    h.backend.answer_uploads(UploadProcessed())
    h.engine.sync_all(only=synced)
    h.backend.upload_answers.clear()
    waiting = h.add(2)
    h.clock.advance(40 * DAY)
    h.add(1)  # recent: it stays in the live log, and so does the verified checkpoint's row
    finished = [w for w in synced if h.store.projection.row(w).state == "synced"]  # type: ignore[union-attr]
    report = compact_log(path, older_than=days(30), now=h.clock.now())
    assert all(h.store.projection.row(w) is None for w in finished)  # their rows left
    assert finished and report.archived == len(finished)
    assert report.carried == 2 + len(synced) - len(finished)
    with closing(sqlite3.connect(path)) as conn:
        checkpoint = read_verified_head(conn)
        assert checkpoint is not None and checkpoint[0] > report.last_seq
    return path, h, waiting


def _bytes(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_carried_recording_moves_and_the_log_opens_sound(tmp_path: Path) -> None:
    """A recording whose every event lies in the segment takes a new event: the next open's
    tail check continues its stream from the version the cut carried."""
    path, h, waiting = _compacted(tmp_path)
    with closing(sqlite3.connect(path)) as conn:
        assert conn.execute("SELECT count(*) FROM events WHERE stream = 'gate'").fetchone()[0] == 0
        start = live_start(conn)
        assert start is not None and start.versions["gate"] == 2  # started, expired: cut
        assert conn.execute("SELECT count(*) FROM events WHERE stream = ?",
                            (f"wal:{waiting[0]}",)).fetchone()[0] == 0
    h.backend.answer_uploads(UploadProcessed())
    h.engine.sync_wal(waiting[0])
    h.store.close()
    store = SqliteStore(path)
    try:
        assert store.salvaged is None
        assert store.projection.row(waiting[0]).state == "synced"  # type: ignore[union-attr]
        assert store.projection.known(waiting[0]) == live_fold(path).wals[waiting[0]]
    finally:
        store.close()
    assert verify_full(path).ok
    status = CliRunner().invoke(cli, ["status", "--db", str(path), "--json"])
    assert status.exit_code == 0, status.output
    assert '"archived": ' in status.output and waiting[1] in status.output


def test_a_checkpoint_behind_the_cut_walks_the_live_log_from_it(tmp_path: Path) -> None:
    path, h, _ = _compacted(tmp_path)
    h.store.close()
    with closing(sqlite3.connect(path)) as conn:
        conn.execute("UPDATE verified_head SET seq = 3")  # its row went into the segment
        conn.commit()
    store = SqliteStore(path)
    assert store.salvaged is None
    head = store.head()
    store.close()
    with closing(sqlite3.connect(path)) as conn:
        assert read_verified_head(conn) == head  # the whole walk set it at the head again
    store = SqliteStore(path, whole_check=True)
    assert store.salvaged is None
    store.close()


def _damage(path: Path, seq_sql: str) -> int:
    """Change one row's time (its hash no longer matches): the seq damaged."""
    with closing(sqlite3.connect(path)) as conn:
        (seq,) = conn.execute(seq_sql).fetchone()
        conn.execute("UPDATE events SET at = '2030-01-01T00:00:00.000000Z' WHERE seq = ?", (seq,))
        conn.commit()
    return int(seq)


def _salvaged_soundly(path: Path, folder: Path, segments: dict[Path, str]) -> None:
    """The new log verifies across the segments, which are still there, byte for byte; the
    damaged one lies aside; an archived recording's history is still read from its segment."""
    assert {p: _bytes(p) for p in folder.glob("log.db.seg-*")} == segments
    assert len([p for p in folder.glob("log.db.corrupt-*") if p.name[-4:] not in ("-wal", "-shm")]) == 1
    report = verify_full(path)
    assert report.ok, report.problem
    archived = sorted(archived_ids(path))[0]
    assert explain_wal(path, archived).state == "synced"


def test_a_damaged_compacted_log_is_salvaged_after_its_anchors(tmp_path: Path) -> None:
    """Damage in the rows written after the compaction: the prefix keeps the anchors."""
    path, h, waiting = _compacted(tmp_path)
    h.add(1)  # a row after the verified checkpoint: the tail check reads it
    h.store.close()
    segments = {p: _bytes(p) for p in tmp_path.glob("log.db.seg-*")}
    archived = archived_ids(path)
    bad = _damage(path, "SELECT max(seq) FROM events")
    store = SqliteStore(path)
    try:
        assert store.salvaged is not None and store.salvaged.first_bad_seq == bad
        assert store.salvaged.kept == bad - 1 - _live_start(path)
        assert all(store.projection.wal(w) is not None for w in waiting)  # carried, still live
    finally:
        store.close()
    assert archived_ids(path) == archived
    _salvaged_soundly(path, tmp_path, segments)


def _live_start(path: Path) -> int:
    with closing(sqlite3.connect(path)) as conn:
        start = live_start(conn)
    assert start is not None
    return start.seq


def test_a_damaged_compacted_log_is_salvaged_before_its_anchors(tmp_path: Path) -> None:
    """Damage in a row written before the compaction, after the cut: the anchors fall after
    the damage and are appended again after the prefix, so the new log starts where the old
    one did. Found by the whole check (the row lies in the verified range)."""
    path, h, waiting = _compacted(tmp_path)
    h.store.close()
    segments = {p: _bytes(p) for p in tmp_path.glob("log.db.seg-*")}
    with closing(sqlite3.connect(path)) as conn:
        start = live_start(conn)
    assert start is not None
    bad = _damage(path, "SELECT min(seq) FROM events WHERE type = 'WalRegistered'")
    assert bad > start.seq
    store = SqliteStore(path, whole_check=True)
    try:
        assert store.salvaged is not None and store.salvaged.first_bad_seq == bad
        assert all(store.projection.wal(w) is not None for w in waiting)
    finally:
        store.close()
    with closing(sqlite3.connect(path)) as conn:
        again = live_start(conn)
        types = [t for (t,) in conn.execute("SELECT type FROM events WHERE seq > ? ORDER BY seq",
                                            (start.seq,))]
    assert again == start  # the same cut, hash and carried versions
    anchors = types[len(types) - 1 - types[::-1].index("SegmentSealed"):]  # from the last seal
    assert anchors[0] == "SegmentSealed" and anchors[-1] == "LogSalvaged"
    assert anchors[1:-1] and set(anchors[1:-1]) == {"StateCarried"}  # its view, in parts or not
    _salvaged_soundly(path, tmp_path, segments)


def test_a_compacted_log_whose_anchors_are_damaged_is_refused_untouched(tmp_path: Path) -> None:
    path, h, _ = _compacted(tmp_path)
    h.store.close()
    with closing(sqlite3.connect(path)) as conn:
        conn.execute("UPDATE events SET data = '{' WHERE type = 'StateCarried'")
        conn.commit()
    before = _bytes(path)
    with pytest.raises(LogCorrupt, match=r"compacted .* left untouched"):
        SqliteStore(path, whole_check=True)
    assert _bytes(path) == before and not list(tmp_path.glob("log.db.corrupt-*"))


def test_a_re_append_beside_a_carried_stream_continues_its_version(tmp_path: Path) -> None:
    """An append that re-sends an event already stored takes the slow path, which reads each
    stream's version from the log: a carried stream whose every row lies in the segment
    continues from the version the cut carried, not from 0."""
    path, h, waiting = _compacted(tmp_path)
    stored = next(iter(h.store.read()))
    h.store.append([NewEvent(event_id=stored.event_id, event=stored.event),
                    NewEvent(event_id="delete-late", event=WalDeleted(at=h.clock.now(),
                                                                      wal_id=waiting[1]))])
    h.store.close()
    store = SqliteStore(path)
    assert store.salvaged is None and store.projection.wal(waiting[1]) is None
    store.close()
    assert verify_full(path).ok
