"""T63: the change feed across processes. A reader hears every commit of a writer in another
process, in seq order, none missed, none twice, a commit never split; a reader engine's rows
catch up with what it hears."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from field_server import WALSYNC, recordings
from tier import scale

from walsync.adapters.bootstrap import open_engine
from walsync.adapters.diagnosis.why import projection_at
from walsync.adapters.ports import StoredEvent
from walsync.adapters.sim.backend import SimBackend
from walsync.adapters.sim.server import SimServer
from walsync.adapters.store.feed import ChangeFeed
from walsync.adapters.store.sqlite import SqliteStore

GUARD = 120.0  # a guard against a hang, not a timing assertion
WRITER = Path(__file__).with_name("burst_writer.py")


def _log(path: Path) -> list[StoredEvent]:
    store = SqliteStore(path)
    try:
        return list(store.read())
    finally:
        store.close()


def test_t63_a_feed_hears_a_burst_of_another_process_whole(tmp_path: Path) -> None:
    path = tmp_path / "log.db"
    SqliteStore(path).close()
    feed = ChangeFeed(path, after=0, interval=0.01)
    count = scale(3_000, 30_000)
    writer = subprocess.Popen([sys.executable, str(WRITER), str(path), "w", str(count), "3"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    heard: list[list[StoredEvent]] = []
    deadline = time.monotonic() + GUARD
    while True:
        batch = feed.wait(0.2)
        if batch:
            heard.append(batch)
        elif writer.poll() is not None:
            break  # the writer is done and nothing came for 0.2 s
        assert time.monotonic() < deadline, "the writer never finished"
    _, err = writer.communicate(timeout=GUARD)
    assert writer.returncode == 0, err
    heard.append(feed.poll())
    feed.close()
    stored = _log(path)
    seqs = [e.seq for batch in heard for e in batch]
    assert seqs == [e.seq for e in stored] == list(range(1, count + 1))
    assert [e.event_id for batch in heard for e in batch] == [e.event_id for e in stored]
    ends = {e.commit_end or e.seq for e in stored}
    assert all(batch[-1].seq in ends for batch in heard if batch), "a commit was split"
    assert len([b for b in heard if b]) > 1, "the feed heard the burst in one go: no overlap"


def test_t63_a_reader_engine_follows_walsync_sync_in_another_process(tmp_path: Path) -> None:
    started = time.time()
    server = SimServer(SimBackend(epoch=started), lambda: (time.time() - started) * 120).start()
    folder = tmp_path / "rec"
    recordings(folder, 9, start=int(started) - 86_400)
    db = tmp_path / "sync.db"
    reader = open_engine(db, base_url=server.url, token="reader-token", recordings_dir=folder)
    heard: list[Sequence[StoredEvent]] = []
    caught_up = threading.Event()
    head_then: list[int] = []

    def listener(batch: Sequence[StoredEvent]) -> None:
        heard.append(list(batch))
        if head_then and batch[-1].seq >= head_then[0]:
            caught_up.set()

    stop = reader.follow(listener, after=0, interval=0.02)
    try:
        done = subprocess.run([*WALSYNC, "sync", "--db", str(db), "--backend", server.url,
                               "--token", "writer-token", "--recordings", str(folder),
                               "--poll-seconds", "0.2", "--max-minutes", "1"],
                              capture_output=True, text=True, timeout=GUARD)
        assert done.returncode == 0, done.stderr
        head_then.append(reader.store.head()[0])
        if heard and heard[-1][-1].seq >= head_then[0]:
            caught_up.set()
        assert caught_up.wait(GUARD), "the reader never heard the writer's last commit"
    finally:
        stop()
        server.stop()
    stored = _log(db)
    seqs = [e.seq for batch in heard for e in batch]
    assert seqs == [e.seq for e in stored] == list(range(1, len(stored) + 1))
    assert "UploadAccepted" in {e.type for e in stored} and len(heard) > 1
    # The reader's own view caught up with the writer's commits it heard: its rows are the
    # log's, without it ever writing.
    view, _ = projection_at(db)
    assert reader.rows() == list(view.rows.values())
    assert len(reader.rows()) == 9 and {r.state for r in reader.rows()} <= {"uploaded", "synced"}
    reader.close()


def _read_lines(stream: Any, count: int) -> list[str]:
    """`count` lines from a child's stdout, guarded against a hang."""
    found: list[str] = []
    done = threading.Event()

    def read() -> None:
        while len(found) < count:
            line = stream.readline()
            if not line:
                break
            found.append(line)
        done.set()

    threading.Thread(target=read, daemon=True).start()
    assert done.wait(GUARD), f"only {len(found)} of {count} lines came"
    return found


def test_t63_log_follow_and_status_watch_print_another_process_s_commits(tmp_path: Path) -> None:
    """As installed: `log --follow --json` prints the history then every event a writer process
    commits, each once, in order; `status --watch --json` one status per commit; SIGTERM ends
    both with exit code 0."""
    path = tmp_path / "log.db"
    SqliteStore(path).close()
    first = subprocess.run([sys.executable, str(WRITER), str(path), "a", "5", "1"],
                           capture_output=True, text=True, timeout=GUARD)
    assert first.returncode == 0, first.stderr
    log = subprocess.Popen([*WALSYNC, "log", "--db", str(path), "--follow", "--json"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    watch = subprocess.Popen([*WALSYNC, "status", "--db", str(path), "--watch", "--json"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert len(_read_lines(log.stdout, 5)) == 5  # the history first
        [before] = _read_lines(watch.stdout, 1)
        assert json.loads(before)["as_of_seq"] == 5
        more = subprocess.run([sys.executable, str(WRITER), str(path), "b", "12", "4"],
                              capture_output=True, text=True, timeout=GUARD)
        assert more.returncode == 0, more.stderr
        followed = _read_lines(log.stdout, 12)
        statuses: list[dict[str, Any]] = []
        while not statuses or statuses[-1]["as_of_seq"] < 17:
            statuses += [json.loads(line) for line in _read_lines(watch.stdout, 1)]
    finally:
        for child in (log, watch):
            child.send_signal(signal.SIGTERM)
        codes = [child.wait(timeout=GUARD) for child in (log, watch)]
    assert codes == [0, 0], [c.stderr.read() for c in (log, watch) if c.stderr]
    assert [json.loads(line)["seq"] for line in followed] == list(range(6, 18))
    assert len(statuses[-1]["rows"]) == 17
    assert [s["as_of_seq"] for s in statuses] == sorted({s["as_of_seq"] for s in statuses})


def test_t63_follow_and_watch_refuse_what_cannot_be_a_stream(tmp_path: Path) -> None:
    path = tmp_path / "log.db"
    SqliteStore(path).close()
    for args in (["log", "--follow", "--reverse"], ["log", "--follow", "-o", "json"],
                 ["log", "--follow", "--to-seq", "3"], ["status", "--watch", "--seq", "1"],
                 ["status", "--watch", "-o", "csv"]):
        done = subprocess.run([*WALSYNC, args[0], "--db", str(path), *args[1:]],
                              capture_output=True, text=True, timeout=GUARD)
        assert done.returncode == 2 and done.stderr.count("Error:") == 1, (args, done.stderr)
