"""T34: two (or three) `walsync sync` processes on one log and one folder. Each command decides
on a fresh view; `UploadStarted` is the uploader's claim on a recording until its request's
deadline, so another process leaves it alone, and no race reaches a user as an error. Each
file is posted once; a long run never blocks a short one for longer than one pass."""

from __future__ import annotations

import itertools
import subprocess
import threading
from pathlib import Path

from field_server import WALSYNC, FieldServer, Reply, Seen, recordings, synced, walsync
from storage_fixtures import check_sound
from tier import record, scale

TOKEN = "tok-t34-0123456789abcdef"


def _accepting() -> FieldServer:
    """202 with a job per upload; every job completes at its first poll."""
    jobs = itertools.count(1)
    lock = threading.Lock()

    def answer(seen: Seen) -> Reply:
        if seen.method == "POST":
            with lock:
                job = f"job-{next(jobs)}"
            return 202, {}, {"job_id": job}
        job = seen.path.rsplit("/", 1)[1]
        return 200, {}, {"job_id": job, "status": "completed", "total_segments": 1,
                         "successful_segments": 1, "result": {"new_memories": [job]}}
    return FieldServer(answer, delay=0.05)


def _sync(folder: Path, db: Path, url: str, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen([*WALSYNC, "sync", "--db", str(db), "--backend", url, "--token",
                             TOKEN, "--recordings", str(folder), "--poll-seconds", "0.2",
                             "--max-minutes", "1", *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_t34_three_processes_post_each_file_once(tmp_path: Path) -> None:
    """Regression: all but one process exited 1 with "trigger 'start_upload' is not allowed in
    state 'uploading'", and files were posted twice (a process opening the log settled the
    others' uploads in flight as interrupted, then sent them again)."""
    rounds = scale(2, 10)
    posted = 0
    for round_ in range(rounds):
        folder, db = tmp_path / f"rec{round_}", tmp_path / f"log{round_}.db"
        names = recordings(folder, 30, start=1_700_000_000 + round_)
        with _accepting() as server:
            procs = [_sync(folder, db, server.url) for _ in range(3)]
            outputs = [p.communicate(timeout=120) for p in procs]
        for proc, (out, err) in zip(procs, outputs, strict=True):
            assert proc.returncode == 0, err
            assert "Traceback" not in err and "not allowed" not in out + err, (out, err)
            assert "Error" not in err, err
        assert server.posted() == dict.fromkeys(names, 1), server.posted()
        status = walsync("status", "--db", str(db), "--state", "synced", "--json")
        assert status.stdout.count('"display": "synced"') == 30, status.stdout
        check_sound(db)
        posted += len(names)
    record("T34 three sync processes on one log", "files posted once each", posted, 0)


def test_t34_a_long_run_does_not_block_a_short_one(tmp_path: Path) -> None:
    """A long-running sync (a slow server) holds no lease on the log: `status` finishes while
    it is still going, and `sync --once` beside it takes its share of the uploads. The long
    run's first request is held until `status` has finished, so `status` reads the log while
    an upload is out (its rows "Syncing…"), however slowly the machine runs: the test used
    to look after the first request had arrived and, under load, `status` read the log in
    the moment between one batch's answer and the next batch's claim (1 of 30 runs)."""
    recordings(tmp_path / "rec", 60)  # 20 requests of 0.4 s: a long run
    db = tmp_path / "log.db"
    arrived, released = threading.Event(), threading.Event()
    lock = threading.Lock()

    def hold_the_first(seen: Seen) -> Reply:
        with lock:
            first = seen.method == "POST" and not arrived.is_set()
            arrived.set()
        if first:
            released.wait(60)
        return synced(seen)

    with FieldServer(hold_the_first, delay=0.4) as server:
        long_run = _sync(tmp_path / "rec", db, server.url)
        try:
            assert arrived.wait(60), "the long run sent no request"
            status = walsync("status", "--db", str(db))
            assert long_run.poll() is None, "the long run ended before status did"
            released.set()
            once = walsync("sync", "--db", str(db), "--backend", server.url, "--token", TOKEN,
                           "--recordings", str(tmp_path / "rec"), "--once")
        finally:
            released.set()
            _, err = long_run.communicate(timeout=120)
    assert once.returncode == 0 and status.returncode == 0, (once.stderr, status.stderr)
    assert "finished: once" in once.stdout and "Syncing" in status.stdout
    assert long_run.returncode == 0, err
    assert set(server.posted().values()) == {1} and len(server.posted()) == 60
