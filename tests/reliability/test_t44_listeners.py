"""T44: a listener can never break a command. A `subscribe` callback (a UI's) that raises is
logged and isolated: the command it heard goes on exactly as without it."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import pytest

from walsync.adapters.ports import StoredEvent
from walsync.adapters.store.sqlite import SqliteStore
from walsync.core.policies import WALSYNC

from fakes import Harness


def _raise_on(type_name: str) -> tuple[list[str], object]:
    heard: list[str] = []

    def listener(rows: Sequence[StoredEvent]) -> None:
        heard.extend(r.type for r in rows)
        if any(r.type == type_name for r in rows):
            raise RuntimeError(f"the UI callback broke on {type_name}")
    return heard, listener


def test_t44_a_listener_raising_after_upload_started_does_not_stop_sync_all(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Regression: the exception escaped `_record` after UploadStarted was committed and before
    the request, leaving every recording 'Syncing…' until the engine was reopened."""
    h = Harness(WALSYNC, store=SqliteStore(tmp_path / "log.db"))
    wal_ids = h.add(4)
    heard, listener = _raise_on("UploadStarted")
    h.engine.subscribe(listener)  # type: ignore[arg-type]
    with caplog.at_level(logging.ERROR, logger="walsync.engine"):
        report = h.engine.sync_all()
    assert report.uploaded == 4
    assert len(h.backend.uploads) == 2  # batches of 3 and 1: both requests went out
    assert {h.row(w).display for w in wal_ids} == {"uploaded"}
    assert heard.count("UploadStarted") == 4 and "SyncRunFinished" in heard
    assert "the UI callback broke on UploadStarted" in caplog.text
    h.engine.close()


def test_t44_a_listener_raising_on_every_commit_changes_nothing(
        caplog: pytest.LogCaptureFixture) -> None:
    plain, noisy = Harness(WALSYNC), Harness(WALSYNC)

    def broken(rows: Sequence[StoredEvent]) -> None:
        raise ValueError("always")
    noisy.engine.subscribe(broken)
    for h in (plain, noisy):
        h.add(5)
        h.engine.sync_all()
        h.engine.reconcile()
    assert noisy.types() == plain.types()
    assert [r.display for r in noisy.engine.rows()] == [r.display for r in plain.engine.rows()]
    assert caplog.text.count("a subscriber of the engine raised") >= len(noisy.types()) // 10
