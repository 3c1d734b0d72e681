"""T80: commit boundaries. Time travel lands between commits, never inside one; the boundaries
are in the hashed rows, so verify, export, import and replay keep them and catch a cut inside
one; logs written before they were recorded (schema v1, v2) still read, unsnapped."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
from contextlib import closing
from datetime import timedelta
from pathlib import Path

import pytest
from raw_log import chain, row_of, write_rows
from tier import record

from walsync.adapters.ports import NewEvent
from walsync.adapters.store.readonly.queries import connect_readonly, resolve_cut
from walsync.adapters.store.readonly.verify import verify_log
from walsync.adapters.store.schema import earlier_definitions
from walsync.adapters.store.share.export import export_log
from walsync.adapters.store.share.importer import import_log
from walsync.adapters.store.sqlite import SqliteStore
from walsync.core.events import SyncRunFinished, SyncRunStarted, UploadSkipped
from walsync.core.policies import SEED
from walsync.core.responses import UploadThrottled
from walsync.core.serde import SCHEMA_VERSION, format_time

from fakes import T0, Harness

GOLDEN_V2 = Path(__file__).parents[1] / "golden" / "v2" / "backend_saturation.jsonl"
WALSYNC = Path(sys.executable).with_name("walsync")


def _gated_run(path: Path, recordings: int = 18) -> tuple[int, int]:
    """A log whose last commit is a gated batch run as walsync wrote one before a held pass
    became one event: its start, one skip per recording and its finish, written together (a
    commit whose inside shows a card nobody saw). (first, last) seq of that commit."""
    h = Harness(SEED, store=SqliteStore(path))
    wals = h.add(recordings)
    h.backend.answer_uploads(UploadThrottled())
    h.engine.sync_all()  # the first batch is throttled: uploads pause for 30 minutes
    gate, now = h.engine.gate().gate, h.clock.now()
    assert gate.reason is not None and gate.until is not None
    before = h.seq()
    h.store.append([NewEvent(event_id=f"gated-{n}", event=e) for n, e in enumerate([
        SyncRunStarted(at=now, run_id="gated", path="batch", wal_ids=tuple(wals)),
        *[UploadSkipped(at=now, wal_id=w, path="batch", gate_reason=gate.reason,
                        gate_until=gate.until) for w in wals],
        SyncRunFinished(at=now, run_id="gated", path="batch", gated=True)])],
        {f"wal:{w}": h.store.projection.wals[w].version for w in wals})
    h.engine.close()
    types = [type(r.event) for r in SqliteStore(path).read(after=before)]
    assert types == [SyncRunStarted, *[UploadSkipped] * recordings, SyncRunFinished]
    return before + 1, before + len(types)


def _status(path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(WALSYNC), "status", "--db", path.name, *args], cwd=path.parent,
                          capture_output=True, text=True, timeout=60, check=True)


def test_t80_status_seq_inside_a_commit_shows_the_state_at_its_end(tmp_path: Path) -> None:
    """The field report: a cut inside a gated run's commit showed "Uploading to Omi · 0 of
    18 (Cancel)", a card nobody ever saw. Through the installed CLI, with a relative path."""
    path = tmp_path / "log.db"
    first, last = _gated_run(path)
    inside = json.loads(_status(path, "--seq", str(first + 3), "--json").stdout)
    at_end = json.loads(_status(path, "--seq", str(last), "--json").stdout)
    assert inside["as_of_seq"] == last
    assert inside["cards"] == at_end["cards"]
    assert inside["cards"]["sync"]["kind"] == "cooldown"
    assert f"seq {first}-{last}" in inside["cut_note"]
    text = _status(path, "--seq", str(first)).stdout
    assert text.startswith(f"as of seq {last}") and "Uploading to Omi" not in text
    assert f"note: seq {first} is inside the commit of seq {first}-{last}" in text
    before = json.loads(_status(path, "--seq", str(first - 1), "--json").stdout)
    assert before["as_of_seq"] == first - 1 and "cut_note" not in before  # a boundary: as asked
    record("t80", "cuts inside a commit", 2, lost=0)


def test_t80_every_seq_of_a_log_cuts_at_a_boundary(tmp_path: Path) -> None:
    path = tmp_path / "log.db"
    _gated_run(path, recordings=4)
    with closing(connect_readonly(path)) as conn:
        ends = dict(conn.execute("SELECT seq, commit_end FROM events"))
        boundaries = {seq for seq, end in ends.items() if seq == end}
        for seq in ends:
            cut = resolve_cut(conn, seq=seq)
            assert cut.seq == ends[seq] and cut.seq in boundaries
            assert (cut.note is None) == (seq in boundaries)


def test_t80_a_moment_inside_a_commit_cuts_before_it(tmp_path: Path) -> None:
    """A commit whose rows carry times on both sides of the moment had not ended by then: the
    cut leaves it out (and says so); a moment after its last row takes it whole."""
    events = [row_of(e, event_id=f"e{i}", version=1) for i, e in enumerate([
        SyncRunStarted(at=T0, run_id="r1", path="batch"),
        SyncRunStarted(at=T0 + timedelta(seconds=10), run_id="r2", path="batch"),
        SyncRunStarted(at=T0 + timedelta(seconds=20), run_id="r3", path="batch")])]
    for version, row in enumerate(events, start=1):
        row.update(version=version, schema_version=SCHEMA_VERSION)
    events[1]["commit_end"] = events[2]["commit_end"] = 3  # rows 2 and 3: one commit
    path = tmp_path / "log.db"
    write_rows(path, chain(events))
    assert verify_log(path).ok
    with closing(connect_readonly(path)) as conn:
        straddled = resolve_cut(conn, at=format_time(T0 + timedelta(seconds=15)))
        after = resolve_cut(conn, at=format_time(T0 + timedelta(seconds=25)))
    assert (straddled.seq, after.seq) == (1, 3)
    assert straddled.note is not None and "seq 2-3" in straddled.note and after.note is None


def test_t80_logs_of_schema_v2_read_unsnapped_and_keep_replaying(tmp_path: Path) -> None:
    """Rows written before v3 name no boundary: each stands alone, as time travel always took
    them. The v2 file is read as it is (no column added), and a store opening it adds the
    column without touching a row."""
    rows = [json.loads(line) for line in GOLDEN_V2.read_text(encoding="utf-8").splitlines()]
    path = tmp_path / "v2.db"
    columns = [c for c in rows[0] if c != "commit_end"]
    with closing(sqlite3.connect(path)) as conn:
        [v2_table] = earlier_definitions()[("table", "events")]  # as walsync 2 made it
        conn.execute(str(v2_table))
        conn.executemany(f"INSERT INTO events ({', '.join(columns)}) VALUES "
                         f"({', '.join('?' * len(columns))})",
                         [tuple(r[c] for c in columns) for r in rows])
        conn.commit()
    assert verify_log(path).ok
    with closing(connect_readonly(path)) as conn:
        assert all(resolve_cut(conn, seq=s).seq == s and resolve_cut(conn, seq=s).note is None
                   for s in (1, len(rows) // 2, len(rows)))
    store = SqliteStore(path)
    assert [r.commit_end for r in store.read()] == [None] * len(rows)
    store.close()
    assert verify_log(path).ok


def test_t80_verify_catches_a_log_cut_inside_a_commit(tmp_path: Path) -> None:
    path = tmp_path / "log.db"
    first, last = _gated_run(path, recordings=3)
    cut = tmp_path / "cut.db"
    shutil.copyfile(path, cut)
    with closing(sqlite3.connect(cut)) as conn:
        conn.execute("DELETE FROM events WHERE seq > ?", (first + 1,))
        conn.commit()
    report = verify_log(cut)
    assert not report.ok and report.first_bad_seq == first + 2
    assert f"inside the commit of seq {first}-{last}" in (report.problem or "")
    moved = tmp_path / "moved.db"
    shutil.copyfile(path, moved)
    with closing(sqlite3.connect(moved)) as conn:  # a boundary moved without the chain: caught
        conn.execute("UPDATE events SET commit_end = seq WHERE seq = ?", (first,))
        conn.commit()
    report = verify_log(moved)
    assert not report.ok and report.first_bad_seq == first
    record("t80", "verify: cut inside a commit, boundary moved", 2, lost=0)


@pytest.mark.parametrize("name", ["shared.jsonl", "shared.db", "shared.jsonl.gz"])
def test_t80_export_and_import_carry_the_boundaries(tmp_path: Path, name: str) -> None:
    path = tmp_path / "log.db"
    _gated_run(path, recordings=3)
    export_log(path, tmp_path / name, redact=name.endswith(".gz"))
    target = tmp_path / "imported.db"
    import_log(tmp_path / name, target)
    with closing(sqlite3.connect(path)) as a, closing(sqlite3.connect(target)) as b:
        query = "SELECT seq, commit_end FROM events ORDER BY seq"
        assert a.execute(query).fetchall() == b.execute(query).fetchall()
    assert verify_log(target).ok
