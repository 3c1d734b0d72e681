"""The cooldown gate's arithmetic (spec section 5; docs/design.md, The gate)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from walsync.core.events import (
    CooldownCleared,
    CooldownStarted,
    UploadsResumed,
    WalDeleted,
)
from walsync.core.gate import Gate, clear, evolve_gate, expire_if_due, mark, resume_due
from walsync.core.policies import LEGACY, REGISTERED, SEED, WALSYNC
from walsync.core.policy import Policy
from walsync.core.responses import JobStatus
from walsync.core.wal import Wal

from strategies import around, policies, utc_datetimes

T0 = datetime(2026, 5, 20, 8, 0, tzinfo=UTC)
S = timedelta(seconds=1)
US = timedelta(microseconds=1)


def marked(policy: Policy, *, at: datetime = T0, seconds: int | None = 3 * 3600,
           reason: str = "rateLimit", gate: Gate | None = None) -> tuple[CooldownStarted, Gate]:
    event = mark(gate or Gate(), now=at, reason=reason, requested_seconds=seconds,  # type: ignore[arg-type]
                 policy=policy)
    return event, evolve_gate(gate or Gate(), event)


def test_the_three_policies_default_to_the_spec_s_1800_s() -> None:
    assert {p.default_cooldown_seconds for p in (LEGACY, SEED, WALSYNC)} == {1800}


@pytest.mark.parametrize("policy", REGISTERED, ids=lambda p: p.name)
@pytest.mark.parametrize("requested", [None, 0, -1, -3600])
def test_absent_or_non_positive_request_takes_the_default(policy: Policy,
                                                          requested: int | None) -> None:
    event, gate = marked(policy, seconds=requested)
    default = policy.default_cooldown_seconds
    assert event.seconds == default
    assert event.requested_seconds == default
    assert event.default_applied is True
    assert event.until == T0 + default * S
    assert gate.until == T0 + default * S


@pytest.mark.parametrize(("requested", "expected"), [
    (1, 1), (600, 600), (86_399, 86_399), (86_400, 86_400), (86_401, 86_400), (10**15, 86_400),
])
def test_a_positive_request_is_taken_and_capped_at_24_h(requested: int, expected: int) -> None:
    event, _ = marked(SEED, seconds=requested)
    assert (event.seconds, event.default_applied) == (expected, False)
    assert event.until - T0 == expected * S


@pytest.mark.parametrize("policy", [SEED, WALSYNC], ids=lambda p: p.name)
def test_backend_busy_pauses_600_s_via_the_reconciler(policy: Policy) -> None:
    from walsync.core.decide_reconcile import job_outcome

    wal = Wal(wal_id="w1", status="uploaded", job_id="j1")
    events = job_outcome([wal], "j1", JobStatus(job_id="j1", status="failed", total_segments=0),
                         gate=Gate(), now=T0, policy=policy, file_exists={"w1": True})
    [started] = [e for e in events if isinstance(e, CooldownStarted)]
    assert (started.reason, started.seconds, started.until) == ("backendBusy", 600, T0 + 600 * S)
    assert started.cause_job_id == "j1"
    assert started.default_applied is False


def test_seed_overwrites_a_3_h_fair_use_pause_with_a_shorter_busy_mark() -> None:
    _, fair_use = marked(SEED, seconds=3 * 3600)
    later = T0 + 600 * S
    busy = mark(fair_use, now=later, reason="backendBusy", requested_seconds=600, policy=SEED)
    assert busy.merge_rule == "overwrite"
    assert (busy.reason, busy.until, busy.seconds) == ("backendBusy", later + 600 * S, 600)
    assert (busy.previous_reason, busy.previous_until) == ("rateLimit", T0 + 3 * 3600 * S)
    gate = evolve_gate(fair_use, busy)
    assert gate.reason == "backendBusy"
    assert gate.until < fair_use.until  # type: ignore[operator]
    assert not gate.blocks(later + 601 * S)  # the fair-use pause was cut short


def test_walsync_keeps_the_later_deadline_and_its_reason_and_records_both() -> None:
    _, fair_use = marked(WALSYNC, seconds=3 * 3600)
    later = T0 + 600 * S
    busy = mark(fair_use, now=later, reason="backendBusy", requested_seconds=600, policy=WALSYNC)
    assert busy.merge_rule == "keep_later"
    assert (busy.reason, busy.until) == ("rateLimit", T0 + 3 * 3600 * S)
    assert busy.seconds == 3 * 3600 - 600
    assert (busy.requested_reason, busy.requested_seconds) == ("backendBusy", 600)
    assert (busy.previous_reason, busy.previous_until) == ("rateLimit", T0 + 3 * 3600 * S)
    gate = evolve_gate(fair_use, busy)
    assert (gate.reason, gate.until) == ("rateLimit", T0 + 3 * 3600 * S)


def test_walsync_takes_a_new_deadline_when_it_is_the_later_one() -> None:
    _, busy = marked(WALSYNC, seconds=600, reason="backendBusy")
    event = mark(busy, now=T0 + 60 * S, reason="rateLimit", requested_seconds=7200, policy=WALSYNC)
    assert (event.reason, event.until) == ("rateLimit", T0 + 60 * S + 7200 * S)
    assert (event.previous_reason, event.previous_until) == ("backendBusy", T0 + 600 * S)


def test_an_expired_pause_is_not_merged_and_not_reported_as_previous() -> None:
    _, old = marked(WALSYNC, seconds=600)
    event = mark(old, now=T0 + 601 * S, reason="backendBusy", requested_seconds=60,
                 policy=WALSYNC)
    assert (event.reason, event.until) == ("backendBusy", T0 + 661 * S)
    assert (event.previous_reason, event.previous_until) == (None, None)


def test_mark_records_what_the_decision_was_made_from() -> None:
    event = mark(Gate(), now=T0, reason="rateLimit", requested_seconds=None, policy=SEED,
                 retry_after_raw="soon", cause_wal_id="w1", cause_job_id=None)
    assert (event.at, event.retry_after_raw, event.cause_wal_id) == (T0, "soon", "w1")
    assert (event.requested_reason, event.previous_until, event.previous_reason) == (
        "rateLimit", None, None)


def test_clear_only_when_limited() -> None:
    assert clear(Gate(), now=T0, wal_id="w1", http_status=200) is None
    assert clear(Gate(resume_at=T0), now=T0, wal_id="w1", http_status=202) is None
    _, gate = marked(SEED, seconds=600, reason="backendBusy")
    event = clear(gate, now=T0 + 60 * S, wal_id="w1", http_status=202)
    assert event == CooldownCleared(at=T0 + 60 * S, cause_wal_id="w1", http_status=202,
                                    previous_until=T0 + 600 * S, previous_reason="backendBusy")
    assert evolve_gate(gate, event) == Gate()


@pytest.mark.parametrize("policy", [SEED, WALSYNC], ids=lambda p: p.name)
def test_expire_if_due_is_silent_before_the_deadline_and_fires_at_and_after_it(
        policy: Policy) -> None:
    _, gate = marked(policy, seconds=600)
    deadline = T0 + 600 * S
    for now in (T0, T0 + 599 * S, deadline - US):
        assert expire_if_due(gate, now=now, policy=policy) is None
    for now in (deadline, deadline + 3600 * S):
        expired = expire_if_due(gate, now=now, policy=policy)
        assert expired is not None
        assert (expired.at, expired.reason, expired.deadline) == (now, "rateLimit", deadline)
        assert expired.clock_went_back is False


def test_expire_if_due_on_an_open_gate_is_none() -> None:
    assert expire_if_due(Gate(), now=T0, policy=WALSYNC) is None
    assert expire_if_due(Gate(resume_at=T0), now=T0 + 3600 * S, policy=WALSYNC) is None


def test_a_clock_gone_back_before_the_mark_expires_the_gate() -> None:
    _, gate = marked(WALSYNC, seconds=3600)
    assert not gate.blocks(T0 - S)
    expired = expire_if_due(gate, now=T0 - S, policy=WALSYNC)
    assert expired is not None
    assert expired.clock_went_back is True
    assert expired.deadline == T0 + 3600 * S


@given(jitter=st.floats(min_value=-1e6, max_value=1e6, allow_nan=False),
       late=st.integers(0, 10**6))
def test_resume_at_is_within_the_jitter_window_under_walsync(jitter: float, late: int) -> None:
    _, gate = marked(WALSYNC, seconds=600)
    now = T0 + 600 * S + late * US
    expired = expire_if_due(gate, now=now, policy=WALSYNC, jitter_seconds=jitter)
    assert expired is not None and expired.resume_at is not None
    assert now <= expired.resume_at <= now + WALSYNC.resume_jitter_max_seconds * S


@pytest.mark.parametrize("jitter", [0.0, 30.0, 500.0])
def test_resume_at_is_none_under_seed(jitter: float) -> None:
    _, gate = marked(SEED, seconds=600)
    expired = expire_if_due(gate, now=T0 + 700 * S, policy=SEED, jitter_seconds=jitter)
    assert expired is not None
    assert expired.resume_at is None
    # Expiry opens the gate but keeps the count of 429s in a row (reset only by a success).
    assert evolve_gate(gate, expired) == Gate(rate_limit_streak=1)


def test_resume_due_fires_once_the_resume_point_is_reached() -> None:
    _, gate = marked(WALSYNC, seconds=600)
    expired = expire_if_due(gate, now=T0 + 600 * S, policy=WALSYNC, jitter_seconds=30)
    assert expired is not None
    after = evolve_gate(gate, expired)
    assert after == Gate(resume_at=T0 + 630 * S, rate_limit_streak=1)
    assert resume_due(after, T0 + 629 * S) is None
    assert resume_due(after, T0 + 630 * S) == UploadsResumed(at=T0 + 630 * S,
                                                             resume_at=T0 + 630 * S)
    resumed = resume_due(after, T0 + 700 * S)
    assert resumed is not None
    assert evolve_gate(after, resumed) == Gate(rate_limit_streak=1)
    assert resume_due(Gate(), T0) is None
    assert resume_due(gate, T0 + 10**6 * S) is None  # still marked: nothing to resume


def test_evolve_gate_folds_every_gate_event_and_refuses_others() -> None:
    started, gate = marked(WALSYNC, seconds=600, reason="backendBusy")
    assert gate == Gate(limited=True, reason="backendBusy", until=T0 + 600 * S, set_at=T0)
    assert gate.blocks(T0) and not gate.blocks(T0 + 600 * S)
    remarked = evolve_gate(Gate(resume_at=T0), started)
    assert remarked.resume_at is None and remarked.limited
    with pytest.raises(TypeError):
        evolve_gate(gate, WalDeleted(at=T0, wal_id="w1"))  # type: ignore[arg-type]


@given(policy=policies(), t=utc_datetimes(),
       requested=st.none() | st.integers(-10**6, 10**12),
       reason=st.sampled_from(["rateLimit", "backendBusy"]),
       prior_offset=st.none() | st.integers(0, 86_400),
       prior_seconds=st.integers(1, 86_400), data=st.data())
def test_any_mark_pauses_at_most_24_h_and_blocks_exactly_from_t_until_its_deadline(
        policy: Policy, t: datetime, requested: int | None, reason: str,
        prior_offset: int | None, prior_seconds: int, data: st.DataObject) -> None:
    prior = Gate()
    if prior_offset is not None:
        _, prior = marked(policy, at=t - prior_offset * S, seconds=prior_seconds)
    event, gate = marked(policy, at=t, seconds=requested, reason=reason, gate=prior)
    until = event.until
    assert t < until <= t + 86_400 * S
    assert gate.until == until and gate.set_at == t
    assert event.seconds == int((until - t).total_seconds())
    assert gate.blocks(t)
    assert gate.blocks(until - US)
    assert not gate.blocks(until)
    assert not gate.blocks(t - US)
    probe = data.draw(around(t, 2 * 86_400))
    assert gate.blocks(probe) == (t <= probe < until)


def test_walsync_doubles_the_default_pause_for_429s_in_a_row_and_a_success_resets_it() -> None:
    gate, seconds = Gate(), []
    now = T0
    for _ in range(7):
        started = mark(gate, now=now, reason="rateLimit", requested_seconds=None, policy=WALSYNC)
        seconds.append(started.seconds)
        gate = evolve_gate(gate, started)
        now = started.until
        gate = evolve_gate(gate, expire_if_due(gate, now=now, policy=WALSYNC) or started)
    assert seconds == [1800, 3600, 7200, 14400, 14400, 14400, 14400]  # doubling stops at 4 h
    explicit = mark(gate, now=now, reason="rateLimit", requested_seconds=120, policy=WALSYNC)
    assert explicit.seconds == 120 and not explicit.backoff_applied  # Retry-After wins
    cleared = clear(evolve_gate(gate, explicit), now=now, wal_id="w", http_status=202)
    assert cleared is not None
    reset = evolve_gate(evolve_gate(gate, explicit), cleared)
    assert mark(reset, now=now, reason="rateLimit", requested_seconds=None,
                policy=WALSYNC).seconds == 1800


def test_seed_never_backs_off_the_default_pause() -> None:
    gate = Gate()
    for _ in range(3):
        started = mark(gate, now=T0, reason="rateLimit", requested_seconds=None, policy=SEED)
        assert started.seconds == 1800
        gate = evolve_gate(gate, started)
