"""T64: refused credentials. `open_engine(token=...)` takes a token provider (a callable, sync
or async). A 401 or 403 asks it once for a fresh token and sends the request again; when that
fails too, under `walsync` the gate closes with reason `auth` ("Sign in to keep syncing"),
recorded like any other pause, spending no retry budget, and it opens again when the provider
gives a new token on a nudge (or at the pause's end). Under `seed` a refused upload is an
upload error as in the app: three on capture auto-sync leave the row "Failed — tap Retry".
Real HTTP on loopback (tests/field_server.py); waits only guard against a hang."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from field_server import FieldServer, Reply, Seen

import walsync
from walsync.adapters.engine import Engine
from walsync.adapters.ports import ManualClock
from walsync.adapters.recordings.files import MemoryFiles
from walsync.adapters.store.readonly.verify import verify_log
from walsync.projections.texts import text_for

from fakes import GUARD, T0, wait_until

GOOD = "tok-good-0123456789abcdef"
STALE = "tok-stale-0123456789abcdef"


def _accepts(token: str) -> Callable[[Seen], Reply]:
    """A backend that takes only `token`: 401 for any other, 202 (a job) for an upload."""
    count = iter(range(1, 1000))

    def answer(seen: Seen) -> Reply:
        if seen.headers.get("authorization") != f"Bearer {token}":
            return 401, {}, {"detail": "Invalid token"}
        return 202, {}, {"job_id": f"job-{next(count)}", "status": "queued", "total_files": 1,
                         "total_segments": 0, "poll_after_ms": 5000}
    return answer


class Provider:
    """A token provider handing out the tokens a test sets, counting the calls."""

    def __init__(self, *tokens: str | None) -> None:
        self.tokens = list(tokens)
        self.calls = 0

    def __call__(self) -> str | None:
        self.calls += 1
        return self.tokens[min(self.calls, len(self.tokens)) - 1]


@pytest.fixture
def server() -> Iterator[FieldServer]:
    with FieldServer(_accepts(GOOD)) as running:
        yield running


def _engine(tmp_path: Path, server: FieldServer, token: Any, policy: str = "walsync") -> Engine:
    engine = walsync.open_engine(tmp_path / "s.db", base_url=server.url, token=token,
                                 files=MemoryFiles(), policy=policy, clock=ManualClock(T0))
    return engine


def _recording(engine: Engine, n: int = 0) -> str:
    files = engine.files
    assert isinstance(files, MemoryFiles)
    wal_id = engine.register(device="omi", timer_start=1_779_000_000 + 60 * n,
                             conversation_id=f"c{n}")
    files.contents[wal_id] = b"x"
    return wal_id


def _kinds(engine: Engine) -> list[str]:
    return [row.type for row in engine.store.read()]


def test_a_refused_token_is_renewed_once_and_the_upload_goes(tmp_path: Path,
                                                             server: FieldServer) -> None:
    provider = Provider(STALE, GOOD)
    engine = _engine(tmp_path, server, provider)
    wal_id = _recording(engine)
    engine.sync_all()
    assert engine.row(wal_id).state == "uploaded" and engine.row(wal_id).retry_count == 0
    assert provider.calls == 2  # the first token, then one fresh one after the 401
    assert [s.headers["authorization"] for s in server.seen] == [f"Bearer {STALE}",
                                                                 f"Bearer {GOOD}"]
    assert "UploadFailed" not in _kinds(engine) and "CooldownStarted" not in _kinds(engine)
    engine.close()


def test_refused_credentials_pause_uploads_for_auth_and_spend_no_budget(
        tmp_path: Path, server: FieldServer) -> None:
    provider = Provider(STALE)  # never anything better
    engine = _engine(tmp_path, server, provider)
    wal_id = _recording(engine)
    engine.auto_sync(wal_id)  # capture auto-sync: the path that spends budget on errors
    row, gate = engine.row(wal_id), engine.gate().gate
    assert (row.state, row.display, row.retry_count) == ("miss", "waiting", 0)
    assert gate.limited and gate.reason == "auth"
    assert engine.card().text == text_for("syncCardSignIn") == "Sign in to keep syncing"
    report = walsync.why(tmp_path / "s.db", wal_id)
    assert report.reason == "cooldown_auth", report
    for _ in range(3):  # gated: no request, no budget
        engine.auto_sync(wal_id)
    assert engine.row(wal_id).retry_count == 0 and len(server.seen) == 1  # the same token: not sent again
    failed = [r.event for r in engine.store.read() if r.type == "UploadFailed"]
    assert [(e.kind, e.retry_count_bumped) for e in failed] == [("auth", False)]  # type: ignore[attr-defined]  # UploadFailed's fields
    engine.close()
    assert verify_log(tmp_path / "s.db").ok


def test_under_seed_three_refusals_spend_the_budget_as_the_app_does(
        tmp_path: Path, server: FieldServer) -> None:
    engine = _engine(tmp_path, server, STALE, policy="seed")
    wal_id = _recording(engine)
    for _ in range(3):
        engine.auto_sync(wal_id)
    row = engine.row(wal_id)
    assert (row.retry_count, row.text) == (3, "Failed — tap Retry")
    assert not engine.gate().gate.limited
    engine.close()


def test_a_new_token_on_a_nudge_opens_the_pause_and_the_service_uploads(
        tmp_path: Path, server: FieldServer) -> None:
    provider = Provider(STALE)
    engine = _engine(tmp_path, server, provider)
    wal_id = _recording(engine)
    with walsync.SyncService(engine) as service:
        wait_until(lambda: engine.gate().gate.reason == "auth")
        provider.tokens.append(GOOD)  # the user signed in
        service.nudge()
        wait_until(lambda: engine.row(wal_id).state == "uploaded")
    kinds = _kinds(engine)
    assert kinds.count("CooldownStarted") == 1 and kinds.count("UploadAccepted") == 1, kinds
    assert kinds.index("CooldownStarted") < kinds.index("CooldownCleared") < kinds.index(
        "UploadAccepted"), kinds
    cleared = [r.event for r in engine.store.read() if r.type == "CooldownCleared"]
    assert cleared[0].credentials_renewed  # type: ignore[attr-defined]  # CooldownCleared's field
    assert engine.row(wal_id).retry_count == 0
    engine.close()


def test_an_async_provider_runs_on_the_app_s_loop(tmp_path: Path, server: FieldServer) -> None:
    threads: list[threading.Thread] = []
    tokens = iter([STALE, GOOD])

    async def provider() -> str | None:
        threads.append(threading.current_thread())
        await asyncio.sleep(0)
        return next(tokens, None)

    async def app() -> str:
        engine = _engine(tmp_path, server, provider)
        assert isinstance(engine.files, MemoryFiles)
        engine.files.contents["omi_1779000000"] = b"x"  # the file is there before it is known
        async with walsync.AsyncSyncService(engine) as service:
            wal_id = await service.register(device="omi", timer_start=1_779_000_000)
            while engine.row(wal_id).state != "uploaded":
                await asyncio.sleep(0.02)
        engine.close()
        return wal_id

    asyncio.run(asyncio.wait_for(app(), GUARD))
    assert threads == [threading.main_thread()] * 2  # where asyncio.run ran the app's loop
