"""docs/quickstart.md runs as written: its Python blocks, one after the other as one script, in a
fresh folder, against `walsync serve-sim` started as its step 2 says (on a free port)."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from serve_sim import WALSYNC, serve_sim
from sources import ROOT

PAGE = ROOT / "docs" / "quickstart.md"


@pytest.fixture
def backend() -> Iterator[str]:
    """The page's step 2, on a free port (the page's may be taken here)."""
    [command] = [line for line in re.findall(r"```sh\n(.*?)```", PAGE.read_text(encoding="utf-8"),
                                              flags=re.S) if "serve-sim" in line]
    args = command.split()[2:]
    del args[args.index("--port"):args.index("--port") + 2]
    with serve_sim(*args) as url:
        yield url


def test_the_quickstart_runs_as_written(backend: str, tmp_path: Path) -> None:
    blocks = re.findall(r"```python\n(.*?)```", PAGE.read_text(encoding="utf-8"), flags=re.S)
    assert len(blocks) >= 4
    done = subprocess.run([sys.executable, "-c", "\n".join(blocks)], cwd=tmp_path,
                          env={"WALSYNC_BACKEND": backend, "PATH": "/usr/bin:/bin"},
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.splitlines()
    assert re.fullmatch(r"omi_\d+ -> Waiting to sync", lines[0]), lines
    assert lines[1] == "after the upload: Uploaded · processing on Omi"
    assert lines[2] == "in the end: Conversation created · All recordings synced"
    assert lines[3].startswith("events: ") and "JobCompleted" in lines[3]
    assert lines[4].startswith("not_stalled - Recording omi_") and "is synced" in lines[4]
    assert lines[5:] and lines[-1].endswith("uploaded -> synced")
    wal_id = lines[0].split()[0]
    why = subprocess.run([WALSYNC, "why", wal_id, "--db", "sync.db"], cwd=tmp_path,
                         capture_output=True, text=True, timeout=60)
    assert why.returncode == 0 and why.stdout.startswith(f"{wal_id}: not_stalled")
