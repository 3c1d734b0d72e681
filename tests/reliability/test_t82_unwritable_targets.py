"""T82: a file a command would write where it cannot be written: in a folder that does not
exist, or in one this user may not write. Every command that writes a file (`export`,
`report --html`, `incidents --write` and `--logs`, `import --into`, `demo`, `simulate`) and the
ones that write a log (`sync`, `watch`) say so in one `Error:` line naming the file, exit 1,
and leave nothing behind; never a traceback."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from unprivileged import as_bound_user, read_only

from walsync.core.responses import UploadJobAccepted

from fakes import synced_log

SYNC = ("--backend", "http://127.0.0.1:9/", "--token", "t0k3n-long-enough", "--recordings", "recs")
WRITERS = {
    "export .jsonl": ("export", "--db", "log.db", "--out", "{to}/shared.jsonl"),
    "export .db": ("export", "--db", "log.db", "--out", "{to}/shared.db"),
    "report --html": ("report", "--db", "log.db", "--html", "{to}/report.html"),
    "incidents --write": ("incidents", "--write", "{to}/incidents.md"),
    "incidents --logs": ("incidents", "--logs", "{to}"),
    "import --into": ("import", "log.db", "--into", "{to}/copy.db"),
    "demo --db": ("demo", "--db", "{to}/demo.db"),
    "simulate --db": ("simulate", "--scenario", "backend_saturation", "--hours", "0.2",
                      "--db", "{to}/sim.db"),
    "sync --db": ("sync", "--db", "{to}/sync.db", *SYNC, "--once"),
    "watch --db": ("watch", "--db", "{to}/sync.db", *SYNC),
}


@pytest.fixture
def folder(tmp_path: Path) -> Iterator[Path]:
    synced_log(tmp_path / "log.db", 2, UploadJobAccepted(job_id="job-1"))
    (tmp_path / "recs").mkdir()
    (tmp_path / "locked").mkdir()
    read_only(tmp_path / "locked")
    yield tmp_path
    (tmp_path / "locked").chmod(0o755)


def _one_error_line(done: object, to: str) -> str | None:
    """What is wrong with the command's answer, or None."""
    stderr, code = getattr(done, "stderr", ""), getattr(done, "returncode", None)
    lines = [line for line in stderr.splitlines() if line.strip()]
    if "Traceback" in stderr:
        return f"a traceback: {stderr.strip().splitlines()[-1]}"
    if code != 1:
        return f"exit code {code}: {stderr.strip()[-200:]}"
    if not lines or not lines[-1].startswith("Error: ") or to not in lines[-1]:
        return f"no one Error: line naming {to}: {stderr.strip()[-200:]}"
    return None


@pytest.mark.parametrize("to", ["missing", "missing/deeper", "locked"])
def test_t82_a_file_that_cannot_be_written_is_one_error_line(folder: Path, to: str) -> None:
    """Regression: `export`, `report --html` and `incidents --write` printed a traceback
    (FileNotFoundError, PermissionError from mkdtemp); `demo`, `simulate`, `incidents --logs`,
    `sync` and `watch` said only "SQLite error SQLITE_CANTOPEN: unable to open database file"
    (or SQLITE_READONLY_DIRECTORY), naming no file."""
    failed = []
    for name, command in WRITERS.items():
        done = as_bound_user(*(a.format(to=to) for a in command), cwd=folder)
        wrong = _one_error_line(done, to)
        if wrong is not None:
            failed.append(f"{name}: {wrong}")
    assert not failed, "\n".join(failed)
    assert not (folder / "missing").exists()
    assert list((folder / "locked").iterdir()) == [], "nothing is left in the folder"
    assert sorted(p.name for p in folder.iterdir()) == ["locked", "log.db", "recs"]
