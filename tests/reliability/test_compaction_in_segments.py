"""Compaction cuts history into segments of a bounded number of events (an archived
recording's history is read back from its whole segment), one after the other, and the log
answers as it would after a single cut: the same rows moved and recordings archived, the same
projections, `why`, `timeline` and the report, the chain verified across every segment, each
segment starting where the one before ended. A commit longer than the bound is sealed whole."""

from __future__ import annotations

import shutil
import sqlite3
from contextlib import closing
from itertools import pairwise
from pathlib import Path

import compacted as c

from walsync.adapters.diagnosis.report import build_report
from walsync.adapters.diagnosis.why import explain_all, explain_wal, timeline
from walsync.adapters.store.readonly.full_check import verify_full
from walsync.adapters.store.segments.anchors import seals
from walsync.adapters.store.segments.compact import compact_log


def _answers(path: Path, ids: list[str]) -> tuple[object, ...]:
    return ({w: explain_wal(path, w) for w in ids}, list(explain_all(path)),
            {w: timeline(path, w) for w in ids}, build_report(path, every=True))


def test_a_log_compacted_in_small_segments_answers_as_one_cut(tmp_path: Path) -> None:
    path, single = tmp_path / "log.db", tmp_path / "single" / "log.db"
    h = c.aged_log(path)
    now = h.clock.now()
    h.store.close()
    single.parent.mkdir()
    shutil.copy(path, single)
    ids = sorted(c.fold_of(c.whole_history(path)).wals)
    before = _answers(path, ids)
    one = compact_log(single, older_than=c.days(30), now=now)
    report = compact_log(path, older_than=c.days(30), now=now, segment_events=1)
    assert one.segments == 1 and report.segments > 2
    assert (report.first_seq, report.last_seq, report.events) == (
        one.first_seq, one.last_seq, one.events)
    assert c.archived_ids(path) == c.archived_ids(single) and report.archived == one.archived
    with closing(sqlite3.connect(path)) as conn:
        sealed = [seal for *_, seal in seals(conn)]
    assert len(sealed) == report.segments
    assert max(seal.count for seal in sealed) > 1  # a commit longer than the bound, whole
    assert all(b.first_seq == a.last_seq + 1 for a, b in pairwise(sealed))
    c.assert_same_projections(c.live_fold(path), c.fold_of(c.whole_history(path)), c.archived_ids(path))
    report_check = verify_full(path)
    assert report_check.ok and report_check.checks["segments"], report_check.problem
    assert _answers(path, ids) == before
