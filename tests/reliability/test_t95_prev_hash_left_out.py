"""T95: a row does not store the previous row's hash again. The log stores `prev_hash` as ''
when it is the hash of the row before it in the table (64 bytes a row: 11.6 MB of a month's
104.7 MB live log), and every read gives it back, so what a row says is unchanged: `verify`,
`log --json`, an export (its `.db` too), the segments a compaction seals. A log an earlier
walsync wrote (every prev_hash in full) reads and grows as before; a compaction's first live
row keeps its prev_hash in full, since the row before it leaves; a damaged hash is still found
at its own row."""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from pathlib import Path

from click.testing import CliRunner
from compacted import aged_log, days
from raw_log import chain, row_of, write_rows

from walsync.adapters.cli.main import cli
from walsync.adapters.ports import NewEvent
from walsync.adapters.store.readonly.verify import verify_log
from walsync.adapters.store.records import GENESIS_HASH, SELECT_ROWS
from walsync.adapters.store.segments.compact import compact_log
from walsync.adapters.store.share.export import export_log
from walsync.adapters.store.sqlite import SqliteStore
from walsync.core.events import WalRegistered
from walsync.core.serde import SCHEMA_VERSION, parse_time

from fakes import synced_log


def _stored(path: Path) -> list[tuple[int, str, str]]:
    """(seq, prev_hash, hash) as the file holds them."""
    with closing(sqlite3.connect(path)) as conn:
        return conn.execute("SELECT seq, prev_hash, hash FROM events ORDER BY seq").fetchall()


def _read(path: Path) -> list[tuple[int, str, str]]:
    """(seq, prev_hash, hash) as walsync reads them."""
    with closing(sqlite3.connect(path)) as conn:
        return [(r[0], r[8], r[9]) for r in conn.execute(SELECT_ROWS + " ORDER BY seq")]


def _chained(rows: list[tuple[int, str, str]], first_prev: str = GENESIS_HASH) -> bool:
    prev = first_prev
    for _, stored_prev, digest in rows:
        if stored_prev != prev:
            return False
        prev = digest
    return True


def test_only_the_first_row_stores_its_prev_hash_and_every_read_gives_it_back(
        tmp_path: Path) -> None:
    path = synced_log(tmp_path / "log.db")
    stored = _stored(path)
    assert len(stored) > 10
    assert stored[0][1] == GENESIS_HASH and {prev for _, prev, _ in stored[1:]} == {""}
    assert _chained(_read(path))
    assert verify_log(path).ok
    shown = CliRunner().invoke(cli, ["log", "--json", "--db", str(path)])
    assert shown.exit_code == 0, shown.output
    assert '"prev_hash": ""' not in shown.output and '"prev_hash":""' not in shown.output
    out = tmp_path / "out.jsonl"
    export_log(path, out)
    rows = [json.loads(line) for line in out.read_text().splitlines()[1:]]
    assert [(r["seq"], r["prev_hash"], r["hash"]) for r in rows] == _read(path)
    copy = tmp_path / "copy.db"
    export_log(path, copy)  # a .db export holds every prev_hash, as earlier logs did
    assert _stored(copy) == _read(path)


def test_a_log_an_earlier_walsync_wrote_reads_and_grows(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    events = [WalRegistered(at=parse_time(f"2026-05-20T00:0{i}:00.000000Z"), wal_id=f"omi_{i}",
                            timer_start=1779235200 + 60 * i, file_path=f"{i}.bin")
              for i in range(3)]
    write_rows(path, chain([{**row_of(e, event_id=f"old-{i}", version=1),
                             "schema_version": SCHEMA_VERSION} for i, e in enumerate(events)]))
    old = _stored(path)
    assert all(prev != "" for _, prev, _ in old)
    store = SqliteStore(path)
    store.append([NewEvent(event_id="new-1", event=WalRegistered(
        at=parse_time("2026-05-20T00:09:00.000000Z"), wal_id="omi_9", timer_start=1779235740,
        file_path="9.bin"))])
    store.close()
    now = _stored(path)
    assert now[:3] == old and now[3][1] == "" and _chained(_read(path))
    assert verify_log(path).ok


def test_the_first_live_row_after_a_compaction_keeps_its_prev_hash(tmp_path: Path) -> None:
    path = tmp_path / "log.db"
    h = aged_log(path)
    cut = compact_log(path, older_than=days(30), now=h.clock.now())
    h.store.close()
    first_live = _stored(path)[0]
    assert first_live[0] == cut.last_seq + 1 and first_live[1] != ""
    assert verify_log(path).ok


def test_a_damaged_hash_is_found_at_its_own_row(tmp_path: Path) -> None:
    path = synced_log(tmp_path / "log.db")
    seq = _stored(path)[5][0]
    with closing(sqlite3.connect(path)) as conn, conn:
        conn.execute("UPDATE events SET hash = ? WHERE seq = ?", ("f" * 64, seq))
    report = verify_log(path)
    assert not report.ok and report.first_bad_seq == seq
