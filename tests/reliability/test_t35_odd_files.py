"""T35: one odd file never blocks the folder. A timer that does not fit in 64 bits, a name that
does not parse, an empty file, an unreadable one: each is skipped and reported once per run (and
recorded once as `FileSkipped` when it names a recording), and every other recording syncs."""

from __future__ import annotations

import os
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest
from field_server import BODY, FieldServer, recordings, walsync

from walsync.adapters.bootstrap import open_engine
from walsync.adapters.recordings.files import MemoryFiles
from walsync.core.errors import InvalidId

from fakes import ScriptedBackend

HUGE = "audio_dev_opus_16000_1_fs160_99999999999999999999999999.bin"  # sorts before the others
EMPTY = "audio_omi_opus_16000_1_fs160_1600000000.bin"
UNREADABLE = "audio_omi_opus_16000_1_fs160_1600000600.bin"
NOT_A_NAME = "meeting notes.bin"


def _odd_folder(folder: Path) -> list[str]:
    good = recordings(folder, 3)
    (folder / HUGE).write_bytes(BODY)
    (folder / EMPTY).write_bytes(b"")
    (folder / NOT_A_NAME).write_bytes(BODY)
    if os.geteuid() == 0:  # root reads any file: a name whose reads fail (EIO) instead
        (folder / UNREADABLE).symlink_to("/proc/self/mem")
    else:
        (folder / UNREADABLE).write_bytes(BODY)
        (folder / UNREADABLE).chmod(0)
    return good


def _skipped_events(db: Path) -> list[tuple[str, str]]:
    with closing(sqlite3.connect(db)) as conn:
        return [(str(a), str(b)) for a, b in conn.execute(
            "SELECT json_extract(data, '$.file_name'), json_extract(data, '$.reason') "
            "FROM events WHERE type = 'FileSkipped' ORDER BY seq")]


def test_t35_odd_files_are_skipped_once_and_the_rest_syncs(tmp_path: Path) -> None:
    """Regression: the 64-bit overflow raised at registration on every run (a traceback), and
    no recording after it in the folder was ever registered."""
    good = _odd_folder(tmp_path / "rec")
    with FieldServer() as server:
        first = walsync("sync", "--db", "log.db", "--backend", server.url, "--token",
                        "tok-t35-0123456789abcdef", "--recordings", "rec", "--once",
                        cwd=tmp_path)
        assert first.returncode == 0 and "Traceback" not in first.stderr, first.stderr
        assert "registered 3 new recording(s)" in first.stdout
        for name, why in ((HUGE, "does not fit in 64 bits"), (EMPTY, "the file is empty"),
                          (UNREADABLE, "the file is unreadable"),
                          (NOT_A_NAME, "not a recording name")):
            lines = [line for line in first.stdout.splitlines() if line.startswith(f"skipped {name}")]
            assert len(lines) == 1 and why in lines[0], (name, first.stdout)
        assert server.posted() == dict.fromkeys(good, 1)
        assert _skipped_events(tmp_path / "log.db") == [(EMPTY, "empty"), (UNREADABLE, "unreadable")]

        second = walsync("sync", "--db", "log.db", "--backend", server.url, "--token",
                         "tok-t35-0123456789abcdef", "--recordings", "rec", "--once",
                         cwd=tmp_path)
        assert second.returncode == 0, second.stderr
        assert second.stdout.count("skipped ") == 4  # in this run's summary, once each
        assert len(_skipped_events(tmp_path / "log.db")) == 2  # the log is told once

        (tmp_path / "rec" / EMPTY).write_bytes(BODY)  # the recorder finished writing it
        third = walsync("sync", "--db", "log.db", "--backend", server.url, "--token",
                        "tok-t35-0123456789abcdef", "--recordings", "rec", "--once",
                        cwd=tmp_path)
        assert third.returncode == 0 and "registered 1 new recording(s)" in third.stdout
        assert server.posted() == dict.fromkeys([*good, EMPTY], 1)
    done = walsync("verify", "--db", "log.db", cwd=tmp_path)
    assert done.returncode == 0, done.stdout


@pytest.mark.parametrize("field", ["timer_start", "sample_rate", "frame_size", "channel"])
def test_t35_the_engine_refuses_numbers_the_log_cannot_store(tmp_path: Path, field: str) -> None:
    engine = open_engine(tmp_path / "log.db", backend=ScriptedBackend(), files=MemoryFiles())
    kwargs = {"timer_start": 1_700_000_000, field: 1 << 64}
    with pytest.raises(InvalidId, match=field):
        engine.register(**kwargs)  # type: ignore[arg-type]
    assert engine.rows() == []
    engine.close()
