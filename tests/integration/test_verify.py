"""T26: verify_log catches tampering on a copy of a real log, and states the anchor limit (P13)."""

from __future__ import annotations

import json
import shutil
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from walsync.adapters.store.readonly.verify import CHECKS, head_anchor, verify_log
from walsync.adapters.store.records import SELECT_HEAD, chain_hash, hex_of
from walsync.adapters.store.sqlite import SqliteStore
from walsync.core.policies import SEED
from walsync.core.responses import UploadJobAccepted, UploadThrottled

from fakes import Harness

COLUMNS = ["event_id", "stream", "version", "type", "schema_version", "at", "data",
           "prev_hash", "hash"]


@pytest.fixture(scope="module")
def original(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("verify") / "log.db"
    h = Harness(SEED, store=SqliteStore(path))
    a, b, _ = h.add(3)
    h.backend.answer_uploads(UploadJobAccepted(job_id="job-1"))
    h.engine.sync_wal(a)
    h.clock.advance(601)
    h.backend.answer_uploads(UploadThrottled(retry_after_raw="120"))
    h.engine.sync_wal(b)
    h.engine.close()
    return path


@pytest.fixture
def log(original: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "copy.db"
    shutil.copyfile(original, copy)
    return copy


@pytest.fixture
def n(log: Path) -> int:
    count = _rows(log)
    assert count >= 10
    return count


def _rows(path: Path) -> int:
    with closing(sqlite3.connect(path)) as conn:
        return int(conn.execute("SELECT count(*) FROM events").fetchone()[0])


@pytest.fixture
def db(log: Path) -> Iterator[sqlite3.Connection]:
    conn = sqlite3.connect(log, isolation_level=None)
    yield conn
    conn.close()


def _row(conn: sqlite3.Connection, seq: int) -> dict[str, Any]:
    """A row's columns, its event id and hash as the hex text they stand for."""
    read = (hex_of(c) if c in ("event_id", "hash") else c for c in COLUMNS)
    values = conn.execute(f"SELECT {', '.join(read)} FROM events WHERE seq = ?", [seq]).fetchone()
    return dict(zip(COLUMNS, values, strict=True))


def _set(conn: sqlite3.Connection, seq: int, row: dict[str, Any]) -> None:
    sets = ", ".join(f"{name} = ?" for name in row)
    conn.execute(f"UPDATE events SET {sets} WHERE seq = ?", [*row.values(), seq])


def _rehash_from(conn: sqlite3.Connection, start: int) -> None:
    prev = conn.execute(f"SELECT {hex_of('hash')} FROM events WHERE seq = ?",
                        [start - 1]).fetchone()[0]
    for seq, *rest in conn.execute(
            f"SELECT seq, {hex_of('event_id')}, stream, version, type, schema_version, at, data, "
            "commit_end FROM events WHERE seq >= ? ORDER BY seq", [start]).fetchall():
        event_id, stream, version, type_name, schema_version, at, data, commit_end = rest
        digest = chain_hash(prev, seq=seq, event_id=event_id, stream=stream, version=version,
                            type_name=type_name, schema_version=schema_version, at=at,
                            data=json.loads(data), commit_end=commit_end)
        conn.execute("UPDATE events SET prev_hash = ?, hash = ? WHERE seq = ?",
                     [prev, digest, seq])
        prev = digest


def _bad(path: Path, seq: int, expect_head: str | None = None) -> str:
    report = verify_log(path, expect_head=expect_head)
    assert not report.ok
    assert report.first_bad_seq == seq, report.problem
    assert report.problem and report.problem.endswith(".")
    assert report.head_seq == seq - 1
    return report.problem


def test_t26_clean_log_verifies_with_its_head(original: Path) -> None:
    report = verify_log(original)
    with closing(sqlite3.connect(original)) as conn:
        seq, digest = conn.execute(SELECT_HEAD).fetchone()
        count = conn.execute("SELECT count(*) FROM events").fetchone()[0]
    assert report.ok and report.problem is None and report.first_bad_seq is None
    assert (report.events, report.head_seq, report.head_hash) == (count, seq, digest)
    assert head_anchor(original) == f"{seq}:{digest}"
    assert report.checks == {**dict.fromkeys(CHECKS, True), "anchored_head": False}
    anchored = verify_log(original, expect_head=head_anchor(original))
    assert anchored.ok and all(anchored.checks.values())
    assert json.loads(anchored.to_json())["head_seq"] == seq


def test_t26_modified_data_byte(db: sqlite3.Connection, log: Path, n: int) -> None:
    k = n // 2
    data = _row(db, k)["data"]
    i = data.index(":") + 1
    _set(db, k, {"data": data[:i] + " " + data[i:] + " x"})  # no longer JSON
    assert "not valid JSON" in _bad(log, k)
    _set(db, k, {"data": data.replace('"', '"x', 1)})  # valid JSON, other content
    assert "hash" in _bad(log, k)


def test_t26_changed_type(db: sqlite3.Connection, log: Path, n: int) -> None:
    _set(db, n // 2, {"type": "UploadSynced"})
    _bad(log, n // 2)


def test_t26_deleted_middle_row(db: sqlite3.Connection, log: Path, n: int) -> None:
    db.execute("DELETE FROM events WHERE seq = ?", [n // 2])
    assert f"Seq {n // 2} is missing" in _bad(log, n // 2)


def test_t26_swapped_rows(db: sqlite3.Connection, log: Path, n: int) -> None:
    i, j = 3, n - 2
    first, second = _row(db, i), _row(db, j)
    _set(db, i, {"event_id": "tmp", "stream": "tmp"})
    _set(db, j, first)
    _set(db, i, second)
    _bad(log, i)


def test_t26_rewritten_prev_hash_column(db: sqlite3.Connection, log: Path, n: int) -> None:
    _set(db, n // 2, {"prev_hash": "f" * 64})  # the row's own hash is left as it was
    assert "prev_hash" in _bad(log, n // 2)


def test_t26_stream_version_forged_with_a_recomputed_chain(db: sqlite3.Connection, log: Path,
                                                       n: int) -> None:
    _set(db, n // 2, {"version": 99})
    _rehash_from(db, n // 2)
    assert "version 99" in _bad(log, n // 2)


def test_t26_renumbered_last_row(db: sqlite3.Connection, log: Path, n: int) -> None:
    db.execute("UPDATE events SET seq = seq + 1000 WHERE seq = ?", [n])
    assert f"followed by seq {n + 1000}" in _bad(log, n)


def test_t26_reordered_rows(db: sqlite3.Connection, log: Path, n: int) -> None:
    i, j = 4, 7
    db.execute("UPDATE events SET seq = -1 WHERE seq = ?", [i])
    db.execute("UPDATE events SET seq = ? WHERE seq = ?", [i, j])
    db.execute("UPDATE events SET seq = ? WHERE seq = -1", [j])
    _bad(log, i)


@pytest.mark.parametrize("k", [1, 3])
def test_t26_truncated_tail_is_caught_only_by_the_anchor(db: sqlite3.Connection, log: Path,
                                                     n: int, k: int) -> None:
    anchor = head_anchor(log)
    db.execute("DELETE FROM events WHERE seq > ?", [n - k])
    unanchored = verify_log(log)
    assert unanchored.ok and unanchored.head_seq == n - k  # the documented limit (P13)
    assert not unanchored.checks["anchored_head"]
    problem = _bad(log, n - k + 1, expect_head=anchor)
    assert "cut off" in problem and f"seq {n}" in problem


def test_t26_forged_middle_row_with_recomputed_chain(db: sqlite3.Connection, log: Path,
                                                 n: int) -> None:
    anchor = head_anchor(log)
    early = f"{n // 2 - 1}:{_row(db, n // 2 - 1)['hash']}"
    _set(db, n // 2, {"type": "UploadSynced"})
    _rehash_from(db, n // 2)
    assert verify_log(log).ok  # undetectable without an anchor (P13)
    assert verify_log(log, expect_head=early).ok  # an anchor before the forgery still holds
    assert "anchored head" in _bad(log, n, expect_head=anchor)


def test_t26_anchor_from_a_shorter_log_accepts_growth(db: sqlite3.Connection, log: Path,
                                                  n: int) -> None:
    earlier = f"{n - 3}:{_row(db, n - 3)['hash']}"  # the head before the last 3 appends
    report = verify_log(log, expect_head=earlier)
    assert report.ok and report.head_seq == n and report.checks["anchored_head"]
    assert not verify_log(log, expect_head=f"{n - 3}:{_row(db, n - 2)['hash']}").ok


def test_t26_reserialised_json_keeps_hashes(db: sqlite3.Connection, log: Path, n: int) -> None:
    for seq in range(1, n + 1):
        data = json.loads(_row(db, seq)["data"])
        reordered = dict(reversed(list(data.items())))
        _set(db, seq, {"data": json.dumps(reordered, indent=2)})
    changed = _row(db, n // 2)["data"]
    assert "\n" in changed
    report = verify_log(log, expect_head=None)
    assert report.ok and report.events == n


def test_t26_not_sqlite_and_missing_files(tmp_path: Path) -> None:
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"not a database at all" * 100)
    for path in (junk, tmp_path / "missing.db"):
        report = verify_log(path)
        assert not report.ok and report.first_bad_seq is None
        assert report.problem and str(path.name) in report.problem
        assert not any(report.checks.values())


def test_t26_events_as_a_view_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "view.db"
    with closing(sqlite3.connect(path)) as conn:
        conn.execute(
            "CREATE VIEW events AS WITH RECURSIVE r(seq) AS (SELECT 1 UNION ALL "
            "SELECT seq + 1 FROM r) SELECT seq, '' AS event_id, '' AS stream, 1 AS version, "
            "'' AS type, 1 AS schema_version, '' AS at, '{}' AS data, '' AS prev_hash, "
            "'' AS hash FROM r")
    report = verify_log(path)
    assert not report.ok and "no events table" in (report.problem or "")


def test_t26_deadline_stops_a_slow_read(db: sqlite3.Connection, log: Path) -> None:
    db.execute("CREATE TABLE pad AS WITH RECURSIVE r(x) AS (SELECT 1 UNION ALL SELECT x + 1 "
               "FROM r LIMIT 20000) SELECT x, randomblob(100) AS b FROM r")
    assert verify_log(log).ok
    report = verify_log(log, timeout=0.0)
    assert not report.ok and "stopped after" in (report.problem or "")


def test_t26_malformed_anchor_is_a_caller_error(log: Path) -> None:
    with pytest.raises(ValueError, match="SEQ:HASH"):
        verify_log(log, expect_head="12:nothex")
