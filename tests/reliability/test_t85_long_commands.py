"""T85: the long commands a user starts and stops. `walsync sync` stopped by Ctrl-C (SIGINT)
or SIGTERM while its upload is out ends as `watch` does: the log closed, a line saying what
the log keeps and what to run next, exit code 0, never "Aborted!" or a traceback; the next run
goes on. `walsync simulate` with an hour count or a backlog no machine holds is a usage error
before anything runs (run here under a 2 GiB address-space limit, so that without the bound
the child fails on its own instead of filling the machine's memory)."""

from __future__ import annotations

import resource
import signal
import subprocess
import time
from pathlib import Path

import pytest
from field_server import WALSYNC, FieldServer, Reply, Seen, recordings, walsync

_LIMIT = 2 << 30


def _accepted(seen: Seen) -> Reply:
    if seen.method == "POST":
        return 202, {}, {"job_id": "job-1", "status": "queued"}
    return 200, {}, {"job_id": "job-1", "status": "completed", "conversation_id": "c-1"}


def _default_sigint() -> None:
    """The child takes Ctrl-C as a shell's child would (a test runner may ignore SIGINT)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_t85_sync_stopped_by_a_signal_closes_the_log_and_exits_0(
        tmp_path: Path, signum: signal.Signals) -> None:
    """Regression: Ctrl-C printed "Aborted!" and exited 1; SIGTERM killed the process (exit
    -15), the log left open with its -wal and -shm beside it."""
    recordings(tmp_path / "recs", 3)
    with FieldServer(_accepted, delay=8.0) as server:
        child = subprocess.Popen(
            [*WALSYNC, "sync", "--db", "s.db", "--backend", server.url, "--token",
             "t0k3n-long-enough", "--recordings", "recs"], cwd=tmp_path, text=True,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, preexec_fn=_default_sigint)
        try:
            deadline = time.monotonic() + 30
            while not server.uploads() and time.monotonic() < deadline:
                time.sleep(0.05)
            assert server.uploads(), "the upload never reached the server"
            child.send_signal(signum)
            stdout, stderr = child.communicate(timeout=30)
        finally:
            if child.poll() is None:
                child.kill()
                child.wait()
    said = stdout + stderr
    assert child.returncode == 0, (child.returncode, said)
    assert "Traceback" not in said and "Aborted!" not in said, said
    assert "stopped by a signal" in said and "walsync status --db s.db" in said, said
    assert not (tmp_path / "s.db-wal").exists() and not (tmp_path / "s.db-shm").exists(), \
        "the log was closed"
    check = walsync("verify", "--db", "s.db", cwd=tmp_path)
    assert check.returncode == 0 and check.stdout.startswith("ok:"), check.stdout
    rows = walsync("status", "--db", "s.db", "--json", cwd=tmp_path)
    assert rows.returncode == 0 and '"syncing"' in rows.stdout, rows.stdout


def _limited() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (_LIMIT, _LIMIT))


@pytest.mark.parametrize("option", [("--hours", "1e9"), ("--wals", "1000000000")])
def test_t85_a_simulation_no_machine_holds_is_a_usage_error(
        tmp_path: Path, option: tuple[str, str]) -> None:
    """Regression: `--hours 1e9` drew its events up front until the OOM killer ended it at
    24 GiB (here, with the limit: a MemoryError traceback)."""
    done = subprocess.run(
        [*WALSYNC, "simulate", "--scenario", "backend_saturation", *option, "--db", "s.db"],
        cwd=tmp_path, capture_output=True, text=True, timeout=180, preexec_fn=_limited,
        check=False)
    assert "Traceback" not in done.stderr, done.stderr[-300:]
    assert done.returncode == 2, (done.returncode, done.stderr[-300:])
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and option[0] in lines[0], lines
    assert not (tmp_path / "s.db").exists(), "nothing runs before the arguments are checked"
