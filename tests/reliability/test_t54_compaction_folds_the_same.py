"""T54: a compacted live log folds to the same projections as the whole history. `walsync
compact` moves the rows before a horizon into a sealed segment and carries the view as of the
cut into the live log (`StateCarried`): the fold of the live log alone then gives the status
rows (but those of the archived recordings, each finished before the cut), the cards, the
summary and every carried recording's state and retry count that the fold of every row ever
written gives; the store opened on it reads the same, the engine goes on writing to it, and an
archived recording stays known (registering it again is a duplicate)."""

from __future__ import annotations

import contextlib
import tempfile
from pathlib import Path
from unittest.mock import patch

import pytest
from compacted import (
    DAY,
    aged_log,
    archived_ids,
    assert_same_projections,
    days,
    fold_of,
    live_fold,
    whole_history,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from walsync.adapters.store.readonly.full_check import verify_full
from walsync.adapters.store.segments import cut_view
from walsync.adapters.store.segments.compact import compact_log
from walsync.adapters.store.sqlite import SqliteStore
from walsync.core.errors import DuplicateWal, WalsyncError
from walsync.core.policies import WALSYNC
from walsync.core.responses import (
    JobStatus,
    JobVanished,
    UploadError,
    UploadLost,
    UploadProcessed,
    UploadThrottled,
)

from fakes import Harness

_ANSWERS = {
    "processed": UploadProcessed(), "throttled": UploadThrottled(retry_after_raw="60"),
    "error": UploadError(kind="server_error", message="boom", http_status=500),
    "lost": UploadLost(detail="cut off"),
}


def _check(path: Path) -> None:
    """The live log's fold against the whole history's; the store reopened reads the same,
    and verify (the chain across segments) and verify --full (the tables) pass."""
    live, whole = live_fold(path), fold_of(whole_history(path))
    assert_same_projections(live, whole, archived_ids(path))
    store = SqliteStore(path)
    try:
        assert store.projection.all_rows() == list(live.rows.values())
        assert store.projection.cards == whole.cards
        assert {w: store.projection.known(w) for w in live.wals} == live.wals
    finally:
        store.close()
    report = verify_full(path)
    assert report.ok and report.checks["segments"], report.problem


@pytest.mark.parametrize("chunk", [10_000, 3])
def test_a_compacted_log_folds_as_its_whole_history(tmp_path: Path, chunk: int) -> None:
    path = tmp_path / "log.db"
    h = aged_log(path)
    with patch.object(cut_view, "_CHUNK", chunk):
        report = compact_log(path, older_than=days(30), now=h.clock.now())
    _check(path)
    assert report.segment is not None and report.first_seq == 1 and report.archived == 3
    # live at the cut: one failed once, one uploaded, two waiting; one synced, deleted after it
    assert report.carried == 5
    # The engine that was open on it all along goes on: a carried recording uploads.
    waiting = sorted(w for w, s in h.store.projection.wals.items() if s.status == "miss")
    h.backend.answer_uploads(UploadProcessed())
    h.engine.sync_wal(waiting[0])
    assert h.row(waiting[0]).state == "synced"
    # An archived recording is still known: registering it again is a duplicate.
    archived = sorted(archived_ids(path))
    assert archived and h.store.projection.registered(archived[0])
    with pytest.raises(DuplicateWal):
        h.engine.register(timer_start=int(archived[0].split("_")[1]), file_path="x.bin")
    h.store.close()
    _check(path)
    # A second compaction continues the chain from the first segment.
    again = compact_log(path, older_than=days(0), now=h.clock.now() + days(1))
    assert again.first_seq == report.last_seq + 1
    _check(path)


_STEPS = st.one_of(
    st.tuples(st.just("add"), st.integers(1, 3)),
    st.tuples(st.just("upload"), st.sampled_from([*sorted(_ANSWERS), "job"])),
    st.tuples(st.just("reconcile"), st.sampled_from(["completed", "failed", "queued", "gone"])),
    st.tuples(st.just("delete"), st.integers(0, 20)),
    st.tuples(st.just("days"), st.integers(1, 20)),
    st.tuples(st.just("compact"), st.integers(0, 30)),
)


def _run(h: Harness, step: tuple[str, int | str], path: Path) -> None:
    kind, arg = step
    if kind == "add":
        h.add(int(arg))
    elif kind == "upload":
        if arg != "job":
            h.backend.answer_uploads(_ANSWERS[str(arg)])
        h.engine.sync_all()
        h.backend.upload_answers.clear()
    elif kind == "reconcile":
        for n in range(1, h.backend._jobs + 1):  # every job the backend handed out
            job = f"job-{n}"
            h.backend.answer_job(job, JobVanished(http_status=404) if arg == "gone" else
                                 JobStatus(job_id=job, status=str(arg), total_segments=1,
                                           failed_segments=int(arg == "failed"),
                                           error="busy" if arg == "failed" else None))
        h.engine.reconcile()
        h.backend.job_answers.clear()
    elif kind == "delete":
        rows = h.engine.rows()
        if rows:
            with contextlib.suppress(WalsyncError):
                h.engine.delete(rows[int(arg) % len(rows)].wal_id)
    elif kind == "days":
        h.clock.advance(int(arg) * DAY)
    else:
        compact_log(path, older_than=days(int(arg)), now=h.clock.now(), vacuum=False)
        _check(path)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=st.lists(_STEPS, min_size=4, max_size=24))
def test_any_log_compacted_anywhere_folds_as_its_whole_history(
        steps: list[tuple[str, int | str]]) -> None:
    # The cut's view folded a few rows at a time: finished recordings leave memory and are
    # read back from their streams when a later chunk moves them.
    with tempfile.TemporaryDirectory() as folder, patch.object(cut_view, "_CHUNK", 5):
        path = Path(folder) / "log.db"
        h = Harness(WALSYNC, store=SqliteStore(path))
        try:
            for step in [*steps, ("days", 1), ("compact", 0)]:
                _run(h, step, path)
        finally:
            h.store.close()
        _check(path)
