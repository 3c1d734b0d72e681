"""T26: tampering with a copy of the log, against the head the server kept.

The per-attack tests live in tests/integration/test_verify.py (test_t26_*). Here: the head that
actually travels (X-Walsync-Log-Head on each request, from Engine.head_anchor) is what catches a
cut-off tail and a forged append with a recomputed chain; Hypothesis picks the attack and the
position, and verify must name the first bad seq (or, for the two attacks the chain alone cannot
see, pass without the anchor: the documented limit) and fail against the anchor.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from contextlib import closing
from pathlib import Path

import httpx
from hypothesis import given, settings
from hypothesis import strategies as st
from tier import record, scale

from walsync.adapters.engine import Engine
from walsync.adapters.http.client import HttpBackend
from walsync.adapters.store.readonly.verify import verify_log
from walsync.adapters.store.records import chain_hash, hex_of
from walsync.adapters.store.sqlite import SqliteStore
from walsync.core.policies import WALSYNC

from fakes import Harness, ids

_COLS = "event_id, stream, version, type, schema_version, at, data"
_HEX_COLS = f"{hex_of('event_id')}, stream, version, type, schema_version, at, data"  # as read


def _build(path: Path) -> list[str]:
    """A real log whose engine sent its head with every request; the heads the server saw."""
    heads: list[str] = []

    def server(request: httpx.Request) -> httpx.Response:
        heads.append(request.headers["x-walsync-log-head"])
        if request.method == "POST":
            return httpx.Response(202, json={"job_id": f"job-{len(heads)}", "status": "queued"})
        job = request.url.path.rsplit("/", 1)[1]
        return httpx.Response(200, json={"job_id": job, "status": "completed"})

    h = Harness(WALSYNC, store=SqliteStore(path))
    client = HttpBackend("https://api.example.test/", "T", transport=httpx.MockTransport(server))
    engine = Engine(h.store, client, clock=h.clock, files=h.files, policy=WALSYNC, new_id=ids(9))
    client.log_head = engine.head_anchor
    h.engine = engine
    h.add(4)
    engine.sync_all()
    engine.reconcile()
    h.add(2)
    engine.sync_all()
    engine.close()
    return heads


def _rehash_from(conn: sqlite3.Connection, start: int) -> None:
    prev = conn.execute(f"SELECT {hex_of('hash')} FROM events WHERE seq = ?",
                        [start - 1]).fetchone()[0]
    rows = conn.execute(f"SELECT seq, {_HEX_COLS}, commit_end FROM events WHERE seq >= ? ORDER BY seq",
                        [start]).fetchall()
    for seq, event_id, stream, version, type_name, schema_version, at, data, commit_end in rows:
        digest = chain_hash(prev, seq=seq, event_id=event_id, stream=stream, version=version,
                            type_name=type_name, schema_version=schema_version, at=at,
                            data=json.loads(data), commit_end=commit_end)
        conn.execute("UPDATE events SET prev_hash = ?, hash = ? WHERE seq = ?", [prev, digest, seq])
        prev = digest


def _attack(conn: sqlite3.Connection, attack: str, k: int, n: int) -> int | None:
    """Apply one attack at seq k; the first bad seq verify must report (None: chain-invisible)."""
    if attack == "flip":
        data = conn.execute("SELECT data FROM events WHERE seq = ?", [k]).fetchone()[0]
        conn.execute("UPDATE events SET data = ? WHERE seq = ?", [data.replace('"', '"~', 1), k])
        return k
    if attack == "type":
        conn.execute("UPDATE events SET type = 'UploadSynced' WHERE seq = ?", [k])
        return k
    if attack == "delete":
        conn.execute("DELETE FROM events WHERE seq = ?", [k])
        return k
    if attack == "renumber":
        conn.execute("UPDATE events SET seq = seq + 1000 WHERE seq = ?", [k])
        return k
    if attack == "truncate":
        # A cut inside a commit shows by itself: the last row left names a later commit end.
        inside = conn.execute("SELECT commit_end >= ? FROM events WHERE seq = ?", [k, k - 1]).fetchone()[0]
        conn.execute("DELETE FROM events WHERE seq >= ?", [k])
        return k if inside else None
    if attack == "forged_rewrite":
        conn.execute("UPDATE events SET data = replace(data, 'job-', 'jab-') WHERE seq >= ?", [k])
        conn.execute("UPDATE events SET at = '2030-01-01T00:00:00.000000Z' WHERE seq = ?", [k])
        _rehash_from(conn, k)
        return None
    # forged append: a copy of row k as a new last row (a commit of its own), with a correctly
    # recomputed hash
    conn.execute(f"INSERT INTO events (seq, {_COLS}, prev_hash, hash, commit_end) SELECT ?, 'forged', "
                 "stream, (SELECT max(version) + 1 FROM events AS e WHERE e.stream = events.stream), "
                 "type, schema_version, at, data, '', '', ? FROM events WHERE seq = ?",
                 [n + 1, n + 1, k])
    _rehash_from(conn, n + 1)
    return None


@settings(max_examples=scale(40, 400), deadline=None, print_blob=True)
@given(attack=st.sampled_from(["flip", "type", "delete", "renumber", "truncate", "forged_rewrite",
                                "forged_append"]),
       where=st.floats(0.1, 0.99))
def test_t26_any_attack_is_caught_at_its_seq_or_by_the_anchor_the_server_kept(
        tmp_path_factory: object, attack: str, where: float) -> None:
    base = _base(tmp_path_factory)
    copy = Path(str(base) + f".{attack}.{where}.db")
    shutil.copyfile(base, copy)
    with closing(sqlite3.connect(copy, isolation_level=None)) as conn:
        n = conn.execute("SELECT max(seq) FROM events").fetchone()[0]
        k = max(2, min(n, int(n * where)))
        expected = _attack(conn, attack, k, n)
    anchor = _HEADS[-1]
    anchor_seq = int(anchor.split(":")[0])
    plain = verify_log(copy)
    anchored = verify_log(copy, expect_head=anchor)
    copy.unlink()
    if expected is not None:
        assert not plain.ok and plain.first_bad_seq == expected, plain.problem
        assert not anchored.ok
    elif attack == "forged_append" or k > anchor_seq:
        # The documented limit: rows after the last head the server saw look like growth.
        assert plain.ok and anchored.ok
    else:
        assert plain.ok, "the chain alone cannot see a re-chained rewrite or a cut tail"
        assert not anchored.ok, f"{attack} at {k} passed against the anchored head"
    record("t26", "tamper attacks", 1, lost=0)


_HEADS: list[str] = []
_BASE: list[Path] = []


def _base(factory: object) -> Path:
    if not _BASE:
        path = factory.mktemp("t26") / "log.db"  # type: ignore[attr-defined]
        _HEADS.extend(_build(path))
        _BASE.append(path)
    return _BASE[0]


def test_t26_the_head_travels_with_every_request_and_matches_the_log(tmp_path: Path) -> None:
    heads = _build(tmp_path / "log.db")
    assert len(heads) >= 4
    seqs = [int(h.split(":")[0]) for h in heads]
    # The head advances between requests; polls sent together (a slice of the reconciler's
    # concurrent requests) go out at the same head.
    assert seqs == sorted(seqs) and len(set(seqs)) >= len(seqs) - 1, seqs
    for head in heads:
        assert verify_log(tmp_path / "log.db", expect_head=head).ok
