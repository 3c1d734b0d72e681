"""`walsync serve-sim` as a real process on loopback, for tests that drive the CLI against it."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["WALSYNC", "serve_sim"]

WALSYNC = str(Path(sys.executable).parent / "walsync")  # the command as installed


@contextmanager
def serve_sim(*args: str) -> Iterator[str]:
    """Start `walsync serve-sim --port 0 ARGS`; yield the URL it prints; stop it with Ctrl-C."""
    proc = subprocess.Popen([WALSYNC, "serve-sim", "--port", "0", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert "serving the simulated backend on http://127.0.0.1:" in line, (
            line + (proc.stderr.read() if proc.stderr else ""))
        yield line.rsplit(" ", 1)[1].strip()
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
