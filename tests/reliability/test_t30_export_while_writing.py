"""T30: exporting a shared log (backup API, adapters/store/share/export.py) while a writer bursts.

Every export passes integrity_check, is gapless, holds a prefix of the live log's events with
a sound hash chain, and its projection tables equal the replay of exactly those events: the
state the live engine had after that seq. A naive copy of the db file, by contrast, misses
every commit still in the -wal (why export never copies files).
"""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path

from storage_fixtures import check_sound, registered, stored_ids
from tier import record, scale

from walsync.adapters.store.share.export import export_log
from walsync.adapters.store.sqlite import SqliteStore

WRITER = Path(__file__).with_name("burst_writer.py")


def test_t30_exports_during_a_burst_are_consistent_prefixes(tmp_path: Path) -> None:
    path = tmp_path / "log.db"
    SqliteStore(path).close()
    count = scale(3_000, 50_000)
    writer = subprocess.Popen([sys.executable, str(WRITER), str(path), "e", str(count), "3"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    exports: list[Path] = []
    # On a loaded machine the writer process can take seconds to start: export only once its
    # burst is under way, so the exports overlap it instead of all finding an empty log.
    while writer.poll() is None and not _committed(path):
        time.sleep(0.01)
    while writer.poll() is None and len(exports) < scale(8, 100):
        out = tmp_path / f"export-{len(exports)}.db"
        export_log(path, out)
        exports.append(out)
        time.sleep(0.05)
    _, err = writer.communicate(timeout=300)
    assert writer.returncode == 0, err
    final = stored_ids(path)
    assert len(final) == count
    sizes = []
    for out in exports:
        ids = stored_ids(out)
        assert ids == final[: len(ids)], f"{out.name} is not a prefix of the live log"
        assert check_sound(out) == len(ids)  # integrity, gapless, chain, tables == replay
        sizes.append(len(ids))
    assert len(exports) >= 3 and len(set(sizes)) >= 2, f"exports did not overlap the burst: {sizes}"
    record("T30 export while writing", "exports taken during a burst", len(exports), 0)


def _committed(path: Path) -> int:
    """Events the writer has committed so far (read-only: the reader never writes)."""
    with closing(sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)) as conn:
        return int(conn.execute("SELECT count(*) FROM events").fetchone()[0])


def test_t30_naive_file_copy_misses_commits_that_are_still_in_the_wal(tmp_path: Path) -> None:
    path = tmp_path / "log.db"
    store = SqliteStore(path)
    store.append([registered("w", i) for i in range(10)])
    shutil.copy(path, tmp_path / "naive.db")  # what export must never do
    export_log(path, tmp_path / "export.db")
    store.close()
    assert len(stored_ids(tmp_path / "export.db")) == 10
    try:
        naive = len(stored_ids(tmp_path / "naive.db"))
    except sqlite3.OperationalError:  # even the schema was still in the -wal
        naive = 0
    assert naive < 10
