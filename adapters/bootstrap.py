"""The composition root: wire a log file, a backend, files, a clock and a policy into an Engine.

Every engine is built here: an embedding app's, `walsync sync`'s and the simulator's.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from walsync.adapters.engine import Engine
from walsync.adapters.ports import Backend, Clock, RecordingFiles, SystemClock
from walsync.adapters.recordings.files import DirectoryFiles
from walsync.adapters.store.sqlite import SqliteStore, Synchronous
from walsync.core.events import LogSalvaged
from walsync.core.policies import policy_named
from walsync.core.policy import Policy

if TYPE_CHECKING:  # httpx is imported only when a client is built
    import httpx

    from walsync.adapters.http.client import TokenProvider

__all__ = ["open_engine", "repair_log"]


def open_engine(
    db_path: str | Path,
    *,
    backend: Backend | None = None,
    base_url: str | None = None,
    token: str | TokenProvider | None = None,
    transport: httpx.BaseTransport | None = None,
    files: RecordingFiles | None = None,
    recordings_dir: str | Path | None = None,
    policy: Policy | str = "walsync",
    clock: Clock | None = None,
    synchronous: Synchronous = "FULL",
    seed: int | None = None,
    new_id: Callable[[], str] | None = None,
    concurrent_polls: bool = True,
) -> Engine:
    """Open (or create) the log at `db_path` and return an Engine ready for commands.

    Give either a `backend` or `base_url` + `token` for the real HTTP client: a token, or a
    token provider (a callable, sync or async, asked at the first request and again when the
    backend refuses the token: 401/403) (`transport`
    replaces its network: a test double or the in-process simulated backend). The HTTP client
    sends the log's anchored head with every request, whether it was built here (and is then
    closed with the engine) or given (an `HttpBackend` whose `log_head` is not set yet).
    Give either `files` or `recordings_dir` (recordings' `file_path` is relative to it).
    `seed` seeds the engine's random draws (resume jitter), `new_id` makes its event ids.
    `concurrent_polls=False` asks a slice of job statuses one by one (the simulator's virtual
    time has no latency to save, and its seeded network faults must fall in a fixed order).
    """
    client = None
    if backend is None:
        if base_url is None or token is None:
            raise ValueError("give a backend, or base_url and token for the HTTP client")
        from walsync.adapters.http.client import HttpBackend

        backend = client = HttpBackend(base_url, token, transport=transport)
    if files is None:
        files = DirectoryFiles(recordings_dir or Path.cwd())
    chosen = policy_named(policy) if isinstance(policy, str) else policy
    store = None
    try:
        store = SqliteStore(db_path, synchronous=synchronous)
        engine = Engine(store, backend, clock=clock or SystemClock(), files=files, policy=chosen,
                        new_id=new_id, rng=random.Random(seed), owns_backend=client is not None,
                        concurrent_polls=concurrent_polls)
    except BaseException:
        if store is not None:  # opened, then the engine's first records failed (a full disk)
            store.close()
        if client is not None:
            client.close()
        raise
    if getattr(backend, "log_head", False) is None:  # an HTTP client, not wired to a log yet
        backend.log_head = engine.head_anchor  # type: ignore[attr-defined]  # checked just above
    return engine


def repair_log(db_path: str | Path) -> LogSalvaged | None:
    """What `walsync.check_log` (verify_full) found wrong, put right the way start-up does,
    with no engine open on the log (close it first): a damaged log is moved aside, bytes
    untouched, and its verified prefix put in its place (the LogSalvaged event says where it
    went and what was kept); projection tables that differ from the fold of the log are
    rewritten from it (None)."""
    store = SqliteStore(db_path, whole_check=True)
    try:
        return store.salvaged
    finally:
        store.close()

