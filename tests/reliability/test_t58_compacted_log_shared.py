"""T58: what reads a compacted log besides opening it. `why`, `timeline` and the HTML report
answer for every recording as they did before the compaction (an archived or carried one's
history read back from its segment), `why` says plainly when that segment was removed, and
`log --wal` says that it shows only the live log's part (export, import, replay and fleet ingest
read a compacted log whole: T92-T94). Time travel to a cut inside a segment (`status`, `why`
with `--seq` or `--at`) and `status --all` fold the segments and answer as before."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from click.testing import CliRunner
from compacted import aged_log, archived_ids, days, fold_of, whole_history

from walsync.adapters.cli.main import cli
from walsync.adapters.diagnosis.report import build_report
from walsync.adapters.diagnosis.why import explain_all, explain_wal, projection_at, timeline
from walsync.adapters.store.segments.compact import compact_log
from walsync.core.errors import UnknownWal


def _answers(path: Path, ids: list[str]) -> tuple[object, ...]:
    """`why` of each recording and `--all`, each one's timeline, and the HTML report's lanes."""
    return ({w: explain_wal(path, w) for w in ids}, list(explain_all(path)),
            {w: timeline(path, w) for w in ids}, build_report(path, every=True))


def _compacted(folder: Path) -> tuple[Path, dict[str, object], list[object]]:
    path = folder / "log.db"
    h = aged_log(path)
    ids = sorted(fold_of(whole_history(path)).wals)
    before = {w: explain_wal(path, w) for w in ids}
    stalled = list(explain_all(path))
    compact_log(path, older_than=days(30), now=h.clock.now())
    h.store.close()
    return path, before, stalled


def test_why_timeline_and_report_answer_as_before_the_compaction(tmp_path: Path) -> None:
    path = tmp_path / "log.db"
    h = aged_log(path)
    ids = sorted(fold_of(whole_history(path)).wals)
    before = _answers(path, ids)
    compact_log(path, older_than=days(30), now=h.clock.now())
    h.store.close()
    assert archived_ids(path) and before[1]
    assert _answers(path, ids) == before


def test_log_of_a_recording_says_its_earlier_events_lie_in_a_segment(tmp_path: Path) -> None:
    path, _, _ = _compacted(tmp_path)
    archived = sorted(archived_ids(path))[0]
    result = CliRunner().invoke(cli, ["log", "--db", str(path), "--wal", archived])
    assert result.exit_code == 0
    assert f"note: {archived}'s earlier events lie in a sealed segment" in result.output


def test_why_says_when_the_segment_it_needs_was_removed(tmp_path: Path) -> None:
    path, _, _ = _compacted(tmp_path)
    archived = sorted(archived_ids(path))[0]
    [segment] = tmp_path.glob("log.db.seg-*.jsonl.gz")
    segment.unlink()
    result = CliRunner().invoke(cli, ["why", "--db", str(path), archived])
    assert result.exit_code == 1, result.output
    assert result.output.startswith("Error: history before seq ")
    assert "was removed by retention on 2026-06-29" in result.output


def _cuts(path: Path) -> list[tuple[int, str]]:
    """A dozen (seq, time) points spread over the log, before its compaction."""
    with sqlite3.connect(path) as conn:
        rows = conn.execute("SELECT seq, at FROM events ORDER BY seq").fetchall()
    return [(int(seq), str(at)) for seq, at in rows[:: max(len(rows) // 12, 1)]]


def _status(path: Path, *args: str) -> dict[str, object]:
    result = CliRunner().invoke(cli, ["status", "--db", str(path), "--json", *args])
    assert result.exit_code == 0, result.output
    found: dict[str, object] = json.loads(result.output)
    return found


def test_time_travel_into_the_segments_answers_as_before_the_compaction(tmp_path: Path) -> None:
    path = tmp_path / "log.db"
    h = aged_log(path)
    cuts = _cuts(path)
    ids = sorted(fold_of(whole_history(path)).wals)[::7]
    before = {(seq, at): (projection_at(path, seq=seq)[0].rows, projection_at(path, at=at)[0].rows,
                          _status(path, "--seq", str(seq), "--all"), _rows_at(path, at, "--all"))
              for seq, at in cuts}
    plain_before = {seq: _status(path, "--seq", str(seq)) for seq, _ in cuts}
    why_before = {(w, at): _why(path, w, at) for w in ids for _, at in cuts[::3]}
    every_before = _status(path, "--all")  # a log never compacted: every row it folds
    compact_log(path, older_than=days(30), now=h.clock.now())
    h.store.close()
    inside = [seq for seq, _ in cuts if seq < _first_live(path)]
    assert len(inside) >= 4  # most cuts lie in the sealed history
    # A cut in the sealed history folds the segments; one in the live log with --all as well
    # (without it, the live log's fold starts from the view its cut carried: no archived rows).
    after = {(seq, at): (projection_at(path, seq=seq, whole=True)[0].rows,
                         projection_at(path, at=at, whole=True)[0].rows,
                         _status(path, "--seq", str(seq), "--all"), _rows_at(path, at, "--all"))
             for seq, at in cuts}
    assert after == before
    assert {seq: _status(path, "--seq", str(seq)) for seq in inside} == {
        seq: plain_before[seq] for seq in inside}
    why_after = {(w, at): _why(path, w, at) for w in ids for _, at in cuts[::3]}
    assert why_after == why_before
    every = _status(path, "--all")
    assert every["rows"] == every_before["rows"] and every["gate"] == every_before["gate"]
    assert len(_status(path)["rows"]) < len(every["rows"])  # type: ignore[arg-type]  # lists
    text = CliRunner().invoke(cli, ["status", "--db", str(path), "--all"]).output
    assert "(rows shown: every recording)" in text


def _rows_at(path: Path, at: str, *args: str) -> dict[str, object]:
    """`status --at` less its seq: a time at or after the compaction also takes in the
    `SegmentSealed` and `StateCarried` it committed then."""
    found = _status(path, "--at", at, *args)
    del found["as_of_seq"]
    return found


def _first_live(path: Path) -> int:
    with sqlite3.connect(path) as conn:
        return int(conn.execute("SELECT min(seq) FROM events").fetchone()[0])


def _why(path: Path, wal_id: str, at: str) -> object:
    """`why` of the recording as of `at`, or that it was unknown then."""
    try:
        return explain_wal(path, wal_id, at=at)
    except UnknownWal:
        return "unknown then"


def test_status_all_says_when_a_segment_it_needs_was_removed(tmp_path: Path) -> None:
    path, _, _ = _compacted(tmp_path)
    [segment] = tmp_path.glob("log.db.seg-*.jsonl.gz")
    segment.unlink()
    for args in (["--all"], ["--seq", "3"]):
        result = CliRunner().invoke(cli, ["status", "--db", str(path), *args])
        assert result.exit_code == 1, result.output
        assert result.output.startswith("Error: history before seq "), result.output
        assert len(result.output.splitlines()) == 1
