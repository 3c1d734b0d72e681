"""Fair-use metering and the 429 of the simulated backend (spec sections 6 and 10)."""

from __future__ import annotations

import struct
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from walsync.adapters.sim.backend import BackendConfig, SimBackend, Upload
from walsync.adapters.sim.fair_use import FairUse, FairUseConfig

EPOCH = 1_750_000_000
DAY = 86_400.0
HOUR = 3600.0
CAP = 7_200_000  # daily speech cap in ms: 240 segments of 30 s
BLOCKED = {"detail": "Account temporarily restricted due to fair-use policy"}


def audio(segments: int) -> bytes:
    return struct.pack("<I", 0) * (50 * segments)  # 50 one-second frames at 60% speech = 30 s


def file(segments: int, n: int, *, name: str | None = None) -> Upload:
    return Upload(name=name or f"audio_omi_opus_16000_1_fs160_{EPOCH - 10_000 + n}.bin",
                  content=audio(segments))


def backend_with(**fair_use: Any) -> SimBackend:
    return SimBackend(BackendConfig(fair_use=FairUseConfig(**fair_use)), epoch=EPOCH)


def run_job(backend: SimBackend, now: float, segments: int, n: int) -> float:
    """Upload one file and read its job once finished; returns the time of that read."""
    status, body, _ = backend.upload(now, [file(segments, n)])
    assert status == 202, body
    done = now + 1.0 + 20.0 + 6.0 * segments  # storage 0.5 s, overhead 20 s, 6 s a segment
    status, job = backend.status(done, str(body["job_id"]))
    assert (status, job["status"]) == (200, "completed")
    return done


def upload_at(backend: SimBackend, now: float, n: int) -> tuple[int, dict[str, Any], dict[str, str]]:
    return backend.upload(now, [file(1, n)])


# -- caps and 429 through the backend ----------------------------------------------------------


def test_restricted_account_gets_429_only_while_over_the_daily_cap() -> None:
    backend = backend_with(start_stage="restrict")
    t = run_job(backend, 0.0, 240, 1)  # exactly 7 200 000 ms: at the cap, not over it
    assert backend.fair_use.used_ms(t, DAY) == CAP
    assert upload_at(backend, t, 2)[0] == 202  # job A, completes at t + 26.5
    assert upload_at(backend, t + 10.0, 3)[0] == 202  # A not metered yet: still accepted
    status, body, headers = upload_at(backend, t + 30.0, 4)
    assert (status, body, headers) == (429, BLOCKED, {})
    assert "Retry-After" not in headers
    assert backend.counters["responses_429"] == 1
    assert backend.fair_use.stage == "restrict"
    # All the speech sits in minute 24; it leaves the rolling 24 h window at 86 400 + 1 440 s.
    assert upload_at(backend, t + DAY - 120.0, 5)[0] == 429
    assert upload_at(backend, t + DAY + 60.0, 6)[0] == 202
    assert backend.fair_use.stage == "restrict"


def test_throttle_account_is_restricted_by_its_third_violation() -> None:
    backend = backend_with(start_stage="throttle", start_violations=2)
    status, body, _ = backend.upload(0.0, [file(241, 1)])  # 7 230 000 ms, done at 1466.5 s
    assert status == 202
    assert upload_at(backend, 100.0, 2)[0] == 202
    assert backend.status(1466.0, str(body["job_id"]))[1]["status"] == "processing"
    assert backend.fair_use.used_ms(1466.0, DAY) == 30_000  # metered at completion, not upload
    assert backend.fair_use.stage == "throttle"
    assert backend.status(1467.0, str(body["job_id"]))[1]["status"] == "completed"
    assert backend.fair_use.used_ms(1467.0, DAY) == 7_230_000 + 30_000
    assert backend.fair_use.stage == "restrict"
    assert upload_at(backend, 1467.0, 3)[:2] == (429, BLOCKED)


def test_throttle_alone_never_blocks_uploads() -> None:
    backend = backend_with(start_stage="throttle")
    t = run_job(backend, 0.0, 241, 1)
    assert backend.fair_use.over_cap(t)
    assert backend.fair_use.stage == "throttle"
    assert upload_at(backend, t, 2)[0] == 202


def test_retry_after_header_when_configured() -> None:
    backend = backend_with(start_stage="restrict", retry_after="120")
    t = run_job(backend, 0.0, 241, 1)
    assert upload_at(backend, t, 2) == (429, BLOCKED, {"Retry-After": "120"})


def test_disabled_fair_use_never_returns_429() -> None:
    backend = backend_with(enabled=False, start_stage="restrict")
    t = run_job(backend, 0.0, 241, 1)
    t = run_job(backend, t, 241, 2)
    assert backend.fair_use.used_ms(t, DAY) > CAP
    assert [upload_at(backend, t + i, 10 + i)[0] for i in range(3)] == [202, 202, 202]
    assert backend.counters["responses_429"] == 0
    assert backend.fair_use.violations == []


def test_fair_use_is_checked_before_the_file_name() -> None:
    backend = backend_with(start_stage="restrict")
    t = run_job(backend, 0.0, 241, 1)
    status, body, _ = backend.upload(t, [file(1, 2, name="not-a-wal.txt")])
    assert (status, body) == (429, BLOCKED)


# -- the stage machine -------------------------------------------------------------------------


def test_under_the_cap_is_no_violation() -> None:
    meter = FairUse(FairUseConfig())
    meter.meter(0.0, CAP)
    assert (meter.stage, meter.violations, meter.over_cap(0.0)) == ("none", [], False)
    meter.meter(30.0, 1)
    assert meter.over_cap(30.0)
    assert (meter.stage, meter.violations) == ("warning", [30.0])


def test_stages_none_warning_throttle_restrict() -> None:
    meter = FairUse(FairUseConfig())
    meter.meter(0.0, CAP + 1)
    assert meter.stage == "warning"
    meter.meter(12 * HOUR, CAP + 1)
    assert meter.stage == "throttle"
    assert not meter.blocks_upload(12 * HOUR)
    meter.meter(24 * HOUR, CAP + 1)  # minute 0 has left the daily window; 720 and 1440 remain
    assert meter.stage == "restrict"
    assert meter.restrict_until == 24 * HOUR + 30 * DAY
    assert meter.blocks_upload(24 * HOUR)


def test_classifier_runs_at_most_once_per_12_hours() -> None:
    meter = FairUse(FairUseConfig())
    meter.meter(0.0, CAP + 1)
    meter.meter(12 * HOUR - 1.0, 1)
    assert (meter.stage, meter.violations) == ("warning", [0.0])
    meter.meter(12 * HOUR, 1)
    assert (meter.stage, meter.violations) == ("throttle", [0.0, 12 * HOUR])


def test_violations_older_than_7_days_do_not_count() -> None:
    meter = FairUse(FairUseConfig())
    meter.meter(0.0, CAP + 1)
    meter.meter(8 * DAY, CAP + 1)
    assert len(meter.violations) == 2
    assert meter.stage == "warning"
    meter.meter(8 * DAY + 12 * HOUR, 1)
    assert meter.stage == "throttle"


def test_expired_restrict_goes_back_to_throttle() -> None:
    meter = FairUse(FairUseConfig(start_stage="restrict"))
    assert meter.restrict_until == 30 * DAY
    meter.meter(30 * DAY - 120.0, CAP + 1)
    assert meter.blocks_upload(30 * DAY - 60.0)
    assert not meter.blocks_upload(30 * DAY)
    assert (meter.stage, meter.restrict_until) == ("throttle", None)
    assert meter.over_cap(30 * DAY + 1.0)
    assert not meter.blocks_upload(30 * DAY + 1.0)


def test_disabled_meter_never_blocks() -> None:
    meter = FairUse(FairUseConfig(enabled=False, start_stage="restrict"))
    meter.meter(0.0, 10 * CAP)
    assert meter.over_cap(0.0)
    assert not meter.blocks_upload(0.0)


@given(st.lists(st.tuples(st.floats(0, 10 * DAY), st.integers(0, 60_000)), max_size=60),
       st.floats(-DAY, 12 * DAY), st.sampled_from([DAY, 3 * DAY, 7 * DAY]))
def test_a_windows_speech_is_the_sum_of_its_minutes_in_any_metering_order(
        metered: list[tuple[float, int]], now: float, window: float) -> None:
    """The running totals answer a rolling window as the sum over every metered minute in
    (now - window, now] does, whatever order the minutes were metered in."""
    meter = FairUse(FairUseConfig(enabled=False))
    for at, speech_ms in metered:
        meter.meter(at, speech_ms)
    first = int((now - window) // 60)
    assert meter.used_ms(now, window) == sum(
        ms for at, ms in metered if first < int(at // 60) <= now // 60)
