"""T53: the verified checkpoint. Opening checks only the rows no open verified before (the tail
after the checkpoint) and trusts the projection tables; damage deep in the verified range is
found by `walsync verify` / `verify --full` and salvaged by `verify --full --repair` the way
start-up salvages; damage in the tail is caught at open, as before."""

from __future__ import annotations

import hashlib
import sqlite3
import threading
from contextlib import closing
from pathlib import Path

import pytest
from click.testing import CliRunner
from storage_fixtures import T0, check_sound, registered

import walsync
from walsync.adapters.cli.main import cli
from walsync.adapters.ports import NewEvent
from walsync.adapters.store import startup_gate
from walsync.adapters.store.readonly.verify import verify_tail
from walsync.adapters.store.sqlite import SqliteStore
from walsync.adapters.store.startup_gate import read_verified_head
from walsync.core.events import WalDeleted


def _log(folder: Path, opens: int = 1) -> Path:
    """A log of 20 registrations in 10 commits, opened again `opens` times (as a device's is)."""
    path = folder / "log.db"
    store = SqliteStore(path)
    for i in range(10):
        store.append([registered("v", 2 * i), registered("v", 2 * i + 1)])
    store.close()
    for _ in range(opens):
        SqliteStore(path).close()
    return path


def _sql(path: Path, *statements: str) -> None:
    with closing(sqlite3.connect(path)) as conn:
        for statement in statements:
            conn.execute(statement)
        conn.commit()


def _checkpoint(path: Path) -> tuple[int, str] | None:
    with closing(sqlite3.connect(path)) as conn:
        return read_verified_head(conn)


def _verify(path: Path, *options: str) -> tuple[int, str]:
    done = CliRunner().invoke(cli, ["verify", "--db", str(path), *options])
    return done.exit_code, done.output


def _opens_unsalvaged(path: Path) -> None:
    """Damage deep in the verified range is not read again at open: no salvage."""
    store = SqliteStore(path)
    assert store.salvaged is None
    store.close()


def _verify_repairs_seq_5(path: Path) -> Path:
    """`verify` finds the damage at seq 5, `verify --full --repair` salvages: the moved file."""
    code, out = _verify(path)
    assert code == 1 and "BAD at seq 5" in out, out
    code, out = _verify(path, "--full", "--repair")
    assert code == 0 and "repaired: the damaged log was moved to" in out, out
    [moved] = [p for p in path.parent.iterdir() if ".corrupt-" in p.name
               and not p.name.endswith(("-wal", "-shm"))]
    return moved


def test_t53_open_verifies_only_the_tail_after_the_checkpoint(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _log(tmp_path)
    assert _checkpoint(path) == SqliteStore(path).head()  # the first reopen verified it all
    store = SqliteStore(path)
    store.append([registered("t", 1)])
    store.close()

    def whole(_: sqlite3.Connection) -> None:
        raise AssertionError("the whole chain was walked")
    monkeypatch.setattr(startup_gate, "verify_connection", whole)
    store = SqliteStore(path)  # only seq 21 is new: checked, and the checkpoint moves to it
    head = store.head()
    assert store.salvaged is None and head[0] == 21
    store.close()
    assert _checkpoint(path) == head


def test_t53_damage_in_the_tail_is_caught_at_open_and_salvaged(tmp_path: Path) -> None:
    path = _log(tmp_path)
    store = SqliteStore(path)
    store.append([registered("t", 1)])
    store.append([registered("t", 2)])
    store.close()
    _sql(path, "UPDATE events SET at = '2026-05-20T00:00:01.000000Z' WHERE seq = 22")
    store = SqliteStore(path)
    salvage = store.salvaged
    store.close()
    assert salvage is not None and salvage.first_bad_seq == 22 and salvage.kept == 21
    check_sound(path)


def test_t53_damage_deep_in_the_verified_range_is_found_by_verify_and_repaired(
        tmp_path: Path) -> None:
    path = _log(tmp_path)
    _sql(path, "UPDATE events SET at = '2026-05-20T00:00:01.000000Z' WHERE seq = 5")
    _opens_unsalvaged(path)
    moved = _verify_repairs_seq_5(path)
    with closing(sqlite3.connect(f"{moved.resolve().as_uri()}?mode=ro", uri=True)) as conn:
        assert conn.execute("SELECT at FROM events WHERE seq = 5").fetchone()[0].endswith("01.000000Z")
    with closing(sqlite3.connect(path)) as conn:  # the verified prefix: whole commits before it
        assert conn.execute("SELECT count(*) FROM events WHERE type = 'WalRegistered'"
                            ).fetchone()[0] == 4
    check_sound(path)
    assert _verify(path, "--full")[0] == 0


def test_t53_a_row_no_fold_can_read_deep_in_the_verified_range_is_found_by_verify(
        tmp_path: Path) -> None:
    """Deep in the verified range: opening reads the live view from the tables and folds no
    event before their head (issue 17), so it opens without reading the row (until then it
    folded every row and salvaged at open); `walsync verify` finds it and `--full --repair`
    salvages the log the way start-up does, its bytes kept."""
    path = _log(tmp_path)
    _sql(path, "UPDATE events SET data = '{\"wal_id\": ' WHERE seq = 5")
    _opens_unsalvaged(path)
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    moved = _verify_repairs_seq_5(path)
    assert hashlib.sha256(moved.read_bytes()).hexdigest() == before
    check_sound(path)


def test_t53_a_damaged_table_row_is_found_by_verify_full_and_rewritten(tmp_path: Path) -> None:
    path = _log(tmp_path)
    _sql(path, "UPDATE wal_rows SET display = 'synced' WHERE wal_id = 'v_3'")
    SqliteStore(path).close()  # trusted as committed: not compared at open
    assert _verify(path)[0] == 0  # the log itself is sound
    code, out = _verify(path, "--full")
    assert code == 1 and "projection tables" in out, out
    code, out = _verify(path, "--full", "--repair")
    assert code == 0 and "projection tables were rewritten" in out, out
    check_sound(path)


def test_t53_a_live_row_that_is_not_utf8_is_rewritten_at_open(tmp_path: Path) -> None:
    """Opening reads live recordings' rows: one whose text is not UTF-8 (a flipped bit, seen in
    T05's long tier) is a damaged snapshot, so open rewrites the tables from the fold of the
    log (their source of truth) instead of failing with the driver's decode error."""
    path = _log(tmp_path)
    _sql(path, "UPDATE wal_rows SET display = CAST(X'7761C3' AS TEXT) WHERE wal_id = 'v_3'")
    store = SqliteStore(path)
    assert store.salvaged is None
    store.close()
    assert _verify(path, "--full")[0] == 0  # the tables are the fold again
    check_sound(path)


def test_t53_a_checkpoint_that_does_not_hold_means_the_whole_walk(tmp_path: Path) -> None:
    """The checkpoint is itself checked: the row at its seq must carry its hash. When it does
    not (the row or the checkpoint changed), the gate walks the whole chain, which decides."""
    path = _log(tmp_path)
    _sql(path, "UPDATE verified_head SET hash = 'f' || substr(hash, 2)")
    store = SqliteStore(path)
    assert store.salvaged is None
    head = store.head()
    store.close()
    assert _checkpoint(path) == head  # set again by the whole walk
    # Past the head (rows cut off by hand): the whole walk finds a sound prefix and opens it;
    # only an anchored head tells a cut-off tail (T26).
    _sql(path, "DELETE FROM events WHERE seq > 18")
    store = SqliteStore(path)
    assert store.salvaged is None
    head = store.head()
    store.close()
    assert head[0] == 18 and _checkpoint(path) == head


def test_t53_the_apps_background_check_runs_beside_a_writer_and_finds_deep_damage(
        tmp_path: Path) -> None:
    """`walsync.check_log` is the whole check an app schedules on a thread of its own while its
    engine stays open and commits; it finds what opening no longer reads (a row deep in the
    verified range, a damaged table row), and `walsync.repair_log` puts each right."""
    path = _log(tmp_path)
    store = SqliteStore(path)
    stop, appended, turn = threading.Event(), list[int](), threading.Lock()

    def write() -> None:
        while not stop.is_set() and len(appended) < 2000:
            with turn:
                store.append([registered("w", len(appended))])
            appended.append(1)
    writer = threading.Thread(target=write)
    writer.start()
    try:
        while len(appended) < 5:  # the writer is committing when the check starts
            stop.wait(0.001)
        report = walsync.check_log(path)
        assert report.ok and report.checks["projection_tables"], report.problem
        with turn:  # the damage, between two commits (a writer committing back to back
            # starves another connection's write: "database is locked" once, under load)
            _sql(path, "UPDATE events SET at = '2026-05-20T00:00:01.000000Z' WHERE seq = 5")
        report = walsync.check_log(path)
        assert not report.ok and report.first_bad_seq == 5, report
    finally:
        stop.set()
        writer.join()
        store.close()
    salvaged = walsync.repair_log(path)
    assert salvaged is not None and Path(salvaged.moved_to).is_file() and salvaged.kept == 4
    assert walsync.check_log(path).ok
    _sql(path, "UPDATE wal_rows SET display = 'synced' WHERE wal_id = 'v_3'")
    report = walsync.check_log(path)
    assert not report.ok and report.checks["projection_tables"] is False, report
    assert walsync.repair_log(path) is None
    assert walsync.check_log(path).ok
    check_sound(path)


def test_t53_the_whole_check_folds_and_compares_one_snapshot_while_a_writer_commits(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A commit between the whole check's fold of the log and its read of the tables would
    make sound tables look damaged (seen under load: the tables a commit ahead of the fold)."""
    from walsync.adapters.store.readonly import verify_tables

    path = _log(tmp_path)
    store = SqliteStore(path)
    compare = verify_tables.tables_differ_from

    def commit_first(conn: sqlite3.Connection, expected: sqlite3.Connection) -> bool:
        store.append([registered("late", 1)])
        return compare(conn, expected)
    monkeypatch.setattr(verify_tables, "tables_differ_from", commit_first)
    try:
        report = walsync.check_log(path)
    finally:
        store.close()
    assert report.ok and report.checks["projection_tables"], report.problem


def test_t53_tables_an_earlier_walsync_wrote_pass_verify_full(tmp_path: Path) -> None:
    """The tables name the walsync that wrote them (its schema and event types); a log an
    earlier walsync wrote was reported damaged by `verify --full` (seen on a log of the version
    before retention's two event types). Which walsync wrote them is no fold of the log; a
    damaged row beside it is still found."""
    path = _log(tmp_path)
    _sql(path, "UPDATE projection_head SET summary = "
               "json_set(summary, '$.writer', '3:0123456789abcdef')")
    assert walsync.check_log(path).ok
    assert _verify(path, "--full")[0] == 0
    _sql(path, "UPDATE wal_rows SET display = 'synced' WHERE wal_id = 'v_3'")
    report = walsync.check_log(path)
    assert not report.ok and report.checks["projection_tables"] is False


def test_t53_the_tail_check_reads_one_snapshot_while_another_process_commits(
        tmp_path: Path) -> None:
    """The tail check read each stream's version as of the checkpoint, then walked the rows
    after it, each in its own read: a row another process committed in between, on a stream
    whose rows all lay before the checkpoint, looked like damage ("Seq 40 has version 3 of
    stream 'wal:omi_...', expected 1."): T34's long tier saw the log moved aside as corrupt
    and salvaged while three `walsync sync` ran, and files posted twice."""
    path = _log(tmp_path)
    writer = SqliteStore(path)
    committed: list[str] = []

    def commit_before_the_walk(statement: str) -> None:
        if not committed and "prev_hash" in statement and "ORDER BY seq" in statement:
            writer.append([NewEvent(event_id="gone", event=WalDeleted(at=T0, wal_id="v_0"))])
            committed.append(statement)

    try:
        with closing(sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True,
                                     isolation_level=None)) as conn:
            checkpoint = read_verified_head(conn)
            assert checkpoint is not None
            conn.set_trace_callback(commit_before_the_walk)
            report = verify_tail(conn, checkpoint)
    finally:
        writer.close()
    assert committed, "the walk's statement was never seen"
    assert report is not None and report.ok, report.problem if report else None
    store = SqliteStore(path)  # and the next open checks the row committed meanwhile
    try:
        assert store.salvaged is None
    finally:
        store.close()
