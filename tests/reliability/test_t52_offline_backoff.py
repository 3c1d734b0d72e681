"""T52: an hour offline costs a bounded number of events. With the backend unreachable (a
loopback port nobody listens on), a batch pass under `walsync` stops at the first batch that
finds no server and automatic uploads wait 30 s, doubled per such failure in a row, up to
15 minutes; the passes in between send nothing and write nothing. When the network is back,
uploads resume by the end of the backoff. Under `seed` every pass still sends every batch (the
new decision is walsync's).

Before: every pass wrote 2 events per waiting recording plus 2, 36,360 for 100 recordings in
an hour of 20 s passes.
"""

from __future__ import annotations

import random
import socket

from tier import record

from walsync.adapters.engine import Engine
from walsync.adapters.http.client import HttpBackend
from walsync.core.policies import SEED, WALSYNC
from walsync.core.policy import Policy
from walsync.core.responses import UploadError

from fakes import Harness, ids

PASS_SECONDS = 20


def _closed_port() -> int:
    """A loopback port with nothing listening (bound once, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _offline(policy: Policy, waiting: int) -> Harness:
    h = Harness(policy)
    h.add(waiting)
    h.engine = Engine(h.store, HttpBackend(f"http://127.0.0.1:{_closed_port()}", "T",
                                           connect_timeout=2.0),
                      clock=h.clock, files=h.files, policy=policy, new_id=ids(7),
                      rng=random.Random(7))
    return h


def test_t52_an_hour_offline_with_100_recordings_writes_fewer_than_100_events() -> None:
    h = _offline(WALSYNC, 100)
    before = h.seq()
    requests = 0
    for _ in range(3600 // PASS_SECONDS):
        h.clock.advance(PASS_SECONDS)
        report = h.engine.sync_all()
        h.engine.reconcile()
        if report.skipped_reason != "offline":
            requests += 1
            assert report.wal_ids and report.skipped == 0
    written = h.types(before)
    assert len(written) < 100, f"{len(written)} events in an hour offline"
    failed = [r for r in h.store.read(after=before) if r.type == "UploadFailed"]
    assert {r.payload["kind"] for r in failed} == {"network"}
    assert len(failed) == WALSYNC.batch_size * requests, "a pass went on after the first batch"
    assert 5 <= requests <= 10, requests  # 30 s doubling to 15 min: about 8 tries in an hour
    record("t52", "events in an hour offline, 100 recordings waiting", len(written), lost=0)


def test_t52_uploads_resume_by_the_end_of_the_backoff_when_the_network_is_back() -> None:
    h = _offline(WALSYNC, 10)
    for _ in range(3600 // PASS_SECONDS):
        h.clock.advance(PASS_SECONDS)
        h.engine.sync_all()
    h.engine = Engine(h.store, h.backend, clock=h.clock, files=h.files, policy=WALSYNC,
                      new_id=ids(8), rng=random.Random(8))  # the scripted server: online
    waited = 0
    while not h.backend.uploads:
        h.clock.advance(PASS_SECONDS)
        waited += PASS_SECONDS
        h.engine.sync_all()
        assert waited <= WALSYNC.offline_backoff_max_seconds + PASS_SECONDS
    assert all(h.row(w.wal_id).state != "miss" for w in h.engine.recordings())


def test_t52_a_capture_waits_too_and_a_manual_retry_goes_out() -> None:
    h = Harness(WALSYNC)
    wals = h.add(4)
    h.backend.answer_uploads(UploadError(kind="network", message="connection refused"))
    h.engine.sync_all()
    h.clock.advance(5)
    before = h.seq()
    report = h.engine.auto_sync(wals[0])
    assert (report.skipped, report.skipped_reason, h.seq()) == (1, "offline", before)
    uploads = len(h.backend.uploads)
    h.engine.sync_wal(wals[0])
    assert len(h.backend.uploads) == uploads + 1


def test_t52_seed_sends_every_batch_of_every_pass() -> None:
    h = Harness(SEED)
    h.add(10)
    h.backend.answer_uploads(*[UploadError(kind="network", message="refused")] * 8)
    before = h.seq()
    h.engine.sync_all()
    h.clock.advance(PASS_SECONDS)
    h.engine.sync_all()
    assert len(h.types(before)) == 2 * (2 * 10 + 2)
