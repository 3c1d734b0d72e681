"""T17 (job end once): a server job's end is stored once for all the recordings it holds.

On the real path (`walsync sync` of a folder against `serve-sim` on loopback) uploads go in
batches of three that share one server job. Its end was recorded once per member (`JobCompleted`
on each member's stream), 4 events per synced recording plus the run's three. Now the job's end
is one row on the job's stream (`job:<id>`) naming its members: each job id has exactly one end
row, and no recording's history lost it (every recording reads synced, its `why` and `timeline`
say so, `verify` passes).
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import time
from collections import Counter
from pathlib import Path

from serve_sim import WALSYNC, serve_sim

TOKEN = "t17-token-0123456789"
N = 30  # ten batches of three


def _sync(tmp_path: Path, url: str) -> Path:
    folder, db = tmp_path / "rec", tmp_path / "log.db"
    folder.mkdir()
    base = int(time.time()) - 86_400
    for i in range(N):
        (folder / f"audio_omi_opus_16000_1_fs160_{base + 60 * i}.bin").write_bytes(
            b"\x02\x00\x00\x00ok" * 60)
    done = subprocess.run([WALSYNC, "sync", "--db", str(db), "--backend", url, "--token", TOKEN,
                           "--recordings", str(folder), "--poll-seconds", "1"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return db


def test_t17_a_jobs_end_is_stored_once_for_its_members(tmp_path: Path) -> None:
    with serve_sim("--speed", "600") as url:
        db = _sync(tmp_path, url)
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT stream, type, data FROM events ORDER BY seq").fetchall()
        synced = conn.execute("SELECT wal_id FROM wal_rows WHERE state = 'synced'").fetchall()
    types = Counter(t for _, t, _ in rows)
    jobs = {json.loads(d)["job_id"] for _, t, d in rows if t == "UploadAccepted"}
    ends = [(s, json.loads(d)) for s, t, d in rows if t in ("JobCompleted", "BatchJobCompleted")]
    assert len(synced) == N and len(jobs) == N // 3, (len(synced), len(jobs))
    # One end per job (was one per member: 30 JobCompleted rows for 10 jobs).
    assert len(ends) == len(jobs), f"{len(ends)} job-end rows for {len(jobs)} jobs: {dict(types)}"
    assert {s for s, _ in ends} == {f"job:{j}" for j in jobs}
    assert sorted(w for _, d in ends for w in d["wal_ids"]) == sorted(w for (w,) in synced)
    per_recording = len(rows) / N
    assert per_recording < 4, f"{per_recording:.3f} events per synced recording: {dict(types)}"
    # Every reader of one recording still finds its end.
    member = synced[0][0]
    why = subprocess.run([WALSYNC, "why", "--db", str(db), member], capture_output=True,
                         text=True, check=True).stdout
    assert f"Recording {member} is synced" in why, why
    timeline = subprocess.run([WALSYNC, "timeline", "--db", str(db), member],
                              capture_output=True, text=True, check=True).stdout
    assert "uploaded -> synced" in timeline, timeline
    verify = subprocess.run([WALSYNC, "verify", "--db", str(db)], capture_output=True, text=True)
    assert verify.returncode == 0, verify.stdout + verify.stderr
