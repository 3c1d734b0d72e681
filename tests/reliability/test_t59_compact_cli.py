"""T59: `walsync compact` through the installed CLI, as a user runs it: a relative --db, text and
--json, a bad --older-than (one `Error:` line, exit 2, nothing done), nothing older than the
horizon (said, nothing written), then `status` showing the live rows and the archived count,
`verify` across the segment, `why` of an archived recording from its segment, and a second
run with the same horizon doing nothing."""

from __future__ import annotations

import json
from pathlib import Path

from compacted import aged_log, archived_ids, rows_of
from field_server import walsync

from walsync.core.serde import format_time


def test_compact_as_a_user_runs_it(tmp_path: Path) -> None:
    h = aged_log(tmp_path / "log.db")
    now = format_time(h.clock.now())
    h.store.close()
    rows = list(rows_of(tmp_path / "log.db"))

    bad = walsync("compact", "--db", "log.db", "--older-than", "30 days", cwd=tmp_path)
    assert bad.returncode == 2 and bad.stderr.startswith("Error: Invalid value for '--older-than'")
    assert len(bad.stderr.splitlines()) == 1 and list(rows_of(tmp_path / "log.db")) == rows

    early = walsync("compact", "--db", "log.db", "--older-than", "90d", "--now", now, cwd=tmp_path)
    assert early.returncode == 0 and early.stdout.startswith("nothing to compact"), early.stderr
    assert not list(tmp_path.glob("*.seg-*")) and list(rows_of(tmp_path / "log.db")) == rows

    done = walsync("compact", "--db", "log.db", "--now", now, "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["segment"] == "log.db.seg-000000000001-000000000028.jsonl.gz"
    assert (report["first_seq"], report["last_seq"], report["events"]) == (1, 28, 28)
    assert report["archived"] == 3 and report["log_bytes_after"] <= report["log_bytes_before"]
    assert (tmp_path / report["segment"]).stat().st_size == report["segment_bytes"]

    status = walsync("status", "--db", "log.db", cwd=tmp_path)
    assert status.returncode == 0 and "archived: 3 finished recording(s)" in status.stdout
    verify = walsync("verify", "--db", "log.db", cwd=tmp_path)
    assert verify.returncode == 0 and verify.stdout.startswith("ok:"), verify.stdout
    archived = sorted(archived_ids(tmp_path / "log.db"))[0]
    why = walsync("why", "--db", "log.db", archived, "--json", cwd=tmp_path)
    assert why.returncode == 0, why.stderr
    assert json.loads(why.stdout)["wal_id"] == archived
    again = walsync("compact", "--db", "log.db", "--now", now, cwd=tmp_path)  # run twice: no-op
    assert again.returncode == 0 and again.stdout.startswith("nothing to compact"), again.stdout
