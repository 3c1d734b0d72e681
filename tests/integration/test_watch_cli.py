"""`walsync watch` as installed, against `walsync serve-sim` on loopback: recordings dropped in
while it runs are uploaded once each (a file still being written waits until complete), a 429
pause is waited out without writing anything while it lasts, and SIGTERM ends it with exit 0,
the request in flight recorded and a log that verifies. Time limits here guard against a hang;
none is a timing assertion."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import struct
import subprocess
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import pytest

from serve_sim import WALSYNC as INSTALLED
from serve_sim import serve_sim

GUARD = 60.0
TOKEN = "tok-watch-CANARY-0123456789"
BODY = b"".join(struct.pack("<I", 2) + b"ok" for _ in range(60))


@pytest.fixture
def server(request: pytest.FixtureRequest) -> Iterator[str]:
    with serve_sim("--speed", "60", *getattr(request, "param", ())) as url:
        yield url


def _watch(tmp_path: Path, url: str, *options: str) -> subprocess.Popen[str]:
    (tmp_path / "token").write_text(TOKEN + "\n")
    return subprocess.Popen(
        [INSTALLED, "watch", "--db", "sync.db", "--backend", url, "--token-file", "token",
         "--recordings", "rec", "--json", "--settle-seconds", "0.3", *options],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _lines_until(stream: IO[str], seen: list[dict[str, Any]],
                 done: Callable[[list[dict[str, Any]]], bool]) -> None:
    deadline = time.monotonic() + GUARD
    while not done(seen):
        assert time.monotonic() < deadline, f"never happened; saw {seen}"
        line = stream.readline()
        assert line, f"watch ended early; saw {seen}"
        seen.append(json.loads(line))


def _name(stamp: int) -> str:
    return f"audio_omi_opus_16000_1_fs160_{stamp}.bin"


def _events(db: Path) -> list[tuple[int, str, str, str]]:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        return list(conn.execute("SELECT seq, stream, type, at FROM events ORDER BY seq"))


def _stop(proc: subprocess.Popen[str]) -> tuple[str, str]:
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=GUARD)
    assert proc.returncode == 0, err
    return out, err


def _verified(tmp_path: Path) -> None:
    done = subprocess.run([INSTALLED, "verify", "--db", "sync.db"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=GUARD)
    assert done.returncode == 0 and done.stdout.startswith("ok:"), done.stdout + done.stderr


@pytest.mark.parametrize("server", [("--throttle-first", "1", "--retry-after", "2")],
                         indirect=True)
def test_watch_uploads_what_arrives_once_each_and_waits_out_a_pause(
        server: str, tmp_path: Path) -> None:
    (tmp_path / "rec").mkdir()
    stamp = int(time.time()) - 7200
    # seed: the pause ends at the server's Retry-After, without walsync's jittered resume
    watch = _watch(tmp_path, server, "--policy", "seed", "--settle-seconds", "1.5")
    assert watch.stdout is not None
    seen: list[dict[str, Any]] = []
    try:
        for i in range(2):
            (tmp_path / "rec" / _name(stamp + 60 * i)).write_bytes(BODY)
        # the first upload is answered 429: the gate closes for 2 s, then both go
        _lines_until(watch.stdout, seen, lambda s: sum(c.get("state") == "uploaded"
                                                       for c in s) == 2)
        # one written in five parts over a second, each pause shorter than the settle time
        slow = tmp_path / "rec" / _name(stamp + 120)
        with slow.open("wb") as file:
            for part in range(5):
                file.write(BODY[part * 72:(part + 1) * 72])
                file.flush()
                time.sleep(0.25)
        finished_at = datetime.now(UTC)
        # and one renamed into place
        (tmp_path / "rec" / "partial.tmp").write_bytes(BODY)
        (tmp_path / "rec" / "partial.tmp").rename(tmp_path / "rec" / _name(stamp + 180))
        _lines_until(watch.stdout, seen, lambda s: sum(c.get("state") == "uploaded"
                                                       for c in s) == 4)
    finally:
        out, err = _stop(watch)
    assert TOKEN not in out + err
    events = _events(tmp_path / "sync.db")
    kinds = Counter(kind for _, _, kind, _ in events)
    assert kinds["WalRegistered"] == 4 and kinds["UploadAccepted"] == 4, kinds
    assert kinds["UploadRateLimited"] >= 1 and kinds["CooldownStarted"] == 1, kinds
    # nothing is written while the pause lasts: the event after the pause's start is its end
    # (the gated skips a fixed poll would record are absent)
    assert kinds["UploadSkipped"] == 0, kinds
    started = next(seq for seq, _, kind, _ in events if kind == "CooldownStarted")
    after = [kind for seq, _, kind, _ in events if seq > started]
    assert after[:2] == ["SyncRunFinished", "CooldownExpired"], after[:4]
    # the slow file was registered only once complete
    slow_id = f"omi_{stamp + 120}"
    registered = next(at for _, stream, kind, at in events
                      if stream == f"wal:{slow_id}" and kind == "WalRegistered")
    assert datetime.fromisoformat(registered) >= finished_at, (
        registered, finished_at)
    _verified(tmp_path)


@pytest.mark.parametrize("server", [("--upload-delay", "30")], indirect=True)
def test_sigterm_stops_watch_with_exit_0_and_records_the_request_in_flight(
        server: str, tmp_path: Path) -> None:
    (tmp_path / "rec").mkdir()
    stamp = int(time.time()) - 7200
    watch = _watch(tmp_path, server, "--poll-seconds", "0.2")  # the fallback: no events
    assert watch.stdout is not None
    seen: list[dict[str, Any]] = []
    try:
        (tmp_path / "rec" / _name(stamp)).write_bytes(BODY)
        _lines_until(watch.stdout, seen, lambda s: any(c.get("state") == "syncing" for c in s))
    finally:
        out, err = _stop(watch)
    assert "stopped: 1 recording(s) registered" in err, err
    kinds = [kind for _, _, kind, _ in _events(tmp_path / "sync.db")]
    assert kinds.count("UploadStarted") == 1 and kinds.count("UploadOutcomeUnknown") == 1, kinds
    assert kinds.index("UploadOutcomeUnknown") > kinds.index("UploadStarted")
    last = [json.loads(line) for line in out.splitlines()]
    assert last[-1]["state"] == "waiting", last  # the recording goes out again next time
    _verified(tmp_path)


def test_watch_needs_exactly_one_token_source(tmp_path: Path) -> None:
    (tmp_path / "rec").mkdir()
    (tmp_path / "token").write_text(TOKEN)
    for extra in ([], ["--token", TOKEN, "--token-file", "token"]):
        done = subprocess.run([INSTALLED, "watch", "--db", "s.db", "--backend",
                               "http://127.0.0.1:9/", "--recordings", "rec", *extra],
                              cwd=tmp_path, capture_output=True, text=True, timeout=GUARD,
                              env={k: v for k, v in os.environ.items() if k != "WALSYNC_TOKEN"})
        assert done.returncode == 2, done.stderr
        assert "Error: give one of --token" in done.stderr
