"""Pure upload decisions: selection, batching, gates and every answer on every path."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from walsync.core.decide_upload import (
    LEGACY_RATE_LIMIT_MESSAGE,
    batch_candidates,
    gate_closed_for,
    held,
    missing_files,
    split_batches,
    start_upload,
    upload_outcome,
)
from walsync.core.errors import IllegalTransition
from walsync.core.events import (
    CooldownCleared,
    CooldownStarted,
    Event,
    UploadAccepted,
    UploadFailed,
    UploadOutcomeUnknown,
    UploadRateLimited,
    UploadsHeld,
    UploadStarted,
    UploadSynced,
    WalCorrupted,
    WalEvent,
)
from walsync.core.gate import Gate, evolve_gate, mark
from walsync.core.policies import LEGACY, REGISTERED, SEED, WALSYNC
from walsync.core.policy import Policy
from walsync.core.responses import (
    UploadAnswer,
    UploadError,
    UploadJobAccepted,
    UploadLost,
    UploadProcessed,
    UploadThrottled,
    UploadUnusable,
)
from walsync.core.wal import Wal, evolve_wal

from strategies import policies, upload_answers, upload_paths

T0 = datetime(2026, 5, 20, 8, 0, tzinfo=UTC)
S = timedelta(seconds=1)
PATHS = ("auto", "batch", "single")
HTTP_DATE_ONE_HOUR_LATER = "Wed, 20 May 2026 09:00:00 GMT"


def wal(n: int = 0, *, status: str = "uploading", retry: int = 0, storage: str = "disk") -> Wal:
    return Wal(wal_id=f"phone_{1779264000 + 60 * n}", status=status, retry_count=retry,
               storage=storage, file_path=f"{n}.bin",
               attempt_id="att-1" if status == "uploading" else None)


def limited(reason: str = "rateLimit", seconds: int = 600, policy: Policy = SEED) -> Gate:
    event = mark(Gate(), now=T0 - 60 * S, reason=reason, requested_seconds=seconds,  # type: ignore[arg-type]
                 policy=policy)
    return evolve_gate(Gate(), event)


def outcome(answer: UploadAnswer, *, policy: Policy, path: str = "batch",
            wals: list[Wal] | None = None, gate: Gate | None = None) -> list[Event]:
    return upload_outcome(wals or [wal(0), wal(1, retry=2)], answer, path=path,  # type: ignore[arg-type]
                          attempt_id="att-1", gate=gate or Gate(), now=T0, policy=policy)


def of(events: list[Event], cls: type[Event]) -> list[Event]:
    return [e for e in events if isinstance(e, cls)]


# --- selection and batching --------------------------------------------------------------


def test_split_batches_walks_from_the_end() -> None:
    assert split_batches(list(range(7)), 3) == [[4, 5, 6], [1, 2, 3], [0]]  # type: ignore[arg-type]
    assert split_batches(list(range(6)), 3) == [[3, 4, 5], [0, 1, 2]]  # type: ignore[arg-type]
    assert split_batches([0], 3) == [[0]]  # type: ignore[list-item]
    assert split_batches([], 3) == []
    assert split_batches(list(range(3)), 1) == [[2], [1], [0]]  # type: ignore[arg-type]


@given(n=st.integers(0, 40), size=st.integers(1, 7))
def test_split_batches_partitions_in_order_with_only_the_last_batch_short(n: int,
                                                                          size: int) -> None:
    items = list(range(n))
    batches = split_batches(items, size)  # type: ignore[arg-type]
    assert [x for b in reversed(batches) for x in b] == items
    assert all(len(b) == size for b in batches[:-1])
    assert all(0 < len(b) <= size for b in batches)


def test_batch_candidates_take_every_miss_on_phone_storage_whatever_the_retry_count() -> None:
    wals = [
        wal(0, status="miss", storage="disk"),
        wal(1, status="miss", storage="mem"),
        wal(2, status="miss", storage="disk", retry=3),  # budget spent: still selected
        wal(3, status="miss", storage="disk", retry=9),
        wal(4, status="miss", storage="sdcard"),
        wal(5, status="miss", storage="flashPage"),
        wal(6, status="uploaded", storage="disk"),
        wal(7, status="uploading", storage="disk"),
        wal(8, status="synced", storage="disk"),
        wal(9, status="corrupted", storage="disk"),
    ]
    assert batch_candidates(wals) == wals[:4]


# --- gates -------------------------------------------------------------------------------

GATED = {
    "legacy": {"auto": False, "batch": False, "single": False},
    "seed": {"auto": True, "batch": True, "single": False},
    "walsync": {"auto": True, "batch": True, "single": True},
}


def test_the_three_policies_gate_the_entry_points_the_spec_names() -> None:
    """Spec section 7: seed gates batch and auto-sync but not the row Retry; legacy gates none."""
    assert {p.name: {path: getattr(p, f"gate_{path}") for path in PATHS}
            for p in (LEGACY, SEED, WALSYNC)} == GATED


@pytest.mark.parametrize("policy", REGISTERED, ids=lambda p: p.name)
@pytest.mark.parametrize("path", PATHS)
def test_gate_closed_for_each_policy_and_path(policy: Policy, path: str) -> None:
    gate = limited()
    assert gate_closed_for(path, gate, T0, policy) is getattr(policy, f"gate_{path}")  # type: ignore[arg-type]
    assert gate_closed_for(path, Gate(), T0, policy) is False  # type: ignore[arg-type]
    assert gate_closed_for(path, gate, T0 + 600 * S, policy) is False  # type: ignore[arg-type]


def test_a_held_pass_is_one_event_with_the_gate_reason_deadline_and_count() -> None:
    gate = limited("backendBusy")
    wals = [wal(0, status="miss"), wal(1, status="miss")]
    assert held(wals, "auto", gate, T0, every_waiting=False) == UploadsHeld(
        at=T0, path="auto", count=2, gate_reason="backendBusy", gate_until=T0 + 540 * S,
        wal_ids=("phone_1779264000", "phone_1779264060"))
    assert held(wals, "batch", gate, T0, every_waiting=True).wal_ids == ()


def test_missing_files_corrupts_only_wals_without_a_file() -> None:
    wals = [wal(0, status="miss"), wal(1, status="miss"), wal(2, status="miss")]
    events = missing_files(wals, {wals[0].wal_id: True, wals[1].wal_id: False}, T0)
    assert events == [
        WalCorrupted(at=T0, wal_id=w.wal_id, cause="file_missing", file_path=w.file_path)
        for w in wals[1:]]


def test_start_upload_marks_the_batch_under_one_attempt_id() -> None:
    wals = [wal(0, status="miss"), wal(1, status="miss")]
    events = start_upload(wals, path="single", attempt_id="att-9", now=T0, conversation_id="c1")
    ids = tuple(w.wal_id for w in wals)
    assert events == [UploadStarted(at=T0, wal_id=w, attempt_id="att-9", path="single",
                                    batch=ids, conversation_id="c1") for w in ids]
    assert [evolve_wal(w, e).status for w, e in zip(wals, events, strict=True)] == [
        "uploading", "uploading"]


@pytest.mark.parametrize("status", ["uploading", "uploaded", "synced", "corrupted", "new",
                                    "deleted"])
def test_start_upload_on_a_non_miss_wal_is_refused(status: str) -> None:
    with pytest.raises(IllegalTransition) as refused:
        start_upload([wal(0, status="miss"), wal(1, status=status)], path="batch",
                     attempt_id="a", now=T0)
    assert (refused.value.state, refused.value.trigger) == (status, "start_upload")


# --- answers -------------------------------------------------------------------------------


@pytest.mark.parametrize("policy", REGISTERED, ids=lambda p: p.name)
@pytest.mark.parametrize("path", PATHS)
def test_200_syncs_and_clears_only_a_limited_gate(policy: Policy, path: str) -> None:
    answer = UploadProcessed(new_conversations=("c1",), updated_conversations=("c2",))
    events = outcome(answer, policy=policy, path=path)
    assert [type(e) for e in events] == [UploadSynced, UploadSynced]
    synced = of(events, UploadSynced)[0]
    assert synced.new_conversations == ("c1",) and synced.updated_conversations == ("c2",)  # type: ignore[attr-defined]
    assert synced.http_status == 200  # type: ignore[attr-defined]
    gate = limited()
    events = outcome(answer, policy=policy, path=path, gate=gate)
    [cleared] = of(events, CooldownCleared)
    assert cleared == CooldownCleared(at=T0, cause_wal_id="phone_1779264000", http_status=200,
                                      previous_until=gate.until, previous_reason="rateLimit")  # type: ignore[arg-type]
    assert events[-1] is cleared


@pytest.mark.parametrize("policy", REGISTERED, ids=lambda p: p.name)
@pytest.mark.parametrize("path", PATHS)
def test_202_accepts_with_the_job_id_and_clears(policy: Policy, path: str) -> None:
    events = outcome(UploadJobAccepted(job_id="job-7"), policy=policy, path=path)
    assert [(type(e), e.job_id) for e in events] == [(UploadAccepted, "job-7")] * 2  # type: ignore[attr-defined]
    events = outcome(UploadJobAccepted(job_id="job-7"), policy=policy, path=path,
                     gate=limited("backendBusy"))
    [cleared] = of(events, CooldownCleared)
    assert (cleared.http_status, cleared.previous_reason) == (202, "backendBusy")  # type: ignore[attr-defined]


@pytest.mark.parametrize("policy", [SEED, WALSYNC], ids=lambda p: p.name)
@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize(("raw", "seconds", "default"), [
    (None, 1800, True), ("120", 120, False), ("0", 1800, True), ("junk", 1800, True),
    ("999999999", 86_400, False)])
def test_429_is_rate_limited_without_bump_and_starts_a_cooldown(
        policy: Policy, path: str, raw: str | None, seconds: int, default: bool) -> None:
    wals = [wal(0), wal(1, retry=2)]
    events = outcome(UploadThrottled(retry_after_raw=raw, detail="fair use"), policy=policy,
                     path=path, wals=wals)
    limited_events = of(events, UploadRateLimited)
    assert [(e.wal_id, e.retry_count, e.retry_count_bumped) for e in limited_events] == [  # type: ignore[attr-defined]
        (wals[0].wal_id, 0, False), (wals[1].wal_id, 2, False)]
    assert all(e.retry_after_raw == raw and e.server_error == "fair use"  # type: ignore[attr-defined]
               for e in limited_events)
    [started] = of(events, CooldownStarted)
    assert (started.reason, started.seconds, started.default_applied) == (  # type: ignore[attr-defined]
        "rateLimit", seconds, default)
    assert (started.retry_after_raw, started.cause_wal_id) == (raw, wals[0].wal_id)  # type: ignore[attr-defined]
    assert not of(events, UploadFailed)
    assert [evolve_wal(w, e).retry_count for w, e in zip(wals, limited_events, strict=True)] == [0, 2]


def test_an_http_date_retry_after_is_defaulted_by_seed_and_read_by_walsync() -> None:
    answer = UploadThrottled(retry_after_raw=HTTP_DATE_ONE_HOUR_LATER)
    [seed] = of(outcome(answer, policy=SEED), CooldownStarted)
    [walsync] = of(outcome(answer, policy=WALSYNC), CooldownStarted)
    assert (seed.seconds, seed.default_applied) == (1800, True)  # type: ignore[attr-defined]
    assert (walsync.seconds, walsync.default_applied) == (3600, False)  # type: ignore[attr-defined]
    assert walsync.until == T0 + 3600 * S  # type: ignore[attr-defined]
    assert seed.retry_after_raw == walsync.retry_after_raw == HTTP_DATE_ONE_HOUR_LATER  # type: ignore[attr-defined]


@pytest.mark.parametrize(("raw", "seed_seconds", "walsync_seconds"), [
    ("120, 60", 1800, 120),  # duplicate headers joined: the app's int.tryParse fails, default
    ("+120", 120, 1800),  # the app's int.tryParse takes a sign; walsync reads ASCII digits only
    ("0x78", 120, 1800),  # ... and a hexadecimal literal
    ("99999999999999999999", 1800, 86_400),  # past int64: null in the app; walsync caps it
])
def test_seed_reads_retry_after_as_the_app_and_walsync_by_its_stricter_rules(
        raw: str, seed_seconds: int, walsync_seconds: int) -> None:
    """Spec section 6: the app parses the trimmed header as one integer (Dart's int.tryParse)
    and falls back to the 30-minute default; walsync's comma and digit rules are its own."""
    answer = UploadThrottled(retry_after_raw=raw)
    [seed] = of(outcome(answer, policy=SEED), CooldownStarted)
    [walsync] = of(outcome(answer, policy=WALSYNC), CooldownStarted)
    assert (seed.seconds, seed.default_applied) == (seed_seconds, seed_seconds == 1800)  # type: ignore[attr-defined]
    assert walsync.seconds == walsync_seconds  # type: ignore[attr-defined]


def test_legacy_429_carries_the_old_clients_generic_exception_text() -> None:
    """#7451's description: the old client threw a generic "Rate limited or budget exhausted"."""
    [failed, _] = outcome(UploadThrottled(), policy=LEGACY)
    assert failed.message == "Rate limited or budget exhausted"  # type: ignore[attr-defined]


@pytest.mark.parametrize("path", PATHS)
def test_429_under_legacy_is_a_generic_failure_bumped_only_on_auto(path: str) -> None:
    wals = [wal(0), wal(1, retry=2)]
    events = outcome(UploadThrottled(retry_after_raw="120"), policy=LEGACY, path=path, wals=wals)
    assert not of(events, CooldownStarted) and not of(events, UploadRateLimited)
    bumped = path == "auto"
    assert events == [
        UploadFailed(at=T0, wal_id=w.wal_id, attempt_id="att-1", kind="rate_limited",
                     http_status=429, message=LEGACY_RATE_LIMIT_MESSAGE, retry_after_raw="120",
                     retry_count=w.retry_count + bumped, retry_count_bumped=bumped)
        for w in wals]


@pytest.mark.parametrize("policy", REGISTERED, ids=lambda p: p.name)
@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize(("kind", "status", "message"), [
    ("bad_request", 400, "Audio file could not be processed by server"),
    ("too_large", 413, "Audio file is too large to upload"),
    ("server_error", 503, "Server is temporarily unavailable"),
    ("unexpected", 418, "Upload failed unexpectedly"),
    ("network", None, "SocketException: connection refused"),
])
def test_other_errors_bump_only_on_auto_and_never_for_network(
        policy: Policy, path: str, kind: str, status: int | None, message: str) -> None:
    wals = [wal(0), wal(1, retry=2)]
    events = outcome(UploadError(kind=kind, message=message, http_status=status),  # type: ignore[arg-type]
                     policy=policy, path=path, wals=wals, gate=limited())
    bumped = path == "auto" and kind != "network"
    assert events == [
        UploadFailed(at=T0, wal_id=w.wal_id, attempt_id="att-1", kind=kind,  # type: ignore[arg-type]
                     http_status=status, message=message, retry_count=w.retry_count + bumped,
                     retry_count_bumped=bumped)
        for w in wals]
    folded = [evolve_wal(w, e) for w, e in zip(wals, events, strict=True)]
    assert [f.retry_count for f in folded] == [0 + bumped, 2 + bumped]
    assert [f.last_retry_at for f in folded] == [T0 if bumped else None] * 2


@pytest.mark.parametrize("policy", REGISTERED, ids=lambda p: p.name)
@pytest.mark.parametrize("path", PATHS)
def test_a_lost_answer_is_outcome_unknown_without_bump(policy: Policy, path: str) -> None:
    wals = [wal(0), wal(1, retry=2)]
    events = outcome(UploadLost(detail="read timeout after send"), policy=policy, path=path,
                     wals=wals, gate=limited())
    assert events == [UploadOutcomeUnknown(at=T0, wal_id=w.wal_id, attempt_id="att-1",
                                           detail="read timeout after send") for w in wals]
    assert [evolve_wal(w, e).retry_count for w, e in zip(wals, events, strict=True)] == [0, 2]


@pytest.mark.parametrize("policy", REGISTERED, ids=lambda p: p.name)
@pytest.mark.parametrize("path", PATHS)
def test_an_unusable_202_is_an_error_as_in_the_app_or_unknown_as_walsync_judges(
        policy: Policy, path: str) -> None:
    """Spec section 6: an empty job id is thrown as an error (auto-sync spends budget on it, the
    gate stays as it was); walsync records it as an unknown outcome (the files were taken)."""
    wals = [wal(0), wal(1, retry=2)]
    answer = UploadUnusable(http_status=202, detail="malformed HTTP 202 body: 'job_id' empty")
    events = outcome(answer, policy=policy, path=path, wals=wals, gate=limited())
    if policy.unusable_answer == "unknown":
        assert [type(e) for e in events] == [UploadOutcomeUnknown] * 2
        return
    bumped = path == "auto"
    assert events == [
        UploadFailed(at=T0, wal_id=w.wal_id, attempt_id="att-1", kind="unexpected",
                     http_status=202, message=answer.detail, retry_count=w.retry_count + bumped,
                     retry_count_bumped=bumped)
        for w in wals]


@given(answer=upload_answers(), policy=policies(), path=upload_paths(),
       retries=st.lists(st.integers(0, 5), min_size=1, max_size=3), gated=st.booleans())
# Found by Hypothesis: refused credentials on capture auto-sync pause uploads, spending no budget.
@example(answer=UploadError(kind="bad_request", message="", http_status=401), policy=WALSYNC,
         path="auto", retries=[0], gated=False)
def test_any_answer_folds_legally_and_spends_budget_only_where_the_spec_allows(
        answer: UploadAnswer, policy: Policy, path: str, retries: list[int],
        gated: bool) -> None:
    wals = [wal(i, retry=r) for i, r in enumerate(retries)]
    gate = limited(policy=policy) if gated else Gate()
    events = outcome(answer, policy=policy, path=path, wals=wals, gate=gate)
    wal_events = [e for e in events if isinstance(e, WalEvent)]
    assert [e.wal_id for e in wal_events] == [w.wal_id for w in wals]
    for w, e in zip(wals, wal_events, strict=True):
        after = evolve_wal(w, e)  # never raises: every answer is an edge out of `uploading`
        assert after.status in {"synced", "uploaded", "miss"}
        # A network failure and refused credentials (the auth pause) never spend budget.
        spendable = path == "auto" and isinstance(e, UploadFailed) and e.kind not in (
            "network", "auth")
        assert after.retry_count == w.retry_count + (1 if spendable else 0)
    folded = gate
    for e in events:
        if not isinstance(e, WalEvent):
            folded = evolve_gate(folded, e)  # type: ignore[arg-type]
    if isinstance(answer, UploadProcessed | UploadJobAccepted):
        assert folded == Gate()
    if isinstance(answer, UploadThrottled) and policy.rate_limit_typed:
        assert folded.blocks(T0) and folded.until - T0 <= 86_400 * S  # type: ignore[operator]
    if not policy.rate_limit_typed:
        assert not of(events, CooldownStarted)
