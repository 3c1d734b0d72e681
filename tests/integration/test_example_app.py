"""examples/capture_uploader.py, the asyncio app that embeds `AsyncSyncService`, run as a
program against `walsync serve-sim` on loopback: every capture it hands over while it runs is
uploaded once, a 429 pause is waited out without an event written while it lasts, the card is
rendered as it changes, and it shuts down cleanly, on its own or on SIGTERM, with a log that
verifies. mypy --strict passes on it (it uses only the face). Time limits guard against a hang."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from serve_sim import WALSYNC, serve_sim
from sources import ROOT

EXAMPLE = ROOT / "examples" / "capture_uploader.py"
GUARD = 60.0


@pytest.fixture
def throttling_server() -> Iterator[str]:
    with serve_sim("--speed", "60", "--throttle-first", "1", "--retry-after", "2") as url:
        yield url


def _kinds(db: Path) -> list[str]:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        return [kind for (kind,) in conn.execute("SELECT type FROM events ORDER BY seq")]


def _app(server: str, tmp_path: Path, *options: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, str(EXAMPLE), "--backend", server, "--token",
                             "tok-example-0123456789", "--db", "sync.db", "--folder", "rec",
                             *options], cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _verified(tmp_path: Path) -> None:
    done = subprocess.run([WALSYNC, "verify", "--db", "sync.db"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=GUARD)
    assert done.returncode == 0 and done.stdout.startswith("ok:"), done.stdout + done.stderr


def test_the_example_app_uploads_each_capture_once_through_a_pause(
        throttling_server: str, tmp_path: Path) -> None:
    # seed: the pause ends at the server's Retry-After, without walsync's jittered resume
    app = _app(throttling_server, tmp_path, "--recordings", "4", "--every", "0.3",
               "--policy", "seed")
    out, err = app.communicate(timeout=GUARD)
    assert app.returncode == 0, err
    assert "card: Fair-use limit reached" in out, out  # the pause, rendered
    assert out.rstrip().endswith("stopped"), out
    kinds = _kinds(tmp_path / "sync.db")
    counted = Counter(kinds)
    assert counted["WalRegistered"] == 4 and counted["UploadAccepted"] == 4, counted
    assert counted["CooldownStarted"] == 1 and counted["UploadSkipped"] == 0, counted
    # while the pause lasts only the app's own captures are written (no skips, no requests)
    paused, resumed = kinds.index("CooldownStarted"), kinds.index("CooldownExpired")
    assert set(kinds[paused + 1:resumed]) <= {"SyncRunFinished", "WalRegistered"}, kinds
    assert kinds[paused + 1] == "SyncRunFinished", kinds
    _verified(tmp_path)


def test_sigterm_shuts_the_example_app_down_cleanly(throttling_server: str,
                                                    tmp_path: Path) -> None:
    app = _app(throttling_server, tmp_path, "--recordings", "50", "--every", "0.2")
    assert app.stdout is not None
    assert app.stdout.readline().startswith("card: ")  # running: the first change rendered
    app.send_signal(signal.SIGTERM)
    out, err = app.communicate(timeout=GUARD)
    assert app.returncode == 0, err
    assert out.rstrip().endswith("stopped"), out
    _verified(tmp_path)


@pytest.mark.slow
def test_mypy_strict_passes_on_the_example(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "mypy", "--strict", "--no-incremental",
                           "--cache-dir", str(tmp_path / "cache"), str(EXAMPLE)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
