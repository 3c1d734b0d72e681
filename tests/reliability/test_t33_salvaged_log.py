"""T33: a damaged log never causes duplicate uploads. A folder is synced through the installed
`walsync sync` until every recording is synced, one byte of one event's `data` is changed, and
`walsync sync` runs twice more (after `walsync verify --full --repair` when the damage lies in
the range opening trusts): the damaged log is moved aside byte for byte, its verified prefix is
salvaged into a new log with a `LogSalvaged` event, and no recording the prefix or
the readable rest shows as sent is posted again (under walsync it waits for a manual Retry, and
`why` says its history was lost); a new recording still syncs."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest
from field_server import FieldServer, recordings, walsync

from walsync.adapters.bootstrap import open_engine
from walsync.adapters.store.readonly.verify import verify_log
from walsync.adapters.store.sqlite import SqliteStore

TOKEN = "tok-t33-0123456789abcdef"


def _sync(folder: Path, server: FieldServer, *more: str) -> str:
    done = walsync("sync", "--db", "log.db", "--backend", server.url, "--token", TOKEN,
                   "--recordings", "rec", "--once", *more, cwd=folder)
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr + done.stdout
    return done.stdout


def _damage_row(db: Path, type_name: str, nth: int) -> int:
    """Change one byte of the `data` of the nth event of this type; its seq."""
    with closing(sqlite3.connect(db)) as conn:
        seq, data = conn.execute("SELECT seq, data FROM events WHERE type = ? ORDER BY seq "
                                 "LIMIT 1 OFFSET ?", (type_name, nth)).fetchone()
        conn.execute("UPDATE events SET data = ? WHERE seq = ?",
                     (data.replace('"', "'", 1), seq))  # one byte, still the same length
        conn.commit()
    return int(seq)


def _types(db: Path) -> list[str]:
    with closing(sqlite3.connect(db)) as conn:
        return [str(t) for (t,) in conn.execute("SELECT type FROM events ORDER BY seq")]


def test_t33_a_damaged_log_is_salvaged_and_nothing_sent_goes_again(tmp_path: Path) -> None:
    """Regression: the damaged log was moved aside and an empty one made, so the next runs
    registered and uploaded every recording of the folder again."""
    first = recordings(tmp_path / "rec", 6)
    with FieldServer() as server:
        _sync(tmp_path, server)
        later = recordings(tmp_path / "rec", 3, start=1_800_000_000)
        _sync(tmp_path, server)
        assert server.posted() == dict.fromkeys(first + later, 1)
        db = tmp_path / "log.db"
        # The second batch's start: the prefix holds the first batch synced and the second
        # one registered; the rest (its upload, the later recordings) is only evidence.
        bad_seq = _damage_row(db, "UploadStarted", 3)
        damaged = hashlib.sha256(db.read_bytes()).hexdigest()
        # The row lies before the verified checkpoint (the second run's open verified it) and
        # before the tables' head: since issue 17 opening reads neither, so the damage is found
        # by `walsync verify --full` (or the check an app schedules), whose `--repair` salvages
        # the log the way start-up does (T53). A damaged row in the tail is salvaged at open:
        # test_t33_only_walsync_holds_a_recording_whose_history_was_lost.
        repaired = walsync("verify", "--db", "log.db", "--full", "--repair", cwd=tmp_path)
        assert repaired.returncode == 0, repaired.stdout + repaired.stderr
        assert "repaired: the damaged log was moved to" in repaired.stdout, repaired.stdout

        _sync(tmp_path, server)
        _sync(tmp_path, server)
        newest = recordings(tmp_path / "rec", 1, start=1_900_000_000)
        _sync(tmp_path, server)
        assert server.posted() == dict.fromkeys(first + later + newest, 1), (
            "a recording was posted again after the salvage")

    [moved] = [p for p in tmp_path.iterdir() if ".corrupt-" in p.name
               and not p.name.endswith(("-wal", "-shm"))]
    assert hashlib.sha256(moved.read_bytes()).hexdigest() == damaged
    assert verify_log(db).ok
    with closing(sqlite3.connect(db)) as conn:
        (data,) = conn.execute("SELECT data FROM events WHERE type = 'LogSalvaged'").fetchone()
    salvage = json.loads(data)
    with closing(sqlite3.connect(f"{moved.as_uri()}?mode=ro", uri=True)) as conn:
        held = sorted(str(w) for (w,) in conn.execute(
            "SELECT DISTINCT substr(stream, 5) FROM events WHERE type = 'UploadStarted' "
            "AND seq >= ?", (bad_seq,)))
    assert len(held) == 6  # a batch of the first run, and the second run's recordings
    assert salvage["first_bad_seq"] == bad_seq and salvage["kept"] == bad_seq - 1
    assert salvage["moved_to"] == str(moved) and salvage["dropped"] > 0
    assert sorted(salvage["held"]) == held

    why = walsync("why", held[0], "--db", "log.db", "--json", cwd=tmp_path)
    assert why.returncode == 0 and json.loads(why.stdout)["reason"] == "history_lost", why.stdout
    log = walsync("log", "--db", "log.db", cwd=tmp_path)
    assert "moved aside to" in log.stdout and "lost the history of their uploads" in log.stdout

    # A manual Retry sends it (the user's choice), and it is no longer held.
    with FieldServer() as retry_server:
        engine = open_engine(db, base_url=retry_server.url, token=TOKEN,
                             recordings_dir=tmp_path / "rec")
        try:
            engine.sync_wal(held[0])
            assert engine.row(held[0]).state == "synced"
            assert held[0] not in engine.store.projection.history_lost
        finally:
            engine.close()
        assert sum(retry_server.posted().values()) == 1


@pytest.mark.parametrize(("policy", "resent"), [("walsync", 0), ("seed", 1), ("legacy", 1)])
def test_t33_only_walsync_holds_a_recording_whose_history_was_lost(
        tmp_path: Path, policy: str, resent: int) -> None:
    """The app's rule sets keep the app's decisions: they send it again (docs/policies.md)."""
    names = recordings(tmp_path / "rec", 1)
    with FieldServer() as server:
        _sync(tmp_path, server, "--policy", policy)
        _damage_row(tmp_path / "log.db", "UploadStarted", 0)
        _sync(tmp_path, server, "--policy", policy)
        assert server.posted() == {names[0]: 1 + resent}


def test_t33_a_run_that_only_held_recordings_keep_waiting_ends_stalled(tmp_path: Path) -> None:
    """Without --once, `walsync sync` ends as `stalled` once only held recordings wait (they
    need a user), instead of polling them until its time budget."""
    names = recordings(tmp_path / "rec", 1)
    with FieldServer() as server:
        _sync(tmp_path, server)
        _damage_row(tmp_path / "log.db", "UploadStarted", 0)
        done = walsync("sync", "--db", "log.db", "--backend", server.url, "--token", TOKEN,
                       "--recordings", "rec", "--poll-seconds", "0.2", "--max-minutes", "1",
                       "--json", cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["finished_reason"] == "stalled"
        assert server.posted() == {names[0]: 1}


def test_t33_an_upload_in_flight_at_the_cut_is_held(tmp_path: Path) -> None:
    """The prefix ends with an upload started and its answer lost with the damage: held."""
    db = tmp_path / "log.db"
    names = recordings(tmp_path / "rec", 2)
    with FieldServer() as server:
        _sync(tmp_path, server)
        _damage_row(db, "UploadSynced", 0)  # the batch's first answer
        _sync(tmp_path, server)
        assert server.posted() == dict.fromkeys(names, 1)
    store = SqliteStore(db)
    try:
        assert store.salvaged is None  # opened sound: salvaged once, by the run before
        assert sorted(store.projection.history_lost) == sorted(
            f"omi_{n.removesuffix('.bin').split('_')[-1]}" for n in names)
    finally:
        store.close()
    assert _types(db).count("LogSalvaged") == 1
