"""`seed` and `legacy` do what the app does, to the letter, where walsync knowingly differs:
a 202 without a job id, orphan recovery's storages, and auto-sync's own skips."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from field_server import FieldServer, Reply, Seen

from walsync.adapters.diagnosis.why import explain_wal
from walsync.adapters.engine import Engine
from walsync.adapters.http.client import HttpBackend
from walsync.adapters.store.sqlite import SqliteStore
from walsync.core.app_settings import AppSettings
from walsync.core.events import UploadFailed, UploadOutcomeUnknown
from walsync.core.policies import LEGACY, REGISTERED, SEED, WALSYNC
from walsync.core.policy import Policy

from fakes import Harness, ids


@pytest.fixture
def empty_job_id_server() -> Iterator[str]:
    """A real server on loopback that accepts every upload with a 202 and an empty job id."""
    def accepted_without_a_job(seen: Seen) -> Reply:
        return 202, {}, {"job_id": "", "status": "queued", "total_files": len(seen.names)}

    with FieldServer(accepted_without_a_job) as server:
        yield server.url


def _engine(policy: Policy, path: Path, base_url: str) -> Harness:
    h = Harness(policy, store=SqliteStore(path))
    h.engine = Engine(h.store, HttpBackend(base_url, "token-of-the-test-1234"), clock=h.clock,
                      files=h.files, policy=policy, new_id=ids(4), owns_backend=True)
    return h


@pytest.mark.parametrize("policy", REGISTERED, ids=lambda p: p.name)
def test_a_202_with_an_empty_job_id_is_an_error_under_seed_and_legacy(
        policy: Policy, tmp_path: Path, empty_job_id_server: str) -> None:
    """Spec section 6: "202 → the job id; an empty job id is an error", and capture auto-sync
    (section 3) spends a retry on any error that is not a network one. Under walsync the
    server has the files: the outcome is unknown, no budget is spent."""
    h = _engine(policy, tmp_path / "log.db", empty_job_id_server)
    auto, single, batched = h.add(3, conversation_id="conv-1")
    h.engine.auto_sync(auto)
    h.engine.sync_wal(single)
    h.engine.sync_all()
    answers = {r.event.wal_id: r.event for r in h.store.read()  # type: ignore[attr-defined]
               if r.type in ("UploadFailed", "UploadOutcomeUnknown")}
    counts = {w: h.row(w).retry_count for w in (auto, single, batched)}
    h.engine.close()
    if policy in (SEED, LEGACY):
        assert all(isinstance(e, UploadFailed) and e.kind == "unexpected" and e.http_status == 202
                   for e in answers.values())
        assert counts == {auto: 1, single: 0, batched: 0}  # only capture auto-sync spends it
    else:
        assert policy is WALSYNC
        assert all(isinstance(e, UploadOutcomeUnknown) for e in answers.values())
        assert counts == {auto: 0, single: 0, batched: 0}
    assert set(answers) == {auto, single, batched}


@pytest.mark.parametrize("policy", REGISTERED, ids=lambda p: p.name)
def test_orphan_recovery_uploads_only_recordings_on_the_phone(policy: Policy) -> None:
    """Spec sections 2, 4 and 9: orphan recovery takes `miss` + disk + a conversation id + budget
    left; a recording on the device's SD card or flash page is first copied to the phone
    ("Downloading from your device"), so it is never uploaded from there."""
    h = Harness(policy)
    made = {}
    for n, storage in enumerate(("disk", "mem", "sdcard", "flashPage")):
        start = 1779264000 + 60 * n
        made[storage] = h.engine.register(timer_start=start, file_path=f"{start}.bin",
                                          storage=storage, conversation_id="conv-1")
        h.files.contents[made[storage]] = b"\x02\x00\x00\x00ab"
    reports = h.engine.recover_orphans()
    assert [r.wal_ids for r in reports] == [[made["disk"]], [made["mem"]]]
    assert len(h.backend.uploads) == 2
    started = {r.stream[4:] for r in h.store.read() if r.type == "UploadStarted"}
    assert started == {made["disk"], made["mem"]}


@pytest.mark.parametrize("policy", REGISTERED, ids=lambda p: p.name)
@pytest.mark.parametrize(("settings", "setting"), [
    (AppSettings(custom_stt=True), "custom_stt"),
    (AppSettings(auto_sync_enabled=False), "auto_sync_disabled"),
    (AppSettings(custom_stt=True, auto_sync_enabled=False), "custom_stt"),
])
def test_auto_sync_skips_when_a_setting_rules_it_out_and_says_which(
        policy: Policy, settings: AppSettings, setting: str, tmp_path: Path) -> None:
    """Spec section 7, path 3: capture auto-sync returns at once when a custom speech-to-text
    provider is set or auto-sync is turned off, before the corrupted checks and the gate;
    orphan recovery goes the same way. Batch sync still uploads."""
    h = Harness(policy, store=SqliteStore(tmp_path / "log.db"))
    h.engine.settings = settings
    live, orphan = h.add(2, conversation_id="conv-1")
    [gone] = h.add(conversation_id="conv-1", with_file=False)
    report = h.engine.auto_sync(live)
    assert (report.skipped, report.skipped_reason) == (1, setting)
    assert [r.skipped_reason for r in h.engine.recover_orphans()] == [setting] * 3
    assert not h.backend.uploads
    skips = [r.event for r in h.store.read() if r.type == "AutoSyncSkipped"]
    assert [(e.wal_id, e.setting) for e in skips] == [  # type: ignore[attr-defined]
        (live, setting), (live, setting), (orphan, setting), (gone, setting)]
    assert h.row(gone).state == "miss"  # auto-sync never got as far as its file check
    chain = explain_wal(tmp_path / "log.db", orphan).causal_chain
    words = {"custom_stt": "a custom speech-to-text provider is set",
             "auto_sync_disabled": "auto-sync is turned off"}[setting]
    assert chain[0]["sentence"] == f"Capture auto-sync skipped the upload: {words}."
    h.engine.sync_all()
    assert len(h.backend.uploads) == 1  # one batch of the two recordings with a file
    h.engine.settings = AppSettings()  # the user changed them back
    [again] = h.add(conversation_id="c2")
    before = h.seq()
    h.engine.auto_sync(again)
    assert "AutoSyncSkipped" not in h.types(after=before) and "UploadStarted" in h.types(after=before)
