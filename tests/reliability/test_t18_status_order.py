"""T18: duplicate and out-of-order status answers, and answers for attempts already settled.

Contract: job status never regresses (queued < processing < terminal), terminal is absorbing,
duplicates append nothing, and answers for a stale attempt or job are recorded as ignored
(`AnswerIgnored`, with a reason) but never change a recording. The polls before a job's end
ride on it (`polls_before`, one span per answer): a late or repeated answer counts into the
furthest one heard, so the recorded progress never goes back either.
"""

from __future__ import annotations

from hypothesis import example, given, settings
from hypothesis import strategies as st
from tier import record, scale

from walsync.core.events import JobCompleted, JobFailed, JobPolled, JobPollsRepeated, PollSpan
from walsync.core.policies import WALSYNC
from walsync.core.responses import JobStatus, UploadJobAccepted

from fakes import Harness

_RANK = {"queued": 0, "processing": 1, "completed": 2, "partial_failure": 2, "failed": 2}
_STATUSES = ["processing", "queued", "completed", "processing", "completed"]


def _status(job: str, status: str, processed: int = 0) -> JobStatus:
    return JobStatus(job_id=job, status=status, total_segments=4, processed_segments=processed)


def _uploaded(h: Harness) -> tuple[str, str]:
    [w] = h.add()
    h.backend.answer_uploads(UploadJobAccepted(job_id="job-1"))
    h.engine.sync_all()
    return w, "job-1"


def test_t18_scripted_sequence_never_regresses_and_terminal_absorbs() -> None:
    h = Harness(WALSYNC)
    w, job = _uploaded(h)
    h.backend.answer_job(job, *[_status(job, s) for s in _STATUSES])
    seen = []
    for _ in _STATUSES:
        h.engine.reconcile()
        seen.append(h.engine.row(w).state)
    assert seen == ["uploaded", "uploaded", "synced", "synced", "synced"]
    assert h.backend.polls == [job, job, job], "a synced recording is not polled again"
    assert not [r for r in h.store.read() if isinstance(r.event, JobPolled | JobPollsRepeated)]
    [completed] = [r.event for r in h.store.read() if isinstance(r.event, JobCompleted)]
    # The late 'queued' after 'processing' counts as a poll of the furthest answer heard.
    assert [(s.server_status, s.polls) for s in completed.polls_before] == [("processing", 2)]


def test_t18_a_duplicate_answer_appends_nothing() -> None:
    h = Harness(WALSYNC)
    _, job = _uploaded(h)
    h.backend.answer_job(job, _status(job, "processing", 1))
    h.engine.reconcile()
    head = h.seq()
    for _ in range(3):
        h.engine.reconcile()
    assert h.seq() == head
    h.backend.job_answers[job].clear()
    h.backend.answer_job(job, _status(job, "processing", 2), _status(job, "completed", 4))
    h.engine.reconcile()
    assert h.seq() == head, "progress is counted, not recorded on its own"
    h.engine.reconcile()
    # The end carries the polls before it: four of 'processing', the last at segment 2.
    assert h.types(after=head) == ["JobCompleted"]
    [completed] = [r.event for r in h.store.read(after=head)]
    assert isinstance(completed, JobCompleted)
    [span] = completed.polls_before
    assert (span.server_status, span.polls, span.processed_segments) == ("processing", 5, 2)


@settings(max_examples=scale(100, 1000), deadline=None, print_blob=True)
@given(st.lists(st.sampled_from(sorted(_RANK)), min_size=1, max_size=8),
       st.lists(st.integers(0, 4), min_size=8, max_size=8))
@example(["processing", "queued", "queued", "completed"], [2, 0, 0, 0, 0, 0, 0, 0])  # a late answer
def test_t18_any_order_of_answers_never_moves_a_recording_backwards(order: list[str],
                                                                    processed: list[int]) -> None:
    h = Harness(WALSYNC)
    w, job = _uploaded(h)
    h.backend.answer_job(job, *[_status(job, s, p) for s, p in zip(order, processed, strict=False)],
                         _status(job, order[-1], processed[len(order) - 1]))
    terminal_at = None
    for _ in range(len(order)):
        before = h.seq()
        h.engine.reconcile()
        state = h.engine.row(w).state
        if terminal_at is not None:
            assert h.seq() == before, "nothing is appended once the job is terminal"
            assert h.engine.row(w).state == terminal_at
        elif state != "uploaded":
            terminal_at = state
        assert not [r for r in h.store.read() if isinstance(r.event, JobPolled)]
    h.engine.close()  # the polls of a job still open are summarized as it closes
    spans: list[PollSpan] = [s for r in h.store.read() if isinstance(r.event, JobCompleted | JobFailed)
                             for s in r.event.polls_before]
    spans += [PollSpan(server_status=e.server_status or "", polls=e.polls,
                       first_poll_at=e.first_poll_at, last_poll_at=e.last_poll_at,
                       processed_segments=e.processed_segments) for r in h.store.read()
              for e in [r.event] if isinstance(e, JobPollsRepeated)]
    ranks = [(_RANK[s.server_status], s.processed_segments) for s in spans]
    assert ranks == sorted(set(ranks)), "recorded progress regressed or repeated"
    assert sum(s.polls for s in spans) == len(h.backend.polls) - (terminal_at is not None)
    record("t18", "out-of-order status answers", len(order), lost=0)


def test_t18_an_answer_for_a_job_the_recording_left_is_ignored_with_a_reason() -> None:
    """The poll of job-1 is out when another writer settles the recording: the late 'completed'
    must not sync it (the recording is on a new attempt) and is kept as an audit record."""
    h = Harness(WALSYNC)
    w, job = _uploaded(h)

    def late_answer(job_id: str) -> JobStatus:
        # Another writer saw the job vanish and reverted the recording meanwhile.
        from walsync.adapters.ports import NewEvent
        from walsync.core.events import JobNotFound
        h.store.append([NewEvent(event_id="other", event=JobNotFound(
            at=h.clock.now(), wal_id=w, job_id=job_id, http_status=404, retry_count=1,
            retry_count_bumped=True))], {f"wal:{w}": h.store.projection.wals[w].version})
        return _status(job_id, "completed")

    h.backend.job_status = late_answer  # type: ignore[method-assign]
    h.engine.reconcile()
    row = h.engine.row(w)
    assert row.state == "miss" and row.retry_count == 1
    ignored = [r.event for r in h.store.read() if r.type == "AnswerIgnored"]
    assert len(ignored) == 1 and ignored[0].job_id == job  # type: ignore[attr-defined]
    assert "miss" in ignored[0].reason  # type: ignore[attr-defined]
    assert not {"JobCompleted", "BatchJobCompleted"} & {r.type for r in h.store.read()}


def test_t18_an_upload_answer_for_a_settled_attempt_is_ignored() -> None:
    h = Harness(WALSYNC)
    [w] = h.add()

    def late_202(files: object, **kwargs: object) -> UploadJobAccepted:
        from walsync.adapters.ports import NewEvent
        from walsync.core.events import UploadOutcomeUnknown
        h.store.append([NewEvent(event_id="other", event=UploadOutcomeUnknown(
            at=h.clock.now(), wal_id=w, attempt_id=str(kwargs["idempotency_key"]),
            detail="another writer"))], {f"wal:{w}": h.store.projection.wals[w].version})
        return UploadJobAccepted(job_id="job-late")

    h.backend.upload = late_202  # type: ignore[method-assign,assignment]
    h.engine.sync_wal(w)
    assert h.engine.row(w).state == "miss" and h.engine.row(w).job_id is None
    assert [r.type for r in h.store.read()].count("AnswerIgnored") == 1
    assert "UploadAccepted" not in [r.type for r in h.store.read()]
