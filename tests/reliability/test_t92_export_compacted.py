"""T92: `walsync export` of a compacted log writes its whole history: the rows its sealed
segments hold (each checked against its seal's digest), then the live rows, one chain from seq 1
in every format; the export imported into a new log verifies and answers `status --all`, `why`
and `timeline` as the compacted log does. A segment removed or altered: the export is refused
with one line saying so, and no file is written."""

from __future__ import annotations

import gzip
import json
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest
from compacted import archived_ids, whole_history
from shared_history import answers, compacted_device, run

from walsync.adapters.store.segments.travel import history_from


@pytest.fixture
def device(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The compacted `log.db` in the current folder (paths below are relative); its ids."""
    _, ids = compacted_device(tmp_path)
    monkeypatch.chdir(tmp_path)
    return ids


def _rows(export: str) -> list[dict[str, object]]:
    opener = gzip.open if export.endswith(".gz") else open
    with opener(export, "rb") as file:
        return [json.loads(line) for line in file.read().splitlines()[1:]]


def test_the_export_of_a_compacted_log_is_its_whole_history_from_seq_1(device: list[str]) -> None:
    whole = list(history_from(Path("log.db"), 1))
    assert [r.seq for r in whole] == list(range(1, len(whole) + 1))
    with closing(sqlite3.connect("log.db")) as conn:
        first_live = int(conn.execute("SELECT min(seq) FROM events").fetchone()[0])
    assert first_live > 21  # two segments lie before the live log
    for out in ("out.jsonl", "out.jsonl.gz", "out.db"):
        said = run("export", "--db", "log.db", "--out", out, "--no-redact")
        assert f"exported {len(whole)} events to {out}" in said
        assert f"head {whole[-1].seq}:{whole[-1].hash}" in said
    for out in ("out.jsonl", "out.jsonl.gz"):
        rows = _rows(out)
        assert [(r["seq"], r["hash"], r["prev_hash"]) for r in rows] == [
            (r.seq, r.hash, r.prev_hash) for r in whole]
        assert {"SegmentSealed", "StateCarried"} <= {r["type"] for r in rows}
    with closing(sqlite3.connect("out.db")) as conn:
        assert conn.execute("SELECT seq, hash FROM events ORDER BY seq").fetchall() == [
            (r.seq, r.hash) for r in whole]
        assert conn.execute("SELECT count(*) FROM sealed_segments").fetchone() == (0,)
    assert run("verify", "--full", "--db", "out.db").startswith(f"ok: {len(whole)} events")
    redacted = run("export", "--db", "log.db", "--out", "shared.jsonl")  # redacted: re-chained
    assert f"exported {len(whole)} events" in redacted and "redacted: " in redacted
    assert not any(w in Path("shared.jsonl").read_text() for w in device)  # the segments' too


def test_its_import_verifies_and_answers_as_the_compacted_log(device: list[str]) -> None:
    before = answers("--db", "log.db", ids=device)
    shown = {row["wal_id"] for row in before["status"]["rows"]}
    assert shown & archived_ids(Path("log.db"))  # --all: the archived ones too
    run("export", "--db", "log.db", "--out", "out.jsonl.gz", "--no-redact")
    run("import", "out.jsonl.gz", "--into", "mine.db")
    assert run("verify", "--full", "--db", "mine.db").startswith("ok: ")
    assert answers("--db", "mine.db", ids=device) == before
    with closing(sqlite3.connect("mine.db")) as conn:  # a log whole from seq 1: nothing archived
        assert conn.execute("SELECT min(seq) FROM events").fetchone() == (1,)
        assert len(whole_history(Path("mine.db"))) == len(whole_history(Path("log.db")))


def test_a_removed_or_altered_segment_refuses_the_export(device: list[str]) -> None:
    first, second = sorted(Path().glob("log.db.seg-*.jsonl.gz"))
    kept = second.read_bytes()
    second.write_bytes(kept[:-9] + bytes([kept[-9] ^ 1]) + kept[-8:])
    said = run("export", "--db", "log.db", "--out", "out.jsonl", code=1)
    assert said.startswith(f"Error: The segment {second.name} was altered: its sha256 is ")
    assert len(said.splitlines()) == 1
    second.write_bytes(kept)
    first.unlink()
    said = run("export", "--db", "log.db", "--out", "out.db", code=1)
    assert said.startswith("Error: history before seq 21 was removed by retention on 2026-06-29")
    assert len(said.splitlines()) == 1
    assert not Path("out.jsonl").exists() and not Path("out.db").exists()
    left = sorted(p.name for p in Path().iterdir() if not p.name.startswith("log.db-"))
    assert left == ["log.db", second.name]  # no leftovers (beside the log's -wal and -shm)
