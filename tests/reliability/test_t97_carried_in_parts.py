"""T97: a cut that carries many recordings writes its carried view in parts. Each recording
still waiting at a retention cut is carried into the live log, about 420 bytes of it; in one
`StateCarried` a device offline past the horizon (3,000 recordings waiting) made a row over
the 1 MiB line limit of an import, and 5,000 one over the 2 MiB value limit: its export, and
the compacted log itself, could no longer be imported, replayed or ingested. The view is now
carried in parts of at most `CARRIED_PER_PART` recordings, committed together with the seal:
the live log folds as before, opens, verifies, re-compacts and shares. The retention tests'
salvage cases hold with a view in many parts too."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import pytest
import test_t57_open_compacted as t57
from click.testing import CliRunner
from compacted import archived_ids, assert_same_projections, days, fold_of, live_fold, whole_history

from walsync.adapters.cli.main import cli
from walsync.adapters.store.readonly.full_check import verify_full
from walsync.adapters.store.segments.anchors import carried_state
from walsync.adapters.store.segments.compact import compact_log
from walsync.adapters.store.share.importer import _MAX_LINE
from walsync.adapters.store.sqlite import SqliteStore
from walsync.core.policies import WALSYNC
from walsync.core.responses import UploadProcessed
from walsync.projections import carried

from fakes import Harness

_DAY = 86_400


def _offline_past_the_horizon(path: Path, waiting: int) -> Harness:
    """`waiting` recordings made 40 days ago and never uploaded, one recent; compacted at 30
    days (every waiting one is carried); the engine still open."""
    h = Harness(WALSYNC, store=SqliteStore(path))
    h.add(waiting)
    h.clock.advance(40 * _DAY)
    h.add(1)
    report = compact_log(path, older_than=days(30), now=h.clock.now())
    assert report.carried == waiting
    return h


def _carried_rows(path: Path) -> list[int]:
    with closing(sqlite3.connect(path)) as conn:
        return [n for (n,) in conn.execute(
            "SELECT length(data) FROM events WHERE type = 'StateCarried' ORDER BY seq")]


def test_a_cut_carrying_thousands_writes_parts_that_every_import_takes(tmp_path: Path) -> None:
    path = tmp_path / "log.db"
    h = _offline_past_the_horizon(path, 3_000)
    sizes = _carried_rows(path)
    assert len(sizes) == 3 and max(sizes) < _MAX_LINE // 2, sizes
    with closing(sqlite3.connect(path)) as conn:
        view = carried_state(conn)
    assert view is not None and len(view.wals) == 3_000 and view.parts == 1
    assert_same_projections(live_fold(path), fold_of(whole_history(path)), archived_ids(path))
    h.backend.answer_uploads(UploadProcessed())
    h.engine.sync_all()  # the carried recordings move on from the versions carried
    h.store.close()
    SqliteStore(path).close()
    assert verify_full(path).ok
    runner = CliRunner()
    shared = tmp_path / "shared.jsonl.gz"
    assert runner.invoke(cli, ["export", "--db", str(path), "--out", str(shared),
                               "--no-redact"]).exit_code == 0
    for source, into in ((shared, "from-export.db"), (path, "from-db.db")):
        done = runner.invoke(cli, ["import", str(source), "--into", str(tmp_path / into)])
        assert done.exit_code == 0, done.output
        assert verify_full(tmp_path / into).ok
    status = [runner.invoke(cli, ["status", "--all", "--json", "--db", str(db)]).output
              for db in (path, tmp_path / "from-export.db")]
    assert status[0] == status[1]


def test_a_view_in_parts_is_carried_on_by_the_next_cut(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(carried, "CARRIED_PER_PART", 4)
    path = tmp_path / "log.db"
    h = _offline_past_the_horizon(path, 10)
    assert len(_carried_rows(path)) == 3
    h.clock.advance(20 * _DAY)
    h.add(1)
    compact_log(path, older_than=days(10), now=h.clock.now())  # the parts move into a segment
    assert len(_carried_rows(path)) == 3
    assert_same_projections(live_fold(path), fold_of(whole_history(path)), archived_ids(path))
    h.store.close()
    assert verify_full(path).ok


def test_a_part_missing_is_found_not_folded(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(carried, "CARRIED_PER_PART", 4)
    path = tmp_path / "log.db"
    _offline_past_the_horizon(path, 10).store.close()
    with closing(sqlite3.connect(path)) as conn:  # the middle part's data made the last one's
        conn.execute("UPDATE events SET data = replace(data, '\"part\":1', '\"part\":2') "
                     "WHERE type = 'StateCarried' AND json_extract(data, '$.part') = 1")
        conn.commit()
        with pytest.raises(ValueError, match="is not whole"):
            carried_state(conn)
    assert not verify_full(path).ok


@pytest.mark.parametrize("case", [t57.test_a_damaged_compacted_log_is_salvaged_after_its_anchors,
                                  t57.test_a_damaged_compacted_log_is_salvaged_before_its_anchors,
                                  t57.test_a_carried_recording_moves_and_the_log_opens_sound])
def test_the_retention_cases_hold_with_a_view_in_parts(
        case: object, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(carried, "CARRIED_PER_PART", 1)
    assert callable(case)
    case(tmp_path)
