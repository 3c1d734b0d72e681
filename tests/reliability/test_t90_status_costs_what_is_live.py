"""T90: `status` at a year costs what is live, not the history: the recordings retention
archived are counted from the last cut's `StateCarried` (one row read), not by counting
`archived_wals`, which holds a row per recording ever archived (335k at a year)."""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from pathlib import Path

from click.testing import CliRunner
from compacted import DAY, aged_log, days

from walsync.adapters.cli.main import cli
from walsync.adapters.store.segments.archive_list import archived_total
from walsync.adapters.store.segments.compact import compact_log
from walsync.core.responses import UploadProcessed


def _status(path: Path) -> dict[str, object]:
    result = CliRunner().invoke(cli, ["status", "--db", str(path), "--json"])
    assert result.exit_code == 0, result.output
    data: dict[str, object] = json.loads(result.output)
    return data


def test_status_counts_the_archived_from_the_last_cut(tmp_path: Path) -> None:
    """`status` reads how many recordings retention archived from the last `StateCarried`
    (one row), not by counting the archived list (a row per recording ever archived before): the same
    number after two compactions."""
    h = aged_log(tmp_path / "log.db")
    compact_log(h.store.path, older_than=days(30), now=h.clock.now())  # type: ignore[attr-defined]
    h.clock.advance(20 * DAY)
    h.backend.answer_uploads(UploadProcessed())
    h.engine.sync_all()
    h.clock.advance(40 * DAY)
    h.add(1)
    compact_log(h.store.path, older_than=days(30), now=h.clock.now())  # type: ignore[attr-defined]
    path = h.store.path  # type: ignore[attr-defined]
    with closing(sqlite3.connect(path)) as conn:
        archived = archived_total(conn)
        assert conn.execute("SELECT count(*) FROM sealed_segments").fetchone()[0] == 2
    assert archived > 2 and _status(path)["archived"] == archived
    with closing(sqlite3.connect(path)) as conn, conn:  # the list is not what status reads
        conn.execute("DELETE FROM archived_chunks WHERE (segment, low) = "
                     "(SELECT segment, low FROM archived_chunks ORDER BY segment, low LIMIT 1)")
    assert _status(path)["archived"] == archived
