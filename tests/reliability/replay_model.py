"""T11's pieces: a backend answering from queues the machine fills, and the replay invariants.

The backend sits at the engine's port (plain answers), so each rule can say exactly what the
server did: 202, 200, 429 with or without Retry-After, 503, a lost answer; job statuses
queued, processing, completed, failed, partial_failure and the stale-worker failure.
"""

from __future__ import annotations

import sqlite3
from collections import deque
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import httpx

from walsync.adapters.store.schema import PROJECTION_TABLES, create_schema
from walsync.adapters.store.sqlite import SqliteStore
from walsync.adapters.store.tables import dump_projection_tables, full_delta, write_delta
from walsync.core.events import CooldownStarted
from walsync.core.responses import (
    JobStatus,
    JobStatusResult,
    JobUnreachable,
    JobVanished,
    UploadAnswer,
    UploadError,
    UploadJobAccepted,
    UploadLost,
    UploadProcessed,
    UploadThrottled,
    UploadUnusable,
)
from walsync.core.retry_after import parse_retry_after
from walsync.core.states import ACTIVE_STATES, FINISHED_STATES, STATES
from walsync.projections.snapshot import summary_data
from walsync.projections.view import Projection

DAY = timedelta(hours=24)


class QueueBackend:
    """Upload answers from a queue (default 202 with a fresh job), job answers per job id."""

    def __init__(self) -> None:
        self.uploads: deque[UploadAnswer] = deque()
        self.jobs: dict[str, deque[JobStatusResult]] = {}
        self.keys: list[str | None] = []
        self._made = 0

    def upload(self, files: Sequence[Any], *, conversation_id: str | None = None,
               idempotency_key: str | None = None) -> UploadAnswer:
        self.keys.append(idempotency_key)
        if self.uploads:
            return self.uploads.popleft()
        self._made += 1
        return UploadJobAccepted(job_id=f"job-{self._made}")

    def job_status(self, job_id: str) -> JobStatusResult:
        queue = self.jobs.get(job_id)
        if queue:
            return queue.popleft()
        return JobStatus(job_id=job_id, status="queued")


_SCRATCH = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
create_schema(_SCRATCH)


def projection_bytes(projection: Projection) -> bytes:
    """The tables a projection writes, in a scratch database (made once: schema set-up is slow)."""
    for table in PROJECTION_TABLES:
        _SCRATCH.execute(f"DELETE FROM {table}")
    write_delta(_SCRATCH, full_delta(projection))
    return dump_projection_tables(_SCRATCH)


def check_replay_equals_live(store: SqliteStore) -> None:
    """The fold of the stored events equals the tables on disk, and the in-memory view: its
    live recordings and rows are the fold's live ones, its summary the fold's, and every
    finished recording it reads from the log (and every row) is the fold's."""
    rebuilt = Projection()
    rebuilt.apply((r.seq, r.event) for r in store.read())
    on_disk = dump_projection_tables(store.connection)
    assert projection_bytes(rebuilt) == on_disk, "replay(log) differs from the projection tables"
    view = store.projection
    live = {i: w for i, w in rebuilt.wals.items() if w.status not in FINISHED_STATES}
    assert view.wals == live, "the live view holds other recordings than the fold's live ones"
    assert view.rows == {i: r for i, r in rebuilt.rows.items() if i in live}
    assert summary_data(view) == summary_data(rebuilt) and view.cards == rebuilt.cards
    assert all(view.known(wal_id) == wal for wal_id, wal in rebuilt.wals.items())
    assert view.all_rows() == list(rebuilt.rows.values())
    assert rebuilt.checkpoint == view.checkpoint == store.head()[0]


def check_statuses(store: SqliteStore) -> None:
    """Every WAL is in a state of the table; every row shows an active one."""
    for wal in store.projection.wals.values():
        assert wal.status in STATES, wal
    for row in store.projection.rows.values():
        assert row.state in ACTIVE_STATES, row


def check_retry_counts(store: SqliteStore, seen: dict[str, int]) -> None:
    """Retry counts never go down (across restarts too): `seen` holds the last values."""
    for wal_id, wal in store.projection.wals.items():
        assert wal.retry_count >= seen.get(wal_id, 0), (wal_id, wal.retry_count, seen)
        seen[wal_id] = wal.retry_count


def check_cooldowns(store: SqliteStore, now: datetime, after: int) -> None:
    """Each new cooldown is <= 24 h and <= its own Retry-After; the gate never waits > 24 h."""
    for row in store.read(after=after, stream="gate"):
        event = row.event
        if not isinstance(event, CooldownStarted):
            continue
        assert 0 < event.requested_seconds <= DAY.total_seconds(), event
        own = event.at + timedelta(seconds=event.requested_seconds)
        kept = event.merge_rule == "keep_later" and event.until == event.previous_until
        assert event.until == own or kept, event
        asked = parse_retry_after(event.retry_after_raw, event.at)
        if asked and not event.default_applied:
            assert event.requested_seconds <= asked, event
    gate = store.projection.gate.gate
    if gate.limited and gate.until is not None and gate.set_at is not None:
        assert gate.until - gate.set_at <= DAY, gate
        if gate.blocks(now):
            assert gate.until - now <= DAY, gate


def http_face(model: QueueBackend) -> httpx.MockTransport:
    """The same queued answers spoken as HTTP (spec section 6), for the real HttpBackend: a 429
    carries its Retry-After as a header, a lost answer is a read timeout after the server
    took the request, a network error a refused connection."""

    def reply(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            return _upload_reply(request, model.upload(
                [], idempotency_key=request.headers.get("idempotency-key")))
        return _job_reply(model.job_status(request.url.path.rsplit("/", 1)[-1]))

    return httpx.MockTransport(reply)


def _upload_reply(request: httpx.Request, answer: UploadAnswer) -> httpx.Response:
    if isinstance(answer, UploadJobAccepted):
        return httpx.Response(202, json={"job_id": answer.job_id})
    if isinstance(answer, UploadProcessed):
        return httpx.Response(200, json={"new_memories": list(answer.new_conversations),
                                         "updated_memories": list(answer.updated_conversations)})
    if isinstance(answer, UploadThrottled):
        headers = {} if answer.retry_after_raw is None else {"retry-after": answer.retry_after_raw}
        return httpx.Response(429, headers=headers, json={"detail": answer.detail})
    if isinstance(answer, UploadLost):
        raise httpx.ReadTimeout("the server took the body; no answer came", request=request)
    if isinstance(answer, UploadUnusable):
        return httpx.Response(answer.http_status, json={"status": "queued"})  # no job id
    assert isinstance(answer, UploadError)
    if answer.http_status is None:
        raise httpx.ConnectError("connection refused", request=request)
    return httpx.Response(answer.http_status, json={"detail": answer.message})


def _job_reply(answer: JobStatusResult) -> httpx.Response:
    if isinstance(answer, JobVanished):
        return httpx.Response(answer.http_status, json={"detail": "Sync job not found"})
    if isinstance(answer, JobUnreachable):
        return httpx.Response(answer.http_status or 502, json={"detail": answer.detail})
    assert isinstance(answer, JobStatus)
    return httpx.Response(200, json={
        "job_id": answer.job_id, "status": answer.status, "error": answer.error,
        "total_segments": answer.total_segments,
        "processed_segments": answer.processed_segments,
        "successful_segments": answer.successful_segments,
        "failed_segments": answer.failed_segments,
        "result": {"new_memories": list(answer.new_conversations),
                   "updated_memories": list(answer.updated_conversations)}})
