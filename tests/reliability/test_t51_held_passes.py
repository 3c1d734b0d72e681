"""T51: waiting costs O(1) events. A pass that finds uploads paused records one event, however
many recordings it held, under every policy that pauses; `why` still says, for each recording,
which pause held it, from when to when, and how many passes it held it for.

Before: one `UploadSkipped` per waiting recording plus the run's start and finish, so a pause
with 1,000 recordings waiting wrote 1,002 events per blocked pass.
"""

from __future__ import annotations

import pytest
from tier import record

from walsync.core.events import GateEvent, PolicyApplied, UploadsHeld, WalEvent
from walsync.core.policies import SEED, WALSYNC
from walsync.core.policy import Policy
from walsync.core.responses import UploadProcessed, UploadThrottled
from walsync.core.serde import format_time
from walsync.projections.why import WhyReport, explain

from fakes import Harness


def _paused(policy: Policy, waiting: int) -> tuple[Harness, list[str]]:
    """`waiting` recordings and a fair-use pause set by the first batch's 429."""
    h = Harness(policy)
    wals = h.add(waiting)
    h.backend.answer_uploads(UploadThrottled(retry_after_raw="1800"))
    h.engine.sync_all()
    assert h.engine.gate().gate.limited
    return h, wals


def _why(h: Harness, wal_id: str) -> WhyReport:
    """`why` over the whole log, as the CLI folds it."""
    rows = [(r.seq, r.event) for r in h.store.read()]
    own = [(s, e) for s, e in rows if isinstance(e, WalEvent) and e.wal_id == wal_id]
    gate = [(s, e) for s, e in rows if isinstance(e, GateEvent)]
    policies = [(s, e) for s, e in rows if isinstance(e, PolicyApplied)]
    held = [(s, e) for s, e in rows if isinstance(e, UploadsHeld)]
    return explain(wal_id, own, gate, policies, as_of=h.clock.now(), held_events=held)


@pytest.mark.parametrize("policy", [SEED, WALSYNC], ids=lambda p: p.name)
def test_t51_a_pause_with_1000_recordings_writes_one_event_per_blocked_pass(
        policy: Policy) -> None:
    h, wals = _paused(policy, 1000)
    passes = 20
    for _ in range(passes):
        h.clock.advance(20)
        before = h.seq()
        report = h.engine.sync_all()
        assert report.skipped == len(report.wal_ids) > 990
        written = list(h.store.read(after=before))
        assert [r.type for r in written] == ["UploadsHeld"], "more than one event per held pass"
        assert written[0].payload["count"] == report.skipped
    before = h.seq()
    assert h.engine.auto_sync(wals[-1]).skipped == 1
    [held] = list(h.store.read(after=before))
    assert held.type == "UploadsHeld" and held.payload["wal_ids"] == [wals[-1]]
    record("t51", "blocked passes of one event each, 1,000 recordings waiting", passes, lost=0)


def test_t51_why_names_the_pause_that_held_each_recording_and_for_how_many_passes() -> None:
    h, wals = _paused(WALSYNC, 6)
    for _ in range(3):
        h.clock.advance(60)
        h.engine.sync_all()
    late = h.add(1)[0]  # registered during the pause: held only by the passes after it
    h.clock.advance(60)
    h.engine.sync_all()
    waiting = _why(h, wals[0])
    [pause] = waiting.held_by
    gate = h.engine.gate().gate
    assert pause["reason"] == "rateLimit" and pause["passes"] == 4
    assert pause["until"] is not None and gate.until is not None
    assert pause["until"] == format_time(gate.until)
    assert pause["from"] is not None and pause["ended_at"] is None
    assert pause["first_held_at"] < pause["last_held_at"]
    assert "4 upload(s) of it were skipped since" in waiting.summary
    assert "UploadsHeld" in [c["type"] for c in waiting.causal_chain]
    [late_pause] = _why(h, late).held_by
    assert late_pause["passes"] == 1 and late_pause["seq"] == pause["seq"]

    # The pause ends, the recordings go out: the pause it was held by is still told, with its end.
    h.clock.advance(1900)
    h.backend.answer_uploads(*[UploadProcessed()] * 10)
    h.engine.tick()
    h.engine.sync_all()
    done = _why(h, wals[0])
    assert done.reason == "not_stalled"
    [ended] = done.held_by
    assert ended["passes"] == 4 and ended["ended_at"] is not None


def test_t51_a_pass_for_some_recordings_names_them_and_holds_no_other() -> None:
    h, wals = _paused(WALSYNC, 5)
    h.engine.sync_all(only={wals[1]})
    held = [r for r in h.store.read() if r.type == "UploadsHeld"]
    assert [r.payload["wal_ids"] for r in held] == [[wals[1]]]
    assert _why(h, wals[1]).held_by[0]["passes"] == 1
    assert _why(h, wals[2]).held_by == []
