"""Devices push their log tails to `walsync fleet serve` (two uvicorn workers, one PostgreSQL,
on loopback): each with its own token, only to its own log, a lost answer resent and landing
once, a resumed push sending only what is new; over-size and hostile bodies are refused and
change nothing; the fleet then answers what each device's own log answers."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import struct
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import closing
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from fleet_sim import per_device_answers
from log_edits import copy_log, count, prefix

from walsync.adapters.fleet.queries import fleet_stats, fleet_status, fleet_why
from walsync.adapters.fleet.store import connect
from walsync.adapters.push.client import PushRefused, push_log
from walsync.adapters.store.readonly.queries import read_log
from walsync.adapters.store.segments.compact import compact_log
from walsync.adapters.store.segments.travel import history_from
from walsync.adapters.store.share.export import COLUMNS
from walsync.core.serde import parse_time

from serve_sim import serve_sim

WALSYNC = [str(Path(sys.executable).parent / "walsync")]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def fleet_url(pg_dsn: str) -> Iterator[str]:
    port = _free_port()
    proc = subprocess.Popen([*WALSYNC, "fleet", "serve", "--db", pg_dsn, "--port", str(port),
                             "--workers", "2", "--max-body-mib", "1"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            time.sleep(0.1)
        yield url
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()


def _token(pg_dsn: str, device_id: str) -> str:
    done = subprocess.run([*WALSYNC, "fleet", "token", "create", "--db", pg_dsn, "--device",
                           device_id, "--json"], capture_output=True, text=True, timeout=60,
                          check=True)
    return str(json.loads(done.stdout)["token"])


class LoseAnAnswer(httpx.BaseTransport):
    """Sends every request for real; the answer to the `nth` POST is lost on the way back."""

    def __init__(self, nth: int) -> None:
        self.inner, self.nth, self.posts = httpx.HTTPTransport(), nth, 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        if request.method == "POST":
            self.posts += 1
            if self.posts == self.nth:
                response.read()  # the server answered (and committed); the client never hears
                raise httpx.ReadError("connection reset while reading the answer", request=request)
        return response


def _heads(pg_dsn: str) -> list[tuple[Any, ...]]:
    conn = connect(pg_dsn)
    try:
        return conn.execute("SELECT device_id, head_seq, head_hash FROM devices "
                            "ORDER BY device_id").fetchall()
    finally:
        conn.close()


def test_three_devices_push_and_the_fleet_answers_what_their_logs_answer(
        pg_dsn: str, fleet_url: str, fleet_logs: list[Path], tmp_path: Path) -> None:
    logs = fleet_logs[:3]
    tokens = {log.stem: _token(pg_dsn, log.stem) for log in logs}
    first, second, third = logs
    # The first device pushed when its log was shorter, then resumes: only the new rows go.
    early = prefix(first, tmp_path / "early.db", count(first) // 3)
    assert push_log(early, fleet_url, tokens[first.stem]).added == count(early)
    resumed = push_log(first, fleet_url, tokens[first.stem], batch_rows=100)
    assert (resumed.sent, resumed.added) == (count(first) - count(early),) * 2
    # The second device's second batch is committed but its answer is lost: sent again, it
    # is found held (not added twice), and the push goes on.
    lossy = LoseAnAnswer(nth=2)
    pushed = push_log(second, fleet_url, tokens[second.stem], batch_rows=30, transport=lossy,
                      sleep=lambda _: None)
    assert count(second) > 60 and lossy.posts >= 3
    assert pushed.already >= 30 and pushed.added + pushed.already == count(second)
    assert push_log(third, fleet_url, tokens[third.stem]).added == count(third)
    again = push_log(third, fleet_url, tokens[third.stem])
    assert (again.sent, again.added, again.head_seq) == (0, 0, count(third))
    assert [(d, n) for d, n, _ in _heads(pg_dsn)] == [(p.stem, count(p)) for p in logs]

    conn = connect(pg_dsn)
    try:
        expected = {p.stem: per_device_answers(p) for p in logs}
        status = fleet_status(conn, limit=100)
        displays: dict[str, int] = {}
        for answers in expected.values():
            for name, n in answers["displays"].items():
                displays[name] = displays.get(name, 0) + n
        assert {k: v["recordings"] for k, v in status["by_display"].items()} == displays
        stalls = fleet_why(conn, limit=10_000)
        assert {(s["device_id"], s["wal_id"]): s["why"] for s in stalls} == {
            (d, w): why for d, a in expected.items() for w, why in a["stalled"].items()}
        for device, answers in expected.items():
            hourly = fleet_stats(conn, device_id=device)["hours"]
            assert {(h["hour"], k): n for h in hourly for k, n in h.items()
                    if k != "hour" and n} == dict(answers["hourly"]), device
    finally:
        conn.close()


def _body(log: Path, *, upto: int | None = None) -> dict[str, Any]:
    rows = [{c: orjson.loads(r.data) if c == "data" else getattr(r, c) for c in COLUMNS}
            for r in read_log(log, to_seq=upto)]
    return {"rows": rows}


def test_a_token_writes_only_its_own_device_and_bad_bodies_change_nothing(
        pg_dsn: str, fleet_url: str, fleet_logs: list[Path], tmp_path: Path) -> None:
    mine, other = fleet_logs[0], fleet_logs[1]
    token = _token(pg_dsn, mine.stem)
    _token(pg_dsn, other.stem)
    push_log(prefix(mine, tmp_path / "half.db", count(mine) // 2), fleet_url, token)
    before = _heads(pg_dsn)
    auth = {"Authorization": f"Bearer {token}"}
    url = f"{fleet_url}/v1/devices/{{}}/events"
    with httpx.Client(timeout=30) as client:
        stolen = client.post(url.format(other.stem), json=_body(other, upto=20), headers=auth)
        assert stolen.status_code == 403 and other.stem in stolen.json()["error"]
        forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
        assert client.post(url.format(mine.stem), json=_body(mine, upto=5),
                           headers={"Authorization": f"Bearer {forged}"}).status_code == 401
        assert client.post(url.format(mine.stem), json=_body(mine, upto=5)).status_code == 401
        big = b'{"rows": [' + b" " * (2 << 20) + b"]}"
        assert client.post(url.format(mine.stem), content=big, headers=auth).status_code == 413
        body = _body(mine)
        tampered = json.loads(json.dumps(body))
        tampered["rows"][-1]["data"]["injected"] = True
        hostile = [b"{not json", b'{"rows": [NaN]}', b'{"rows": [], "rows": []}', b'{"rows": []}',
                   b'{"rows": [{"seq": "1"}]}', json.dumps(tampered).encode()]
        for content in hostile:
            refused = client.post(url.format(mine.stem), content=content, headers=auth)
            assert refused.status_code in (400, 409), (content[:40], refused.text)
        gap = {"rows": body["rows"][-1:]}
        gap["rows"][0]["seq"] += 5
        assert client.post(url.format(mine.stem), json=gap, headers=auth).status_code == 409
    assert _heads(pg_dsn) == before
    with pytest.raises(PushRefused, match="does not continue"):
        push_log(other, fleet_url, token)  # this device's token, another device's log
    assert _heads(pg_dsn) == before


@pytest.fixture
def backend() -> Iterator[str]:
    with serve_sim("--speed", "60") as url:
        yield url


def test_walsync_sync_pushes_its_log_to_the_fleet_after_each_pass(
        pg_dsn: str, fleet_url: str, backend: str, tmp_path: Path) -> None:
    recordings = tmp_path / "rec"
    recordings.mkdir()
    stamp = int(time.time()) - 7200
    for i in range(3):
        (recordings / f"audio_omi_opus_16000_1_fs160_{stamp + 60 * i}.bin").write_bytes(
            b"".join(struct.pack("<I", 2) + b"ok" for _ in range(60)))
    token = _token(pg_dsn, "phone-7")
    db = tmp_path / "phone.db"
    done = subprocess.run([*WALSYNC, "sync", "--db", str(db), "--backend", backend, "--token",
                           "backend-token", "--recordings", str(recordings), "--poll-seconds",
                           "0.5", "--max-minutes", "1", "--fleet", fleet_url],
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "WALSYNC_FLEET_TOKEN": token})
    assert done.returncode == 0, done.stderr
    assert "fleet push: " in done.stdout and "for device phone-7" in done.stdout
    assert token not in done.stdout + done.stderr
    [(device, head, _)] = _heads(pg_dsn)
    assert (device, head) == ("phone-7", count(db))  # the last pass pushed the whole log
    half = subprocess.run([*WALSYNC, "sync", "--db", str(db), "--backend", backend, "--token",
                           "t", "--recordings", str(recordings), "--fleet", fleet_url],
                          capture_output=True, text=True, timeout=60, env={**os.environ})
    assert half.returncode == 2 and "--fleet-token" in half.stderr


def _at_of(log: Path, seq: int) -> datetime:
    with closing(sqlite3.connect(log)) as conn:
        return parse_time(str(conn.execute("SELECT at FROM events WHERE seq = ?",
                                           (seq,)).fetchone()[0]))


def test_a_compacted_device_pushes_its_sealed_history_and_its_anchors(
        pg_dsn: str, fleet_url: str, fleet_logs: list[Path], tmp_path: Path) -> None:
    """Retention (on by default in `walsync sync`) moves a device's old history into segments
    beside its log: rows the fleet has not taken yet are read from them, and the anchors the
    compaction appended go as rows like any other. The fleet then holds the whole history."""
    source = fleet_logs[3]
    token = _token(pg_dsn, "phone-c")
    total = count(source)
    early = prefix(source, tmp_path / "early.db", total // 4)
    assert push_log(early, fleet_url, token).added == count(early)
    log = tmp_path / "phone.db"
    copy_log(source, log)
    # Sealed up to about two thirds (its recordings wait on jobs till late in the run): the
    # fleet's head lies inside the sealed history.
    report = compact_log(log, older_than=timedelta(days=30),
                         now=_at_of(log, total * 2 // 3) + timedelta(days=30))
    assert report.first_seq == 1 and count(early) < report.last_seq < total
    head = total + 2  # the SegmentSealed and StateCarried appended
    pushed = push_log(log, fleet_url, token, batch_rows=50)
    assert (pushed.added, pushed.head_seq) == (head - count(early), head)
    [(device, held, digest)] = _heads(pg_dsn)
    whole = list(history_from(log, 1))
    assert (device, held, digest) == ("phone-c", head, whole[-1].hash)
    assert [r.seq for r in whole] == list(range(1, head + 1))
    assert push_log(log, fleet_url, token).sent == 0  # resumed: nothing new
