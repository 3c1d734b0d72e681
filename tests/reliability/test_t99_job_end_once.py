"""T99 (job end once): a server job's end is stored once for all the recordings it holds.

On the real path (`walsync sync` of a folder against `serve-sim` on loopback) uploads go in
batches of three that share one server job. Its end was recorded once per member (`JobCompleted`
on each member's stream): 4 events per synced recording plus the run's three. Now the job's end
is one row on the job's stream (`job:<id>`) naming its members: each job id has exactly one end
row, and no reader of a recording lost it (every recording reads synced; `why`, `timeline`,
`log --wal` and the `wal_events` view show its end; `verify` passes). And retention: a
recording carried across a cut while it waited on its job, whose job's end is then its last
word, is archived by the next cut (it was neither archived nor carried: gone from `status`).
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import time
from collections import Counter
from contextlib import closing
from pathlib import Path

from compacted import DAY, archived_ids, days

from walsync.adapters.diagnosis.why import explain_wal, timeline
from walsync.adapters.store.segments.anchors import carried_state
from walsync.adapters.store.segments.compact import compact_log
from walsync.adapters.store.sqlite import SqliteStore
from walsync.core.policies import WALSYNC as POLICY
from walsync.core.responses import JobStatus, UploadJobAccepted

from fakes import Harness
from serve_sim import WALSYNC, serve_sim

TOKEN = "t99-token-0123456789"
N = 30  # ten batches of three


def _sync(folder: Path, db: Path, url: str, first: int, count: int) -> None:
    folder.mkdir(exist_ok=True)
    base = int(time.time()) - 86_400
    for i in range(first, first + count):
        (folder / f"audio_omi_opus_16000_1_fs160_{base + 60 * i}.bin").write_bytes(
            b"\x02\x00\x00\x00ok" * 60)
    done = subprocess.run([WALSYNC, "sync", "--db", str(db), "--backend", url, "--token", TOKEN,
                           "--recordings", str(folder), "--poll-seconds", "1"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr


def _cli(*args: str) -> str:
    return subprocess.run([WALSYNC, *args], capture_output=True, text=True, check=True).stdout


def test_t99_a_jobs_end_is_stored_once_for_its_members(tmp_path: Path) -> None:
    folder, db = tmp_path / "rec", tmp_path / "log.db"
    with serve_sim("--speed", "600") as url:
        _sync(folder, db, url, 0, N)
    with closing(sqlite3.connect(db)) as conn:
        rows = conn.execute("SELECT stream, type, data FROM events ORDER BY seq").fetchall()
        synced = conn.execute("SELECT wal_id FROM wal_rows WHERE state = 'synced'").fetchall()
        audit = conn.execute("SELECT wal_id, json_extract(data, '$.job_id') FROM wal_events "
                             "WHERE type = 'JobCompleted'").fetchall()
    types = Counter(t for _, t, _ in rows)
    accepted = {json.loads(d)["attempt_id"]: json.loads(d)["job_id"] for _, t, d in rows
                if t == "UploadAccepted"}
    ends = [(s, json.loads(d)) for s, t, d in rows if t in ("JobCompleted", "BatchJobCompleted")]
    assert len(synced) == N and len(set(accepted.values())) == N // 3, (len(synced), accepted)
    # One end per job (was one per member: 30 JobCompleted rows for 10 jobs), on the stream
    # of the request that made the job.
    assert len(ends) == len(accepted), f"{len(ends)} job-end rows for {len(accepted)} jobs: {types}"
    assert sorted((s, d["job_id"]) for s, d in ends) == sorted(
        (f"job:{attempt}", job) for attempt, job in accepted.items())
    assert sorted(w for _, d in ends for w in d["wal_ids"]) == sorted(w for (w,) in synced)
    per_recording = len(rows) / N
    assert per_recording < 4, f"{per_recording:.3f} events per synced recording: {dict(types)}"
    # The audit view shows each member its job's end.
    assert sorted(w for w, _ in audit) == sorted(w for (w,) in synced)
    # Every reader of one recording still finds its end.
    member = synced[0][0]
    assert f"Recording {member} is synced" in _cli("why", "--db", str(db), member)
    assert "uploaded -> synced" in _cli("timeline", "--db", str(db), member)
    own = [json.loads(line) for line in _cli("log", "--db", str(db), "--wal", member,
                                             "--json").splitlines()]
    assert [e["type"] for e in own][-1] == "JobCompleted", own
    # A restarted server counts its jobs from 1 again: the same job ids end once more, for
    # other recordings (the job's stream is its request's, not its id's).
    with serve_sim("--speed", "600") as url:
        _sync(folder, db, url, N, 6)
    with closing(sqlite3.connect(db)) as conn:
        again = conn.execute("SELECT count(*) FROM wal_rows WHERE state = 'synced'").fetchone()
        jobs = Counter(json.loads(d)["job_id"] for (d,) in conn.execute(
            "SELECT data FROM events WHERE type = 'BatchJobCompleted'"))
    assert again == (N + 6,) and jobs.most_common(1)[0][1] == 2, (again, jobs)
    verify = subprocess.run([WALSYNC, "verify", "--db", str(db), "--full"], capture_output=True,
                            text=True)
    assert verify.returncode == 0, verify.stdout + verify.stderr


def test_t99_a_recording_whose_last_word_is_its_jobs_end_is_archived_at_the_next_cut(
        tmp_path: Path) -> None:
    path = tmp_path / "log.db"
    h = Harness(POLICY, store=SqliteStore(path))
    pair = h.add(2)
    h.backend.answer_uploads(UploadJobAccepted(job_id="job-old"))
    h.engine.sync_all(only=pair)  # one batch, one job: they wait on it across the cut
    h.clock.advance(40 * DAY)
    h.backend.answer_job("job-old", JobStatus(job_id="job-old", status="completed"))
    h.engine.reconcile()  # the job's end, after the cut: their last word
    h.add(1)
    h.store.close()
    first = compact_log(path, older_than=days(30), now=h.clock.now())
    with closing(sqlite3.connect(path)) as conn:
        carried = carried_state(conn)
        ends = conn.execute("SELECT stream, data FROM events WHERE type = 'BatchJobCompleted'"
                            ).fetchall()
    assert carried is not None and first.segment is not None
    assert sorted(w["wal_id"] for w in carried.wals if w.get("job_id") == "job-old") == pair
    assert [json.loads(d)["wal_ids"] for _, d in ends] == [pair], ends
    assert not set(pair) & archived_ids(path)
    again = compact_log(path, older_than=days(0), now=h.clock.now() + days(1))
    assert again.segment is not None
    with closing(sqlite3.connect(path)) as conn:
        carried = carried_state(conn)
    assert carried is not None
    # Archived by the second cut (their job's end moved into that segment), not lost.
    assert set(pair) <= archived_ids(path), (pair, sorted(archived_ids(path)))
    assert not set(pair) & {w["wal_id"] for w in carried.wals}
    assert [explain_wal(path, w).state for w in pair] == ["synced", "synced"]
    assert [timeline(path, w)[-1].after for w in pair] == ["synced", "synced"]
