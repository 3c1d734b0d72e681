"""`sync_directory` against the simulated backend over real HTTP on loopback, in virtual time."""

from __future__ import annotations

import struct
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from attrs import define, field

from walsync.adapters.ports import ManualClock
from walsync.adapters.recordings.names import parse_recording_name
from walsync.adapters.service.folder_sync import SyncSummary, sync_directory
from walsync.adapters.sim.backend import BackendConfig, SimBackend
from walsync.adapters.sim.fair_use import FairUseConfig
from walsync.adapters.sim.server import SimServer
from walsync.adapters.store.readonly.queries import read_log
from walsync.core.serde import parse_time

TOKEN = "tok-CANARY-123"
GOOD_BODY = (struct.pack("<I", 2) + b"ok") * 60
BROKEN_BODY = struct.pack("<I", 50) + b"too short"
BAD_NAME = "notes_from_the_meeting.bin"


@define
class Sim:
    """A SimServer whose time moves only when the fake sleep says so, plus the engine's clock."""

    server: SimServer
    backend: SimBackend
    clock: ManualClock
    offset: list[float] = field(factory=lambda: [0.0])
    sleeps: list[float] = field(factory=list)

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.offset[0] += seconds
        self.clock.advance(seconds)


def _start(fair_use: FairUseConfig | None = None) -> Sim:
    epoch = float(int(time.time()))
    config = BackendConfig(fair_use=fair_use) if fair_use else BackendConfig()
    backend = SimBackend(config, epoch=epoch)
    offset = [0.0]
    server = SimServer(backend, now_seconds=lambda: offset[0], host="127.0.0.1", port=0).start()
    return Sim(server, backend, ManualClock(datetime.fromtimestamp(epoch, UTC)), offset)


@pytest.fixture
def sim() -> Iterator[Sim]:
    s = _start()
    try:
        yield s
    finally:
        s.server.stop()


@pytest.fixture
def throttled() -> Iterator[Sim]:
    # restrict + a cap below zero: every upload is over the cap, so every upload gets 429.
    s = _start(FairUseConfig(start_stage="restrict", daily_cap_ms=-1))
    try:
        yield s
    finally:
        s.server.stop()


def _recordings(folder: Path, *, broken: bool = True) -> dict[str, str]:
    """Four good recordings, one broken body (batched with good ones), one bad name."""
    folder.mkdir()
    base = int(time.time()) - 5 * 86_400
    ids = {}
    for i, device in enumerate(["omi", "omi", "phone", "omi", "omi"]):
        stamp = base + i * 600
        name = f"audio_{device}_opus_16000_1_fs160_{stamp}.bin"
        is_broken = broken and i == 3
        (folder / name).write_bytes(BROKEN_BODY if is_broken else GOOD_BODY)
        ids[f"{device}_{stamp}"] = "broken" if is_broken else "good"
    (folder / BAD_NAME).write_bytes(GOOD_BODY)
    return ids


def _run(sim: Sim, db: Path, folder: Path, out: list[str], *, once: bool = False,
         max_seconds: float = 3600.0) -> SyncSummary:
    return sync_directory(db, backend_url=sim.server.url, token=TOKEN, recordings_dir=folder,
                          say=out.append, sleep=sim.sleep, clock=sim.clock, once=once,
                          max_seconds=max_seconds)


def _assert_no_token(db: Path, out: list[str], *summaries: SyncSummary) -> None:
    assert not any(TOKEN in line for line in out)
    for summary in summaries:
        assert TOKEN not in repr(summary)
    files = list(db.parent.glob(db.name + "*"))
    assert files
    for path in files:
        assert TOKEN.encode() not in path.read_bytes()


def test_parse_recording_name() -> None:
    parsed = parse_recording_name("/x/y/audio_omi2_opus_16000_1_fs320_1717000000.bin")
    assert parsed is not None
    assert (parsed.device, parsed.codec, parsed.sample_rate, parsed.channel, parsed.frame_size,
            parsed.timer_start) == ("omi2", "opus", 16000, 1, 320, 1717000000)
    assert parsed.wal_id == "omi2_1717000000"
    for bad in ("audio_omi_opus_16000_1_fs320_17.wav", BAD_NAME, "audio_Omi_opus_1_1_fs1_1.bin",
                "audio_omi_opus_16000_1_320_1717000000.bin", "xaudio_omi_opus_1_1_fs1_1.bin.bak"):
        assert parse_recording_name(bad) is None


def test_full_run_syncs_good_recordings_and_spends_budget_on_the_broken_one(
        sim: Sim, tmp_path: Path) -> None:
    ids = _recordings(tmp_path / "rec")
    db = tmp_path / "sync.db"
    out: list[str] = []
    first = _run(sim, db, tmp_path / "rec", out)
    rows = {r["wal_id"]: r for r in first.rows}
    assert set(rows) == set(ids)
    assert first.registered == 5 and first.skipped == [BAD_NAME]
    assert sum(BAD_NAME in line for line in out) == 1
    for wal_id, kind in ids.items():
        if kind == "good":
            assert rows[wal_id]["display"] == "synced", rows[wal_id]
        else:
            assert rows[wal_id]["display"] == "failed"
            assert rows[wal_id]["retry_count"] == 3
    assert (first.synced, first.failed, first.finished_reason) == (4, 1, "stalled")
    pass_lines = [line for line in out if line.startswith("pass ")]
    assert len(pass_lines) == first.passes > 1
    assert all("uploads open" in line for line in pass_lines)
    assert all(0 < s <= 20 for s in sim.sleeps)

    out2: list[str] = []
    uploads_before = sim.backend.counters["upload_requests"]
    second = _run(sim, db, tmp_path / "rec", out2)
    assert second.registered == 0 and second.skipped == [BAD_NAME]
    assert second.passes == 1 and second.finished_reason == "stalled"
    assert sim.backend.counters["upload_requests"] == uploads_before
    assert {r["wal_id"]: r["display"] for r in second.rows} == {
        r["wal_id"]: r["display"] for r in first.rows}
    _assert_no_token(db, out + out2, first, second)


def test_once_runs_exactly_one_pass(sim: Sim, tmp_path: Path) -> None:
    _recordings(tmp_path / "rec", broken=False)
    db = tmp_path / "once.db"
    out: list[str] = []
    summary = _run(sim, db, tmp_path / "rec", out, once=True)
    assert summary.passes == 1 and summary.finished_reason == "once"
    assert sim.sleeps == []
    assert summary.uploaded == 5 and summary.synced == 0
    assert len([line for line in out if line.startswith("pass ")]) == 1
    resumed = _run(sim, db, tmp_path / "rec", out)
    assert resumed.registered == 0 and resumed.synced == 5
    assert resumed.finished_reason == "all_synced"
    _assert_no_token(db, out, summary, resumed)


def test_throttled_server_pauses_and_leaves_rows_waiting(throttled: Sim, tmp_path: Path) -> None:
    _recordings(tmp_path / "rec", broken=False)
    db = tmp_path / "throttled.db"
    out: list[str] = []
    summary = _run(throttled, db, tmp_path / "rec", out, max_seconds=600.0)
    assert summary.finished_reason == "paused"
    assert throttled.backend.counters["responses_429"] >= 1
    assert all(r["display"] == "waiting" and r["retry_count"] == 0 for r in summary.rows)
    assert summary.stalled == 5 and summary.failed == 0
    assert any("uploads paused until" in line for line in out)
    _assert_no_token(db, out, summary)


def test_time_budget_ends_a_run_whose_jobs_are_still_processing(sim: Sim, tmp_path: Path) -> None:
    _recordings(tmp_path / "rec", broken=False)
    summary = _run(sim, tmp_path / "budget.db", tmp_path / "rec", [], max_seconds=5.0)
    assert summary.finished_reason == "time_budget"
    assert summary.passes == 2 and sim.sleeps == [5.0]
    assert summary.uploaded == 5


def test_the_uploaded_name_keeps_the_recording_frame_size(tmp_path: Path) -> None:
    """Regression: every upload once went out as fs160 whatever the recording's frame size."""
    from walsync.adapters.recordings.files import upload_file_for
    from walsync.core.wal import Wal

    name = "audio_omi_opus_16000_1_fs320_1717000000.bin"
    parsed = parse_recording_name(name)
    assert parsed is not None
    wal = Wal(wal_id=parsed.wal_id, device=parsed.device, codec=parsed.codec,
              sample_rate=parsed.sample_rate, channel=parsed.channel,
              frame_size=parsed.frame_size, timer_start=parsed.timer_start)
    assert upload_file_for(wal, b"").name == name


def test_a_file_the_server_rejects_ends_the_run_as_stalled_not_at_the_time_budget(
        tmp_path: Path) -> None:
    """Regression: a 400-rejected file was re-sent every pass until the time budget ran out."""
    import contextlib

    clock = ManualClock(datetime(2026, 5, 20, tzinfo=UTC))
    start = clock.now()
    model = SimBackend(BackendConfig(), epoch=start.timestamp())
    server = SimServer(model, lambda: (clock.now() - start).total_seconds()).start()
    try:
        folder = tmp_path / "rec"
        folder.mkdir()
        # 2023: before the server's earliest accepted timestamp, so every upload gets 400.
        (folder / "audio_omi_opus_16000_1_fs160_1690000000.bin").write_bytes(
            b"".join(struct.pack("<I", 2) + b"ok" for _ in range(60)))
        summary = sync_directory(tmp_path / "s.db", backend_url=server.url, token="t",
                                 recordings_dir=folder, max_seconds=3600.0, say=lambda _: None,
                                 sleep=clock.advance,
                                 clock=clock)
        assert summary.finished_reason == "stalled"
        assert summary.passes == 1 and model.counters["responses_400"] == 1
    finally:
        with contextlib.suppress(Exception):
            server.stop()


@pytest.mark.parametrize(("retry_after", "date_in", "seconds"), [
    ("120", None, {120}), (None, 300.0, {299, 300})], ids=["delta-seconds", "http-date"])
def test_a_real_server_s_retry_after_sets_the_pause(tmp_path: Path, retry_after: str | None,
                                                    date_in: float | None,
                                                    seconds: set[int]) -> None:
    """Over loopback HTTP, as `walsync sync` runs: the header reaches the gate (T21 end to end)."""
    s = _start(FairUseConfig(start_stage="restrict", daily_cap_ms=-1, retry_after=retry_after,
                             retry_after_date_in=date_in))
    try:
        _recordings(tmp_path / "rec", broken=False)
        db = tmp_path / "ra.db"
        _run(s, db, tmp_path / "rec", [], once=True)
    finally:
        s.server.stop()
    [first, *_] = [row for row in read_log(db, type_name="CooldownStarted")]
    data = first.fields
    assert data["requested_seconds"] in seconds and not data["default_applied"]
    assert data["retry_after_raw"] == retry_after or data["retry_after_raw"].endswith(" GMT")
    paused = (parse_time(data["until"]) - parse_time(first.at)).total_seconds()
    assert round(paused) in seconds
