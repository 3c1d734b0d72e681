"""Spec sections 3 and 7: the three upload paths, their answers and their gates, per policy."""

from __future__ import annotations

import pytest

from walsync.core.errors import IllegalTransition, UnknownWal
from walsync.core.events import SyncRunFinished
from walsync.core.policies import LEGACY, SEED, WALSYNC
from walsync.core.responses import (
    UploadError,
    UploadJobAccepted,
    UploadLost,
    UploadProcessed,
    UploadThrottled,
)

from fakes import Harness


def test_registration_is_born_miss_or_synced_when_delivered() -> None:
    h = Harness(SEED)
    [waiting] = h.add()
    delivered = h.engine.register(timer_start=42, delivered=True)
    assert h.row(waiting).state == "miss" and h.row(waiting).text == "Waiting to sync"
    assert h.row(delivered).state == "synced"
    assert h.row(delivered).text == "Conversation created"


@pytest.mark.parametrize("path", ["batch", "single", "auto"])
def test_202_makes_uploaded_with_job_id_on_every_path(path: str) -> None:
    h = Harness(SEED)
    [w] = h.add(conversation_id="conv-1")
    h.backend.answer_uploads(UploadJobAccepted(job_id="job-9"))
    before = h.seq()
    {"batch": h.engine.sync_all, "single": lambda: h.engine.sync_wal(w),
     "auto": lambda: h.engine.auto_sync(w)}[path]()
    # capture auto-sync has no run around its one upload (issue 17; the app's has none)
    assert h.types(before) == (["UploadStarted", "UploadAccepted"] if path == "auto" else
                               ["SyncRunStarted", "UploadStarted", "UploadAccepted",
                                "SyncRunFinished"])
    row = h.row(w)
    assert (row.state, row.job_id, row.text) == ("uploaded", "job-9",
                                                 "Uploaded · processing on Omi")
    assert h.engine.card().text == "Processing on Omi…"
    assert h.engine.card().spinner


def test_200_fast_path_syncs_and_auto_sync_sends_the_conversation_id() -> None:
    h = Harness(SEED)
    [w] = h.add(conversation_id="conv-7")
    h.backend.answer_uploads(UploadProcessed(new_conversations=("c1",)))
    h.engine.auto_sync(w)
    assert h.row(w).state == "synced"
    assert h.backend.uploads[0]["conversation_id"] == "conv-7"
    assert h.backend.uploads[0]["files"] == [f"audio_phone_opus_16000_1_fs160_{w.split('_')[1]}.bin"]
    assert h.engine.card().text == "All recordings synced"


def test_missing_file_is_marked_corrupted_without_an_upload() -> None:
    h = Harness(SEED)
    [w] = h.add(with_file=False)
    h.engine.sync_all()
    assert h.row(w).state == "corrupted" and h.row(w).text == "File unavailable"
    assert h.backend.uploads == []
    assert "WalCorrupted" in h.types()


def test_batch_walks_from_the_end_in_threes() -> None:
    h = Harness(SEED)
    wals = h.add(7)
    h.engine.sync_all()
    sent = [u["files"] for u in h.backend.uploads]
    assert [len(files) for files in sent] == [3, 3, 1]
    stamps = [[int(name.rsplit("_", 1)[1].split(".")[0]) for name in files] for files in sent]
    expected = [[int(w.split("_")[1]) for w in wals[i:j]] for i, j in ((4, 7), (1, 4), (0, 1))]
    assert stamps == expected


@pytest.mark.parametrize("policy", [SEED, WALSYNC])
def test_mid_batch_429_stops_the_loop_and_spends_no_budget(policy: object) -> None:
    h = Harness(policy)  # type: ignore[arg-type]
    wals = h.add(7)
    h.backend.answer_uploads(UploadJobAccepted(job_id="j1"), UploadThrottled())
    h.engine.sync_all()
    assert len(h.backend.uploads) == 2
    assert [h.row(w).state for w in wals] == ["miss"] * 4 + ["uploaded"] * 3
    assert all(h.row(w).retry_count == 0 for w in wals)
    gate = h.engine.gate().gate
    assert gate.limited and gate.reason == "rateLimit"
    assert (gate.until - h.clock.now()).total_seconds() == 1800
    assert h.engine.card().text == (
        "Fair-use limit reached — syncing will resume automatically")
    assert not h.engine.card().spinner  # a cooldown hides the spinner even with jobs uploaded


def test_legacy_429_is_a_generic_error_the_batch_continues_and_auto_sync_bumps() -> None:
    h = Harness(LEGACY)
    wals = h.add(4, conversation_id="c")
    h.backend.answer_uploads(UploadThrottled(), UploadThrottled())
    h.engine.sync_all()
    assert len(h.backend.uploads) == 2  # continued past the first 429
    assert all(h.row(w).retry_count == 0 for w in wals)  # batch never bumps
    assert not h.engine.gate().gate.limited  # legacy has no cooldown
    h.backend.answer_uploads(UploadThrottled())
    h.engine.auto_sync(wals[0])
    assert h.row(wals[0]).retry_count == 1
    assert h.row(wals[0]).text == "Couldn’t process — retrying"
    assert "UploadRateLimited" not in h.types()


@pytest.mark.parametrize("policy", [SEED, WALSYNC])
def test_a_429_never_changes_a_retry_count(policy: object) -> None:
    h = Harness(policy)  # type: ignore[arg-type]
    [w] = h.add(conversation_id="c")
    for call in (h.engine.auto_sync, h.engine.sync_wal):
        h.clock.advance(90_000)  # past any cooldown
        h.engine.tick()
        h.backend.answer_uploads(UploadThrottled(retry_after_raw="60"))
        call(w)
        assert h.row(w).retry_count == 0
    assert h.types().count("UploadRateLimited") == 2


def test_other_errors_bump_only_in_capture_auto_sync_and_never_for_network() -> None:
    h = Harness(SEED)
    wals = h.add(3, conversation_id="c")
    server_error = UploadError(kind="server_error", message="Server is temporarily unavailable",
                               http_status=503)
    h.backend.answer_uploads(server_error)
    h.engine.sync_all()
    assert [h.row(w).retry_count for w in wals] == [0, 0, 0]
    h.backend.answer_uploads(server_error)
    report = h.engine.sync_wal(wals[0])
    assert h.row(wals[0]).retry_count == 0 and report.error == "Server is temporarily unavailable"
    h.backend.answer_uploads(UploadError(kind="network", message="connection refused"))
    h.engine.auto_sync(wals[1])
    assert h.row(wals[1]).retry_count == 0
    h.backend.answer_uploads(server_error)
    h.engine.auto_sync(wals[1])
    assert h.row(wals[1]).retry_count == 1


def test_lost_answer_is_outcome_unknown_without_a_bump() -> None:
    h = Harness(WALSYNC)
    [w] = h.add(conversation_id="c")
    h.backend.answer_uploads(UploadLost(detail="read timeout after the request was sent"))
    h.engine.auto_sync(w)
    assert h.row(w).state == "miss" and h.row(w).retry_count == 0
    assert "UploadOutcomeUnknown" in h.types()


def test_every_upload_carries_its_attempt_id_as_idempotency_key() -> None:
    h = Harness(SEED)
    h.add(2)
    h.engine.sync_all()
    started = [r.event for r in h.store.read() if r.type == "UploadStarted"]
    assert h.backend.uploads[0]["key"] == started[0].attempt_id  # type: ignore[attr-defined]


def test_seed_gates_batch_and_auto_but_not_single_whose_success_clears_the_gate() -> None:
    h = Harness(SEED)
    wals = h.add(3, conversation_id="c")
    h.backend.answer_uploads(UploadThrottled())
    h.engine.sync_all()
    uploads = len(h.backend.uploads)
    assert h.engine.sync_all().skipped == 3
    assert h.engine.auto_sync(wals[0]).skipped == 1
    assert len(h.backend.uploads) == uploads
    held = [r.payload for r in h.store.read() if r.type == "UploadsHeld"]
    assert [(p["path"], p["count"]) for p in held] == [("batch", 3), ("auto", 1)]
    h.engine.sync_wal(wals[0])  # ungated under seed
    assert len(h.backend.uploads) == uploads + 1
    assert not h.engine.gate().gate.limited
    assert h.types()[-2:] == ["CooldownCleared", "SyncRunFinished"]


def test_walsync_refuses_a_single_retry_during_a_cooldown_with_the_reason() -> None:
    h = Harness(WALSYNC)
    [w] = h.add()
    h.backend.answer_uploads(UploadThrottled(retry_after_raw="600"))
    h.engine.sync_all()
    report = h.engine.sync_wal(w)
    assert report.skipped == 1 and report.skipped_reason == "rateLimit"
    assert len(h.backend.uploads) == 1
    [held] = [r.event for r in h.store.read() if r.type == "UploadsHeld"]
    assert held.path == "single" and held.wal_ids == (w,)  # type: ignore[attr-defined]


def test_legacy_has_no_gate_anywhere() -> None:
    h = Harness(LEGACY)
    wals = h.add(2, conversation_id="c")
    h.backend.answer_uploads(UploadThrottled(), UploadThrottled(), UploadThrottled())
    h.engine.sync_all()
    h.engine.auto_sync(wals[0])
    h.engine.sync_wal(wals[1])
    assert len(h.backend.uploads) == 3 and "UploadsHeld" not in h.types()


def test_unknown_wal_and_illegal_trigger_are_typed_and_change_nothing() -> None:
    h = Harness(SEED)
    [w] = h.add()
    before = list(h.store.read())
    with pytest.raises(UnknownWal):
        h.engine.sync_wal("nope_1")
    h.engine.sync_all()  # now uploaded
    after_upload = list(h.store.read())
    with pytest.raises(IllegalTransition):
        h.engine.sync_wal(w)
    assert list(h.store.read()) == after_upload
    assert len(after_upload) > len(before)


def test_delete_removes_the_row_and_the_id_cannot_be_reused() -> None:
    h = Harness(SEED)
    [w] = h.add()
    h.engine.delete(w)
    assert w not in {r.wal_id for r in h.engine.rows()}
    with pytest.raises(UnknownWal):
        h.engine.sync_wal(w)
    from walsync.core.errors import DuplicateWal

    with pytest.raises(DuplicateWal):
        h.engine.register(timer_start=int(w.split("_")[1]))


def test_walsync_batch_sync_leaves_a_refused_file_to_a_manual_retry() -> None:
    sent = {}
    for policy in (SEED, WALSYNC):
        h = Harness(policy)
        [w] = h.add()
        h.backend.answer_uploads(UploadError(kind="bad_request", http_status=400,
                                             message="Audio file could not be processed by server"))
        h.engine.sync_all()
        assert h.store.projection.wals[w].rejected
        before = len(h.backend.uploads)
        h.engine.sync_all()
        sent[policy.name] = len(h.backend.uploads) - before
    assert sent == {"seed": 1, "walsync": 0}


def test_auto_sync_records_its_upload_in_two_commits_and_its_card_shows_no_run() -> None:
    """Issue 17: capture auto-sync's one upload has no run around it (the app's
    `_syncSingleWal` logs no `local_upload_started`): its claim and its answer, two commits
    where a run made four. While it is out the row is "Syncing" and the card spins; the card
    follows the spec's first match without a provider sync in progress (a syncing row counts
    neither as ready nor as needing attention), with no "Uploading 0 of 1" and no Cancel
    pill, which cancels only a batch sync."""
    h = Harness(WALSYNC)
    [w] = h.add(conversation_id="conv-1")
    commits: list[list[str]] = []
    h.engine.subscribe(lambda stored: commits.append([r.type for r in stored]))
    seen: list[tuple[str, str, str | None, bool]] = []
    answer = h.backend.upload

    def upload(files: object, **kwargs: object) -> object:
        card = h.engine.card("auto_sync")
        seen.append((h.row(w).display, card.kind, card.pill, card.spinner))
        return answer(files, **kwargs)  # type: ignore[arg-type]

    h.backend.upload = upload  # type: ignore[method-assign]
    report = h.engine.auto_sync(w)
    assert report.uploaded == 1 and commits == [["UploadStarted"], ["UploadAccepted"]]
    assert seen == [("syncing", "all_synced", None, True)]


def test_auto_sync_stopped_by_the_send_deadline_still_says_so() -> None:
    """The one case where the run said what no recording row does: the engine's send deadline
    stopped the upload before its request. It is recorded, as a finished run in one commit."""
    h = Harness(WALSYNC)
    [w] = h.add()
    before = h.seq()
    commits: list[list[str]] = []
    h.engine.subscribe(lambda stored: commits.append([r.type for r in stored]))
    h.engine.send_until(0)
    report = h.engine.auto_sync(w)
    assert report.out_of_time and h.backend.uploads == [] and h.row(w).state == "miss"
    assert commits == [["SyncRunStarted", "SyncRunFinished"]]
    [finished] = [r.event for r in h.store.read(after=before) if r.type == "SyncRunFinished"]
    assert isinstance(finished, SyncRunFinished)
    assert finished.out_of_time and finished.path == "auto"
