"""T56: `walsync verify` checks the chain across the sealed segments and the live log: each
segment's sha256 against its seal, its rows through the row checks from genesis, their end
against where the live log starts. A deleted segment is reported as history removed by
retention (and when); an altered one by name; in both cases the live log still opens, shows
its status and keeps every event committed to it."""

from __future__ import annotations

import gzip
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest
from click.testing import CliRunner
from compacted import aged_log, days, live_fold, rows_of

from walsync.adapters.cli.main import cli
from walsync.adapters.store.readonly.verify import verify_log
from walsync.adapters.store.segments.compact import compact_log
from walsync.adapters.store.segments.files import read_segment
from walsync.adapters.store.sqlite import SqliteStore
from walsync.core.errors import SegmentAltered


def _compacted(folder: Path, times: int = 1) -> tuple[Path, list[Path]]:
    path = folder / "log.db"
    h = aged_log(path)
    for n in range(times):
        compact_log(path, older_than=days(0 if n else 30), now=h.clock.now())
        h.add(1)
        h.clock.advance(86_400)
    h.store.close()
    return path, sorted(folder.glob("log.db.seg-*.jsonl.gz"))


def test_two_segments_and_the_live_log_verify_as_one_chain(tmp_path: Path) -> None:
    path, segments = _compacted(tmp_path, times=2)
    assert len(segments) == 2
    report = verify_log(path)
    assert report.ok and report.checks["segments"], report.problem
    result = CliRunner().invoke(cli, ["verify", "--db", str(path)])
    assert result.exit_code == 0 and result.output.startswith("ok:"), result.output


@pytest.mark.parametrize("which", [0, 1])
def test_a_deleted_segment_is_history_removed_by_retention(tmp_path: Path, which: int) -> None:
    path, segments = _compacted(tmp_path, times=2)
    rows = list(rows_of(path))
    first, last = (int(x) for x in segments[which].name.split(".seg-")[1][:25].split("-"))
    segments[which].unlink()
    report = verify_log(path)
    assert not report.ok and not report.checks["segments"]
    assert report.problem is not None and report.problem.startswith(
        f"History before seq {last + 1} was removed by retention on 2026-06-{29 + which}: the "
        f"segment "
        f"{segments[which].name} (seq {first} to {last}")
    result = CliRunner().invoke(cli, ["verify", "--db", str(path)])
    assert result.exit_code == 1 and result.output.startswith("BAD: History before seq")
    assert "Traceback" not in result.output
    # Nothing committed to the live log is lost: it opens, folds and keeps every row.
    store = SqliteStore(path)
    try:
        assert store.salvaged is None and store.projection.rows == live_fold(path).rows
    finally:
        store.close()
    assert list(rows_of(path)) == rows
    status = CliRunner().invoke(cli, ["status", "--db", str(path)])
    assert status.exit_code == 0 and "archived:" in status.output, status.output


def _rewrite(segment: Path, old: bytes, new: bytes) -> None:
    data = gzip.decompress(segment.read_bytes())
    assert old in data
    segment.write_bytes(gzip.compress(data.replace(old, new, 1)))


def test_an_altered_segment_is_named(tmp_path: Path) -> None:
    path, [segment] = _compacted(tmp_path)
    _rewrite(segment, b"phone", b"phony")
    report = verify_log(path)
    assert not report.ok and report.problem is not None
    assert report.problem.startswith(f"The segment {segment.name} was altered: its sha256 is ")
    with pytest.raises(SegmentAltered, match=segment.name):
        list(read_segment(segment, "0" * 64))
    store = SqliteStore(path)  # the live log is sound: it opens as it is
    assert store.salvaged is None
    store.close()


def test_a_segment_whose_digest_was_forged_too_breaks_the_chain(tmp_path: Path) -> None:
    """Altered rows with the seal's digest rewritten to match (in the list of segments and in
    the SegmentSealed row): the hash chain of the live log breaks at that row."""
    path, [segment] = _compacted(tmp_path)
    _rewrite(segment, b"phone", b"phony")
    from walsync.adapters.store.segments.files import file_digest

    forged = file_digest(segment)
    with closing(sqlite3.connect(path)) as conn:
        old = conn.execute("SELECT json_extract(data, '$.sha256') FROM sealed_segments").fetchone()[0]
        for table in ("sealed_segments", "events"):
            conn.execute(f"UPDATE {table} SET data = replace(data, ?, ?)", (old, forged))
        conn.commit()
    report = verify_log(path)
    assert not report.ok and report.problem is not None
    assert "stored hash does not match its contents" in report.problem, report.problem
