"""T17: the server applied the upload (created a job) but the 202 never reached the client.

Contract: exactly one server job per upload attempt when the server honours the Idempotency-Key,
`UploadOutcomeUnknown` recorded, no retry-count bump, and the retry reuses the attempt's key so
the server answers with the job it already made. A failure before the request left (connect
error) is a plain network failure: nothing reached the server, a fresh key is fine.

Documented limit: the spec has no "status by key" endpoint, so the retry does send the body
again (the server dedups it by key); only one job ever exists for it.
"""

from __future__ import annotations

import pytest
from netfakes import Fault, ModelHarness
from tier import record

from walsync.adapters.store.sqlite import SqliteStore
from walsync.core.policies import WALSYNC


@pytest.mark.parametrize("fault", ["read_timeout", "protocol_error"])
@pytest.mark.parametrize("path", ["auto", "single", "batch"])
def test_t17_applied_but_answer_lost_gives_one_job_and_the_original_id(fault: Fault, path: str) -> None:
    h = ModelHarness()
    [w] = h.add(conversation_id="c")
    h.transport.faults = [fault]
    upload = {"auto": lambda: h.engine.auto_sync(w), "single": lambda: h.engine.sync_wal(w),
              "batch": h.engine.sync_all}[path]
    upload()
    assert len(h.model.jobs) == 1, "the server applied the first request"
    row = h.engine.row(w)
    assert row.state == "miss" and row.retry_count == 0
    assert h.types().count("UploadOutcomeUnknown") == 1
    h.advance(60)  # under walsync a batch sync waits 60 s after an unknown outcome (T41)
    upload()
    keys = [r.headers["idempotency-key"] for r in h.transport.uploads()]
    assert len(keys) == 2 and keys[0] == keys[1], "the retry reuses the unsettled attempt's key"
    assert len(h.model.jobs) == 1, "no second server job for the same recording"
    [job_id] = h.model.jobs
    row = h.engine.row(w)
    assert row.state == "uploaded" and row.job_id == job_id and row.retry_count == 0
    record("t17", "lost 202 answers retried", 1, lost=len(h.model.jobs) - 1)


def test_t17_connect_error_is_a_network_failure_and_nothing_reached_the_server() -> None:
    h = ModelHarness()
    [w] = h.add(conversation_id="c")
    h.transport.faults = ["connect_error"]
    h.engine.auto_sync(w)
    assert h.model.jobs == {} and h.transport.uploads() == []
    assert "UploadOutcomeUnknown" not in h.types() and "UploadFailed" in h.types()
    assert h.engine.row(w).retry_count == 0
    # Nothing answered: under walsync automatic uploads wait out the offline backoff (T52).
    assert h.engine.auto_sync(w).skipped_reason == "offline" and h.model.jobs == {}
    h.clock.advance(WALSYNC.offline_backoff_seconds)
    h.engine.auto_sync(w)
    assert len(h.model.jobs) == 1 and h.engine.row(w).state == "uploaded"


def test_t17_process_killed_after_sending_reuses_the_key_on_restart(tmp_path: object) -> None:
    """The request went out, then the process died: once its claim is over, the reopened engine
    settles the attempt as outcome-unknown and its retry carries the same key, so the server
    keeps one job."""
    from pathlib import Path

    from walsync.adapters.engine import Engine
    log = Path(str(tmp_path)) / "log.db"
    h = ModelHarness()
    h.store = SqliteStore(log)  # type: ignore[assignment]
    h.engine = Engine(h.store, h.http, clock=h.clock, files=h.files, policy=WALSYNC)
    [w] = h.add(conversation_id="c")

    class Killed(BaseException):
        pass

    def die_after_the_server_applied(*args: object, **kwargs: object) -> object:
        real_upload(*args, **kwargs)  # type: ignore[arg-type]
        raise Killed

    real_upload = h.http.upload
    h.engine.backend = type("B", (), {"upload": staticmethod(die_after_the_server_applied),
                                      "job_status": staticmethod(h.http.job_status)})()
    with pytest.raises(Killed):
        h.engine.auto_sync(w)
    h.store.close()
    h.advance(71)  # its claim (the client's 60 s deadline and 10 s) is over: the uploader is gone
    store = SqliteStore(log)
    engine = Engine(store, h.http, clock=h.clock, files=h.files, policy=WALSYNC)
    assert [r.type for r in store.read()].count("UploadOutcomeUnknown") == 1
    engine.auto_sync(w)
    keys = [r.headers["idempotency-key"] for r in h.transport.uploads()]
    assert len(keys) == 2 and keys[0] == keys[1]
    assert len(h.model.jobs) == 1 and engine.row(w).state == "uploaded"
    assert engine.row(w).job_id == next(iter(h.model.jobs))
    store.close()


def test_t17_a_different_batch_gets_a_fresh_key() -> None:
    """The key names one request body: a retry with other members must not borrow it."""
    h = ModelHarness()
    wals = h.add(2)
    h.transport.faults = ["read_timeout"]
    h.engine.sync_all()
    assert len(h.model.jobs) == 1
    h.engine.sync_wal(wals[0])
    keys = [r.headers["idempotency-key"] for r in h.transport.uploads()]
    assert keys[0] != keys[1]
