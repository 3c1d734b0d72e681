"""Test doubles for the engine's ports: a scripted backend answering with plain core answers."""

from __future__ import annotations

import random
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from walsync.adapters.engine import Engine
from walsync.adapters.ports import EventStore, ManualClock
from walsync.adapters.recordings.files import MemoryFiles
from walsync.adapters.store.memory import MemoryStore
from walsync.core.policy import Policy
from walsync.core.responses import (
    JobStatus,
    JobStatusResult,
    JobUnreachable,
    UploadAnswer,
    UploadJobAccepted,
)

T0 = datetime(2026, 5, 20, 8, 0, tzinfo=UTC)


class ScriptedBackend:
    """Answers uploads from a queue (default: 202 with a fresh job id) and jobs from a dict."""

    def __init__(self) -> None:
        self.upload_answers: deque[UploadAnswer] = deque()
        self.job_answers: dict[str, deque[JobStatusResult]] = {}
        self.uploads: list[dict[str, Any]] = []
        self.polls: list[str] = []
        self._jobs = 0

    def answer_uploads(self, *answers: UploadAnswer) -> None:
        self.upload_answers.extend(answers)

    def answer_job(self, job_id: str, *answers: JobStatusResult) -> None:
        self.job_answers.setdefault(job_id, deque()).extend(answers)

    def upload(self, files: Sequence[Any], *, conversation_id: str | None = None,
               idempotency_key: str | None = None) -> UploadAnswer:
        self.uploads.append({"files": [f.name for f in files], "conversation_id": conversation_id,
                             "key": idempotency_key})
        if self.upload_answers:
            return self.upload_answers.popleft()
        self._jobs += 1
        return UploadJobAccepted(job_id=f"job-{self._jobs}")

    def job_status(self, job_id: str) -> JobStatusResult:
        self.polls.append(job_id)
        queue = self.job_answers.get(job_id)
        if queue:
            return queue.popleft() if len(queue) > 1 else queue[0]
        return JobStatus(job_id=job_id, status="queued")


GUARD = 30.0  # seconds: guards against a hang, never a timing assertion


def wait_until(condition: Callable[[], object], guard: float = GUARD) -> None:
    """Wait until `condition()` holds, failing the test after `guard` seconds (a hang)."""
    deadline = time.monotonic() + guard
    while not condition():
        assert time.monotonic() < deadline, "the condition never held"
        time.sleep(0.01)


class HeldBackend(ScriptedBackend):
    """Each upload waits for the test's `release` (the test acts while a batch is out; `out`
    tells it one is); it cannot be cut short, having no socket."""

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()
        self.out = threading.Event()

    def upload(self, files: Sequence[Any], *, conversation_id: str | None = None,
               idempotency_key: str | None = None) -> UploadAnswer:
        self.out.set()
        assert self.release.wait(GUARD)
        return super().upload(files, conversation_id=conversation_id,
                              idempotency_key=idempotency_key)


def ids(seed: int = 1) -> Callable[[], str]:
    """Event ids as the engine makes them (32 hex digits: stored as bytes), from a seed."""
    rng = random.Random(seed)
    return lambda: f"{rng.getrandbits(128):032x}"


class Harness:
    """An engine on a manual clock, in-memory files and a scripted backend."""

    def __init__(self, policy: Policy, store: EventStore | None = None) -> None:
        self.clock = ManualClock(T0)
        self.files = MemoryFiles()
        self.backend = ScriptedBackend()
        self.policy = policy
        self.store = store or MemoryStore()
        self.engine = Engine(self.store, self.backend, clock=self.clock, files=self.files,
                             policy=policy, new_id=ids(), rng=random.Random(3))
        # Recordings registered so far, deleted and finished ones too (a store's view holds
        # only the live ones): the next one's timer start.
        self._registered = sum(r.type == "WalRegistered" for r in self.store.read())

    def add(self, n: int = 1, *, conversation_id: str | None = None,
            with_file: bool = True) -> list[str]:
        made = []
        for _ in range(n):
            start = 1779264000 + 60 * self._registered
            wal_id = self.engine.register(timer_start=start, file_path=f"{start}.bin",
                                          conversation_id=conversation_id)
            self._registered += 1
            if with_file:
                self.files.contents[wal_id] = b"\x02\x00\x00\x00ab"
            made.append(wal_id)
        return made

    def types(self, after: int = 0) -> list[str]:
        return [r.type for r in self.store.read(after=after)]

    def seq(self) -> int:
        return self.store.head()[0]

    def row(self, wal_id: str) -> Any:
        return self.engine.row(wal_id)


def unreachable() -> JobUnreachable:
    return JobUnreachable(http_status=None, detail="connection reset")


def synced_log(path: Path, recordings: int = 4, *answers: UploadAnswer) -> Path:
    """A real SQLite log at `path` after one batch sync of `recordings` recordings under seed,
    the uploads answered in turn by `answers` (default: a 202, then a 429): a small log with
    uploads, a job and a cooldown, for tests that read logs through the CLI."""
    from walsync.adapters.store.sqlite import SqliteStore
    from walsync.core.policies import SEED
    from walsync.core.responses import UploadThrottled

    h = Harness(SEED, store=SqliteStore(path))
    h.add(recordings)
    h.backend.answer_uploads(*(answers or (UploadJobAccepted(job_id="job-1"), UploadThrottled())))
    h.engine.sync_all()
    h.engine.close()
    return path


class SteppedClock:
    """A clock that moves only when slept on, noting each pause: a retry loop's pauses and
    deadline tested without waiting (pass it as the clock and `.sleep` as the sleep)."""

    def __init__(self) -> None:
        self.now = 0.0
        self.pauses: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.pauses.append(seconds)
        self.now += seconds
