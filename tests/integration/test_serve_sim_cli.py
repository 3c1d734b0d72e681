"""`walsync serve-sim` as a real process on loopback, driven by `walsync sync` and httpx."""

from __future__ import annotations

import os
import struct
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from serve_sim import serve_sim

WALSYNC = [sys.executable, "-m", "walsync.adapters.cli.main"]


@pytest.fixture
def server() -> Iterator[str]:
    with serve_sim("--speed", "60") as url:
        yield url


def test_the_real_server_speaks_the_spec(server: str) -> None:
    stamp = int(time.time()) - 3600
    body = b"".join(struct.pack("<I", 2) + b"ok" for _ in range(60))
    with httpx.Client(base_url=server, headers={"Authorization": "Bearer t"}) as client:
        accepted = client.post("/v2/sync-local-files", files=[
            ("files", (f"audio_omi_opus_16000_1_fs160_{stamp}.bin", body,
                       "application/octet-stream"))])
        assert accepted.status_code == 202
        job = accepted.json()
        assert set(job) == {"job_id", "status", "total_files", "total_segments", "poll_after_ms"}
        assert (job["status"], job["total_files"], job["total_segments"]) == ("queued", 1, 0)
        polled = client.get(f"/v2/sync-local-files/{job['job_id']}")
        assert polled.status_code == 200 and polled.json()["job_id"] == job["job_id"]
        assert client.get("/v2/sync-local-files/nope").status_code == 404
        assert httpx.get(f"{server}v2/sync-local-files/x").status_code == 401


def test_walsync_sync_uploads_a_folder_to_it_and_never_shows_the_token(
        server: str, tmp_path: Path) -> None:
    recordings = tmp_path / "rec"
    recordings.mkdir()
    stamp = int(time.time()) - 7200
    for i in range(4):
        (recordings / f"audio_omi_opus_16000_1_fs160_{stamp + 60 * i}.bin").write_bytes(
            b"".join(struct.pack("<I", 2) + b"ok" for _ in range(60)))
    token = "tok-CANARY-cli-42"
    db = tmp_path / "sync.db"
    done = subprocess.run([*WALSYNC, "sync", "--db", str(db), "--backend", server, "--token",
                           token, "--recordings", str(recordings), "--poll-seconds", "0.5",
                           "--max-minutes", "1"], capture_output=True, text=True, timeout=90,
                          env={**os.environ})
    assert done.returncode == 0, done.stderr
    assert "finished: all_synced" in done.stdout
    assert token not in done.stdout + done.stderr
    for path in tmp_path.glob("sync.db*"):
        assert token.encode() not in path.read_bytes()
    status = subprocess.run([*WALSYNC, "status", "--db", str(db), "--state", "synced", "--json"],
                            capture_output=True, text=True, timeout=60, check=True)
    assert status.stdout.count('"display": "synced"') == 4
