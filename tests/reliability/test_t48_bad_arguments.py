"""T48: every bad argument is one `Error:` line, never a traceback (the installed `walsync`).

The inputs below each gave a traceback (or, for `--backend 'not a url'`, a run that exited 0
with everything waiting) before they were checked up front: numbers SQLite cannot hold, times
that leave the years 1-9999 once in UTC, a URL httpx cannot parse, a token a header cannot
carry, and a relative `--out` the export could not turn into a file URI. Usage errors exit 2.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from walsync.core.responses import UploadJobAccepted

from fakes import synced_log

WALSYNC = str(Path(sys.executable).parent / "walsync")

BAD = {
    "log --from-seq huge": ["log", "--db", "log.db", "--from-seq", "99999999999999999999999"],
    "log --to-seq huge": ["log", "--db", "log.db", "--to-seq", "99999999999999999999999"],
    "timeline --seq 2**63": ["timeline", "w", "--db", "log.db", "--seq", str(2**63)],
    "status --at before year 1 in UTC": ["status", "--db", "log.db",
                                         "--at", "0001-01-01T00:00:00+14:00"],
    "log --until after year 9999 in UTC": ["log", "--db", "log.db",
                                           "--until", "9999-12-31T23:59:59-14:00"],
    "sync --backend with a broken IPv6 host": ["sync", "--db", "s.db", "--backend", "http://[::1",
                                               "--token", "t0k3n-long-enough", "--recordings", "recs",
                                               "--once"],
    "sync --token that is not ASCII": ["sync", "--db", "s.db", "--backend", "http://127.0.0.1:9/",
                                       "--token", "tökén", "--recordings", "recs", "--once"],
    "sync --backend 'not a url'": ["sync", "--db", "s.db", "--backend", "not a url",
                                   "--token", "t0k3n-long-enough", "--recordings", "recs", "--once"],
}


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    synced_log(tmp_path / "log.db", 2, UploadJobAccepted(job_id="job-1"))
    (tmp_path / "recs").mkdir()
    return tmp_path


def _run(folder: Path, args: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([WALSYNC, *args], cwd=folder, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("name", sorted(BAD))
def test_t48_a_bad_argument_is_one_error_line_and_exit_2(folder: Path, name: str) -> None:
    done = _run(folder, BAD[name])
    assert "Traceback" not in done.stderr, done.stderr
    assert done.returncode == 2, (done.returncode, done.stdout, done.stderr)
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), done.stderr
    assert done.stdout == ""
    assert not (folder / "s.db").exists(), "nothing may run before the arguments are checked"
    assert "tökén" not in done.stderr, "the token is never shown"


def test_t48_export_to_a_relative_out_path_works(folder: Path) -> None:
    done = _run(folder, ["export", "--db", "log.db", "--out", "x.jsonl"])
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    assert (folder / "x.jsonl").read_text(encoding="utf-8").startswith('{"walsync_export"')
    again = _run(folder, ["export", "--db", "log.db", "--out", "x.jsonl"])
    assert again.returncode == 1 and again.stderr.startswith("Error: ") and len(
        again.stderr.splitlines()) == 1
