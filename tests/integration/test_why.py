"""`why`: every reason code, its blocking seq, where its causal chain starts, and time travel."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import closing
from pathlib import Path

import pytest

from walsync.adapters.diagnosis.why import explain_all, explain_wal
from walsync.adapters.ports import StoredEvent
from walsync.adapters.store.readonly.unreadable import Unreadable
from walsync.adapters.store.sqlite import SqliteStore
from walsync.core.errors import UnknownWal
from walsync.core.policies import LEGACY, SEED, WALSYNC
from walsync.core.responses import (
    JobStatus,
    UploadError,
    UploadJobAccepted,
    UploadLost,
    UploadThrottled,
)
from walsync.projections.why import REASONS

from fakes import Harness

STALE = "Job timed out (background worker likely died)"


@pytest.fixture
def h(tmp_path: Path) -> Harness:
    return Harness(SEED, store=SqliteStore(tmp_path / "log.db"))


def why(h: Harness, wal: str, **cut: object):  # type: ignore[no-untyped-def]
    return explain_wal(h.store.path, wal, **cut)  # type: ignore[attr-defined, arg-type]


def seq_of(h: Harness, type_name: str, wal: str | None = None, last: bool = False) -> int:
    seqs = [r.seq for r in h.store.read() if r.type == type_name
            and (wal is None or r.stream == f"wal:{wal}")]
    return seqs[-1] if last else seqs[0]


def test_synced_is_not_stalled(h: Harness) -> None:
    [w] = h.add()
    h.backend.answer_job("job-1", JobStatus(job_id="job-1", status="completed"))
    h.engine.sync_all()
    h.engine.reconcile()
    r = why(h, w)
    assert (r.reason, r.stalled, r.blocked_by, r.causal_chain) == ("not_stalled", False, None, [])


def test_stale_guard_revert_names_job_error_segments_busy_budget_deadline_and_skips(
        h: Harness) -> None:
    [w] = h.add()
    h.engine.sync_all()
    h.clock.advance(601)
    h.backend.answer_job("job-1", JobStatus(job_id="job-1", status="failed", error=STALE))
    h.engine.reconcile()
    h.engine.sync_all()  # skipped: the gate is closed
    r = why(h, w)
    assert r.reason == "cooldown_backend_busy" and r.stalled
    assert r.blocked_by is not None and r.blocked_by["seq"] == seq_of(h, "CooldownStarted")
    assert r.causal_chain[0]["seq"] == seq_of(h, "CooldownStarted")
    assert [c["type"] for c in r.causal_chain] == ["CooldownStarted", "JobFailed",
                                                   "UploadsHeld"]
    for needle in ("job-1", STALE, "0 segments", "backend being busy", "retry count 0",
                   "Uploads are paused until", "1 upload(s) of it were skipped"):
        assert needle in r.summary, needle
    assert r.next_attempt_at == r.blocked_by["until"]
    assert r.last_failure is not None and r.last_failure["classification"] == "backend_busy"


def test_fair_use_cooldown_starts_at_the_429(h: Harness) -> None:
    [w] = h.add()
    h.backend.answer_uploads(UploadThrottled())
    h.engine.sync_all()
    r = why(h, w)
    assert r.reason == "cooldown_fair_use"
    assert r.blocked_by is not None and r.blocked_by["seq"] == seq_of(h, "CooldownStarted")
    assert r.causal_chain[0]["seq"] == seq_of(h, "UploadRateLimited")
    assert r.last_failure is not None and r.last_failure["http_status"] == 429


def test_a_skip_by_someone_elses_cooldown_chains_from_that_cooldown(h: Harness) -> None:
    a, b = h.add(2)
    h.backend.answer_uploads(UploadThrottled())
    h.engine.sync_wal(a)
    h.engine.sync_all()
    r = why(h, b)
    assert r.reason == "cooldown_fair_use"
    # No setback of its own: it waited from its registration, through that cooldown and the
    # pass it held.
    assert [c["type"] for c in r.causal_chain] == ["WalRegistered", "CooldownStarted",
                                                   "UploadsHeld"]
    assert r.causal_chain[2]["seq"] == seq_of(h, "UploadsHeld")
    assert r.held_by[0]["seq"] == seq_of(h, "CooldownStarted") and r.held_by[0]["passes"] == 1


def test_awaiting_server_job(h: Harness) -> None:
    [w] = h.add()
    h.engine.sync_all()
    r = why(h, w)
    assert r.reason == "awaiting_server_job"
    assert r.blocked_by == {"kind": "job", "job_id": "job-1",
                            "seq": seq_of(h, "UploadAccepted")}
    assert r.causal_chain[0]["seq"] == seq_of(h, "UploadAccepted")


def test_retry_budget_exhausted(tmp_path: Path) -> None:
    h = Harness(LEGACY, store=SqliteStore(tmp_path / "l.db"))
    [w] = h.add()
    for n in range(3):
        h.backend.answer_uploads(UploadJobAccepted(job_id=f"j{n}"))
        h.engine.sync_wal(w)
        h.backend.answer_job(f"j{n}", JobStatus(job_id=f"j{n}", status="failed", error=STALE))
        h.engine.reconcile()
    r = why(h, w)
    assert r.reason == "retry_budget_exhausted" and r.display == "failed"
    assert r.blocked_by is not None and r.blocked_by["seq"] == seq_of(h, "JobFailed", last=True)
    assert r.causal_chain[0]["seq"] == seq_of(h, "JobFailed")


def test_file_missing(h: Harness) -> None:
    [w] = h.add(with_file=False)
    h.engine.sync_all()
    r = why(h, w)
    assert r.reason == "file_missing"
    assert r.blocked_by is not None and r.blocked_by["seq"] == seq_of(h, "WalCorrupted")
    assert r.causal_chain[0]["seq"] == seq_of(h, "WalCorrupted")


def test_outcome_unknown_and_offline_and_waiting(tmp_path: Path) -> None:
    h = Harness(WALSYNC, store=SqliteStore(tmp_path / "w.db"))
    lost, offline, idle = h.add(3, conversation_id="c")
    h.backend.answer_uploads(UploadLost(detail="read timeout"))
    h.engine.auto_sync(lost)
    h.backend.answer_uploads(UploadError(kind="network", message="connection refused"))
    h.engine.auto_sync(offline)
    assert why(h, lost).reason == "outcome_unknown"
    assert why(h, lost).causal_chain[0]["seq"] == seq_of(h, "UploadOutcomeUnknown")
    r = why(h, offline)
    assert r.reason == "offline" and r.blocked_by is not None
    assert r.blocked_by["seq"] == seq_of(h, "UploadFailed")
    r = why(h, idle)
    assert r.reason == "waiting_for_trigger" and r.stalled
    assert r.causal_chain[0]["seq"] == seq_of(h, "WalRegistered", idle)


def test_every_reason_code_is_documented() -> None:
    docs = (Path(__file__).parents[2] / "docs" / "why.md").read_text(encoding="utf-8")
    for code in REASONS:
        assert f"`{code}`" in docs, code


def test_why_at_seq_equals_why_on_a_copy_cut_at_that_seq(h: Harness, tmp_path: Path) -> None:
    [w] = h.add()
    h.backend.answer_uploads(UploadThrottled(retry_after_raw="60"))
    h.engine.sync_all()
    h.clock.advance(61)
    h.engine.sync_all()
    h.backend.answer_job("job-1", JobStatus(job_id="job-1", status="completed"))
    h.engine.reconcile()
    top = h.seq()
    ends = dict(h.store.connection.execute("SELECT seq, commit_end FROM events"))  # type: ignore[attr-defined]
    for cut in range(2, top + 1):
        # A cut inside a commit stands for the end of that commit (no one saw less of it).
        copy = tmp_path / f"cut{cut}.db"
        with sqlite3.connect(copy) as conn:
            h.store.connection.backup(conn)  # type: ignore[attr-defined]
            conn.execute("DELETE FROM events WHERE seq > ?", (ends[cut],))
        try:
            on_copy = explain_wal(copy, w).to_json()
        except UnknownWal:
            with pytest.raises(UnknownWal):
                why(h, w, seq=cut)
            continue
        travelled = why(h, w, seq=cut).to_json()
        assert (travelled.pop("cut_note") is None) == (ends[cut] == cut)  # said when it moved
        assert on_copy.pop("cut_note") is None
        assert travelled == on_copy, cut


def test_why_all_lists_only_stalled_recordings(h: Harness) -> None:
    a, b = h.add(2)
    h.backend.answer_uploads(UploadJobAccepted(job_id="j"))
    h.engine.sync_wal(a)
    h.backend.answer_job("j", JobStatus(job_id="j", status="completed"))
    h.engine.reconcile()
    assert [(r.wal_id, r.reason) for r in explain_all(h.store.path)] == [  # type: ignore[attr-defined]
        (b, "waiting_for_trigger")]


def test_deleted_is_not_stalled(h: Harness) -> None:
    [w] = h.add()
    h.engine.delete(w)
    r = why(h, w)
    assert (r.reason, r.stalled, r.blocked_by, r.display) == ("deleted", False, None, None)


def test_an_upload_in_flight_is_in_progress(h: Harness) -> None:
    from walsync.adapters.ports import NewEvent
    from walsync.core.events import UploadStarted

    [w] = h.add()
    h.store.append([NewEvent(event_id="in-flight", event=UploadStarted(
        at=h.clock.now(), wal_id=w, attempt_id="a1", path="batch", batch=(w,)))])
    r = why(h, w)
    started = seq_of(h, "UploadStarted")
    assert (r.reason, r.stalled) == ("upload_in_progress", False)
    assert r.blocked_by == {"kind": "upload", "attempt_id": "a1", "seq": started}
    assert r.causal_chain[0]["seq"] == started


def test_why_all_at_the_head_reads_only_the_recordings_that_can_stall(
        h: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    """At the head, `why --all` asks the status rows which recordings can be stalled and reads
    only their streams (issue 17): a synced one is not read, and the answer is the fold's."""
    from walsync.adapters.diagnosis import why as diagnosis

    a, b, c = h.add(3)
    h.backend.answer_uploads(UploadJobAccepted(job_id="j"))
    h.engine.sync_wal(a)
    h.backend.answer_job("j", JobStatus(job_id="j", status="completed"))
    h.engine.reconcile()
    path = h.store.path  # type: ignore[attr-defined]
    folded = [r.to_json() for r in explain_all(path, seq=10**9)]  # a cut: every stream read
    asked: list[object] = []
    real = diagnosis.explanation_rows

    def spy(conn: sqlite3.Connection, seq: int, wal_id: object = None) -> object:
        asked.append(wal_id)
        return real(conn, seq, wal_id)  # type: ignore[arg-type]  # passed through

    monkeypatch.setattr(diagnosis, "explanation_rows", spy)
    assert [r.to_json() for r in explain_all(path)] == folded
    assert len(folded) == 2 and asked == [sorted([b, c])]


def test_why_all_at_the_head_reads_a_batch_of_recordings_at_a_time(
        h: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    """A year's stalled recordings held over a million events: `why --all` reads a batch of
    recordings' streams, explains them and lets them go before the next (3 GB read at once).
    The explanations, and their order, are those of the fold of every stream."""
    from walsync.adapters.diagnosis import why as diagnosis

    wals = h.add(150)
    h.backend.answer_uploads(*[UploadThrottled()] * 3)
    h.engine.sync_all()  # throttled: every recording waits on the pause
    path = h.store.path  # type: ignore[attr-defined]
    folded = [r.to_json() for r in explain_all(path, seq=10**9)]  # a cut: every stream read
    assert len(folded) == len(wals)
    asked: list[list[str]] = []
    real = diagnosis.explanation_rows

    def spy(conn: sqlite3.Connection, seq: int, wal_id: object = None) -> object:
        asked.append(list(wal_id))  # type: ignore[call-overload]  # a batch at the head
        return real(conn, seq, wal_id)  # type: ignore[arg-type]  # passed through

    monkeypatch.setattr(diagnosis, "explanation_rows", spy)
    reports = explain_all(path)
    first = next(reports)
    assert len(asked) == 1 and first.wal_id == wals[0]  # one batch read for the first answer
    assert [first.to_json(), *(r.to_json() for r in reports)] == folded
    assert [w for batch in asked for w in batch] == wals
    assert max(len(batch) for batch in asked) < len(wals)


class _Seen(Unreadable):
    """The rows `why` reads (every one passes through the collector)."""

    rows: list[StoredEvent]

    def known(self, rows: Iterable[StoredEvent]) -> Iterator[StoredEvent]:
        self.rows = list(rows)
        return super().known(self.rows)


def test_why_of_one_recording_reads_from_where_its_history_starts(h: Harness) -> None:
    """`why ID` costs what the recording's own history is, not the log's (issue 17): the held
    passes and gate events before its first event (earlier pauses, long over) are not read,
    and every recording's explanation is the one the rows of the whole log give."""
    from walsync.adapters.diagnosis.why import _explain_rows
    from walsync.adapters.store.readonly.queries import (
        connect_readonly,
        explanation_rows,
        recording_rows,
        resolve_cut,
    )

    early = h.add(3)
    h.backend.answer_uploads(UploadThrottled(retry_after_raw="600"))
    h.engine.sync_all()  # a pause, then passes it holds
    for _ in range(4):
        h.clock.advance(20)
        h.engine.sync_all()
    h.clock.advance(700)  # the pause is over
    h.backend.answer_uploads(*[UploadJobAccepted(job_id=f"j{n}") for n in range(4)])
    h.engine.sync_all()
    h.backend.answer_uploads(UploadThrottled(retry_after_raw="600"))
    [late] = h.add(1)
    h.engine.sync_all()  # a second pause, set after `late` came
    h.clock.advance(20)
    h.engine.sync_all()
    path = h.store.path  # type: ignore[attr-defined]
    head = h.seq()
    with closing(connect_readonly(path)) as conn:
        first = min(r.seq for r in h.store.read() if r.stream == f"wal:{late}")
        assert recording_rows(conn, head, late)
        assert [r for r in explanation_rows(conn, head, late)
                if r.seq < first and r.type == "UploadsHeld"], "the log has earlier held passes"
        cut = resolve_cut(conn)
        seen = _Seen()
        explain_wal(path, late, unreadable=seen)  # what the command reads
        assert seen.rows and not [r for r in seen.rows if r.seq < first
                                  and r.type == "UploadsHeld"]
        for wal in [*early, late]:  # the same answers as from every shared row of the log
            everything = list(explanation_rows(conn, head, wal))
            assert why(h, wal).to_json() == _explain_rows(wal, everything, cut).to_json()
