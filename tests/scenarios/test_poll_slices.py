"""The reconciler as the app runs it: status polls in slices of 3 concurrent requests, answers
recorded in job-id order; and polls of a job not yet done counted, not recorded one by one:
they ride on the job's end."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from walsync.adapters.bootstrap import open_engine
from walsync.adapters.diagnosis.why import explain_wal
from walsync.adapters.http.client import HttpBackend
from walsync.adapters.sim.backend import STALE_GUARD_ERROR
from walsync.adapters.store.sqlite import SqliteStore
from walsync.core.events import JobFailed, JobPolled, JobPollsRepeated
from walsync.core.policies import REGISTERED, SEED, WALSYNC
from walsync.core.policy import Policy
from walsync.core.responses import JobStatus, JobStatusResult, UploadJobAccepted
from walsync.projections.job_polls import polls_sentence

from fakes import T0, Harness, ScriptedBackend


class SliceBackend(ScriptedBackend):
    """Answers a status poll only once `width` polls are in flight together (a sequential
    reconciler never gets there: the barrier times out), later job ids first."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.barrier = threading.Barrier(width, timeout=5)
        self.lock = threading.Lock()
        self.in_flight = self.most_in_flight = 0

    def job_status(self, job_id: str) -> JobStatusResult:
        with self.lock:
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
        self.barrier.wait()
        time.sleep(0.05 * (10 - int(job_id.rsplit("-", 1)[1])))  # the later the id, the sooner
        with self.lock:
            self.in_flight -= 1
        return JobStatus(job_id=job_id, status="completed", total_segments=4,
                         processed_segments=4)


def _uploaded(h: Harness, jobs: int) -> list[str]:
    """`jobs` recordings, each uploaded alone as job-1, job-2, ..."""
    made = h.add(jobs)
    for wal_id in made:
        h.engine.sync_wal(wal_id)
    return made


@pytest.mark.parametrize("policy", REGISTERED, ids=lambda p: p.name)
def test_polls_go_out_three_at_once_and_are_recorded_in_job_id_order(policy: Policy) -> None:
    """Spec section 8: "Fetch job statuses in slices of 3 concurrent requests". Whatever order
    the answers come back in, they are recorded by job id (replay stays deterministic)."""
    h = Harness(policy)
    h.engine.backend = backend = SliceBackend(width=3)
    _uploaded(h, 6)
    before = h.seq()
    report = h.engine.reconcile()
    assert report.jobs_polled == 6 and backend.most_in_flight == 3
    answered = [r.event.job_id for r in h.store.read(after=before)  # type: ignore[attr-defined]
                if r.type == "JobCompleted"]
    assert answered == [f"job-{n}" for n in range(1, 7)]


def test_a_slice_of_polls_sends_the_log_head_from_every_thread(tmp_path: Path) -> None:
    """The HTTP client reads the log head for every request, also on the worker threads of a
    slice (the store shares its connection under a lock)."""
    heads: list[str | None] = []
    lock = threading.Lock()

    def server(request: httpx.Request) -> httpx.Response:
        with lock:
            heads.append(request.headers.get("x-walsync-log-head"))
        if request.method == "POST":
            return httpx.Response(202, json={"job_id": f"job-{len(heads)}"})
        job = request.url.path.rsplit("/", 1)[1]
        return httpx.Response(200, json={"job_id": job, "status": "completed"})

    h = Harness(WALSYNC)
    engine = open_engine(tmp_path / "log.db",
                         backend=HttpBackend("https://api.example.test/", "token-of-the-test-1234",
                                             transport=httpx.MockTransport(server)),
                         files=h.files, clock=h.clock)
    h.store, h.engine = engine.store, engine
    _uploaded(h, 4)
    before = engine.head_anchor()
    engine.reconcile()  # job-1..3 at once, then job-4 alone
    assert len(heads) == 8 and all(heads)
    assert heads[4:7] == [before] * 3  # the slice went out at the head it stood at
    assert heads[7] != before and heads[7] is not None  # the slice's answers were recorded
    engine.close()


def test_queued_polls_are_counted_not_recorded_and_why_says_how_long(tmp_path: Path) -> None:
    """The app logs a breadcrumb on every poll; walsync records none of a job's polls until
    its end, which carries them (how many per answer, first and last time), so `why` can say
    "queued for 9 min (29 polls)" from the log alone."""
    path = tmp_path / "log.db"
    h = Harness(SEED, store=SqliteStore(path))
    [w] = _uploaded(h, 1)
    h.backend.answer_job("job-1", JobStatus(job_id="job-1", status="queued"))
    before = h.seq()
    for _ in range(29):  # a poll every 20 s: 0 s to 9 min 20 s
        h.engine.reconcile()
        h.clock.advance(20)
    assert h.types(after=before) == []  # counted, not recorded
    h.backend.job_answers["job-1"].clear()
    h.backend.answer_job("job-1", JobStatus(job_id="job-1", status="failed",
                                            error=STALE_GUARD_ERROR))
    h.engine.reconcile()  # at 9 min 40 s the stale guard has failed it
    assert h.types(after=before) == ["CooldownStarted", "JobFailed"]
    failed = next(r.event for r in h.store.read(after=before) if r.type == "JobFailed")
    assert isinstance(failed, JobFailed)
    [span] = failed.polls_before
    assert (span.server_status, span.polls, span.first_poll_at, span.last_poll_at) == (
        "queued", 29, T0, T0 + timedelta(seconds=560))
    report = explain_wal(path, w)
    assert report.job_polls is not None
    assert report.job_polls["polls"] == 30
    assert report.job_polls["by_status"]["queued"]["polls"] == 29
    assert "queued for 9 min 20 s (29 polls), then failed (1 poll)" in report.summary


def test_an_open_streak_is_recorded_when_the_engine_closes(tmp_path: Path) -> None:
    path = tmp_path / "log.db"
    h = Harness(WALSYNC, store=SqliteStore(path))
    _uploaded(h, 2)
    h.backend.answer_uploads(UploadJobAccepted(job_id="job-3"))
    for _ in range(5):
        h.engine.reconcile()
        h.clock.advance(30)
    h.engine.close()
    store = SqliteStore(path)
    summaries = [r.event for r in store.read() if isinstance(r.event, JobPollsRepeated)]
    polled = [r.event for r in store.read() if isinstance(r.event, JobPolled)]
    store.close()
    assert [(e.job_id, e.polls) for e in summaries] == [("job-1", 5), ("job-2", 5)]  # type: ignore[attr-defined]
    assert polled == []


def test_a_batch_job_polled_k_times_writes_its_members_ends_not_a_poll_per_member(
        tmp_path: Path) -> None:
    """Issue 17: a job of 3 recordings whose status moves on at each of 6 polls once wrote a
    `JobPolled` per member per poll (18 rows) and a summary per member; now the polls are
    counted and ride on the job's end, stored once for its members (`BatchJobCompleted`;
    one `JobCompleted` per member before): 1 row for the job, however long it took, and
    `why` still counts every poll for each recording."""
    path = tmp_path / "log.db"
    h = Harness(WALSYNC, store=SqliteStore(path))
    members = h.add(3)
    h.engine.sync_all()  # one batch of 3: job-1
    assert {h.engine.row(w).job_id for w in members} == {"job-1"}
    steps = [JobStatus(job_id="job-1", status="queued", total_segments=6)] + [
        JobStatus(job_id="job-1", status="processing", total_segments=6, processed_segments=n)
        for n in range(1, 6)]
    h.backend.answer_job("job-1", *steps, JobStatus(job_id="job-1", status="completed",
                                                    total_segments=6, successful_segments=6))
    before = h.seq()
    for _ in steps:
        h.engine.reconcile()
        h.clock.advance(20)
    assert h.types(after=before) == [], "the polls of a job not yet done are counted"
    h.engine.reconcile()
    assert h.types(after=before) == ["BatchJobCompleted"]
    for wal_id in members:
        report = explain_wal(path, wal_id)
        assert report.job_polls is not None and report.job_polls["polls"] == 7
        assert report.job_polls["by_status"]["processing"]["polls"] == 5
        assert "queued (1 poll), then processing for 1 min 20 s (5 polls), then completed" in (
            polls_sentence(report.job_polls))
