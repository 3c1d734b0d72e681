"""Retention in the background of a long-running service (issue 17 item 4): after a pass, the
`BackgroundRetention` hook seals history past the horizon one bounded step at a time, beside
the engine that keeps writing; a step that fails is logged and never fails the pass; `walsync
sync` and `walsync watch` take `--retention DURATION|off`."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from click.testing import CliRunner
from compacted import DAY, aged_log, archived_ids, assert_same_projections, fold_of, live_fold, whole_history

from walsync.adapters.cli.main import cli
from walsync.adapters.service import retention as retention_module
from walsync.adapters.service.aio import AsyncSyncService
from walsync.adapters.service.retention import DEFAULT_HORIZON, BackgroundRetention
from walsync.adapters.service.runner import Passes, SyncService
from walsync.adapters.store.readonly.full_check import verify_full
from walsync.adapters.store.sqlite import SqliteStore
from walsync.core.errors import StoreError
from walsync.core.policies import WALSYNC
from walsync.core.responses import UploadProcessed

from fakes import Harness


def _segments(folder: Path) -> list[Path]:
    return sorted(folder.glob("log.db.seg-*"))


def test_a_pass_seals_what_aged_past_the_horizon_and_the_engine_goes_on(tmp_path: Path) -> None:
    path = tmp_path / "log.db"
    h = aged_log(path)  # forty days, the engine open on it
    hook = BackgroundRetention(path)
    Passes(h.engine, after_pass=[hook], retention=None).run_due()
    assert len(hook.reports) == 1 and len(_segments(tmp_path)) == 1
    assert not hook.reports[0].vacuumed  # a background step leaves the pages to be reused
    archived = archived_ids(path)
    assert archived
    assert_same_projections(live_fold(path), fold_of(whole_history(path)), archived)
    hook(h.engine)  # nothing more is due: no second segment
    assert len(hook.reports) == 1 and len(_segments(tmp_path)) == 1
    [new] = h.add(1)  # the engine that was open across the step writes on
    h.backend.answer_uploads(UploadProcessed())
    h.engine.sync_wal(new)
    assert h.store.projection.row(new).state == "synced"  # type: ignore[union-attr]  # it has a row
    h.store.close()
    assert verify_full(path).ok


def test_nothing_is_sealed_before_the_oldest_row_is_a_day_past_the_horizon(tmp_path: Path) -> None:
    path = tmp_path / "log.db"
    h = Harness(WALSYNC, store=SqliteStore(path))
    h.add(3)
    hook = BackgroundRetention(path)
    h.clock.advance(30 * DAY + 3_600)  # past the horizon, not a day past it
    hook(h.engine)
    assert hook.reports == [] and _segments(tmp_path) == []
    h.clock.advance(DAY)
    hook(h.engine)
    assert len(hook.reports) == 1 and len(_segments(tmp_path)) == 1
    h.store.close()


def test_each_step_seals_one_bounded_segment(tmp_path: Path) -> None:
    path = tmp_path / "log.db"
    h = aged_log(path)
    hook = BackgroundRetention(path, step_events=8)
    steps = 0
    while True:
        before = len(hook.reports)
        hook(h.engine)
        if len(hook.reports) == before:
            break
        steps += 1
        assert len(_segments(tmp_path)) == steps  # one more segment per step
    assert steps >= 3
    assert all(r.segments == 1 for r in hook.reports)
    assert_same_projections(live_fold(path), fold_of(whole_history(path)), archived_ids(path))
    h.store.close()


def test_a_failed_step_is_logged_and_tried_again_an_hour_later(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "log.db"
    h = aged_log(path)
    calls: list[object] = []

    def refuse(*args: object, **kwargs: object) -> None:
        calls.append(args)
        raise StoreError("another compaction moved these rows first; nothing was changed")

    monkeypatch.setattr(retention_module, "compact_log", refuse)
    hook = BackgroundRetention(path)
    with caplog.at_level(logging.ERROR, logger="walsync.service"):
        Passes(h.engine, after_pass=[hook], retention=None).run_due()  # the pass itself does not fail
    assert len(calls) == 1 and "background retention failed" in caplog.text
    h.clock.advance(1_800)
    hook(h.engine)
    assert len(calls) == 1  # not before the hour
    h.clock.advance(1_800)
    hook(h.engine)
    assert len(calls) == 2
    h.store.close()


def test_a_service_compacts_its_log_by_default(tmp_path: Path) -> None:
    """An app that runs the engine in a service, as the API shows, gets retention without
    wiring a hook: at the default horizon, after a pass; `retention=None` turns it off, and a
    log in memory has none."""
    for name, retention in (("default", DEFAULT_HORIZON), ("off", None)):
        folder = tmp_path / name
        folder.mkdir()
        h = aged_log(folder / "log.db")
        service = SyncService(h.engine) if retention else SyncService(h.engine, retention=None)
        service.passes.run_due()
        sealed = _segments(folder)
        if retention is None:
            assert service.passes.retention is None and sealed == []
        else:
            hook = service.passes.retention
            assert hook is not None and hook.horizon == DEFAULT_HORIZON
            assert len(hook.reports) == 1 and len(sealed) == 1
            assert_same_projections(live_fold(folder / "log.db"),
                                    fold_of(whole_history(folder / "log.db")),
                                    archived_ids(folder / "log.db"))
        h.store.close()
        assert verify_full(folder / "log.db").ok
    in_memory = Harness(WALSYNC)
    assert AsyncSyncService(in_memory.engine).passes.retention is None


def test_sync_and_watch_take_retention(tmp_path: Path) -> None:
    runner = CliRunner()
    for command in ("sync", "watch"):
        shown = runner.invoke(cli, [command, "--help"])
        assert "--retention DURATION|off" in shown.output and "[default: 30d]" in shown.output
        bad = runner.invoke(cli, [command, "--db", str(tmp_path / "x.db"), "--backend",
                                  "http://127.0.0.1:9/", "--token", "t", "--recordings",
                                  str(tmp_path), "--retention", "soon"])
        assert bad.exit_code == 2 and "'soon' is not a duration" in bad.output, bad.output


def test_walsync_sync_seals_an_old_log_after_its_pass_unless_told_off(tmp_path: Path) -> None:
    """The harness's log is from May 2026: months past the horizon by the system clock."""
    (tmp_path / "rec").mkdir()
    for name, extra in (("off", ["--retention", "off"]), ("on", [])):
        folder = tmp_path / name
        folder.mkdir()
        aged_log(folder / "log.db").store.close()
        os_args = ["sync", "--db", str(folder / "log.db"), "--backend", "http://127.0.0.1:9/",
                   "--token", "t", "--recordings", str(tmp_path / "rec"), "--once", *extra]
        result = CliRunner().invoke(cli, os_args)
        assert result.exit_code == 0, result.output
        sealed = sorted(folder.glob("log.db.seg-*"))
        if name == "off":
            assert sealed == [] and "retention:" not in result.output
        else:
            assert len(sealed) == 1 and f"sealed into {sealed[0].name}" in result.output
            assert verify_full(folder / "log.db").ok
