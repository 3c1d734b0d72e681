"""The composition root: wire a log file, a backend, files, a clock and a policy into an Engine."""

from __future__ import annotations

import random
from pathlib import Path

from walsync.adapters.engine import Engine
from walsync.adapters.ports import Backend, Clock, DirectoryFiles, RecordingFiles, SystemClock
from walsync.adapters.store.sqlite import SqliteStore, Synchronous
from walsync.core.policy import Policy, policy_named

__all__ = ["open_engine"]


def open_engine(
    db_path: str | Path,
    *,
    backend: Backend | None = None,
    base_url: str | None = None,
    token: str | None = None,
    files: RecordingFiles | None = None,
    recordings_dir: str | Path | None = None,
    policy: Policy | str = "walsync",
    clock: Clock | None = None,
    synchronous: Synchronous = "FULL",
    seed: int | None = None,
) -> Engine:
    """Open (or create) the log at `db_path` and return an Engine ready for commands.

    Give either a `backend` or `base_url` + `token` (the real HTTP client), and either
    `files` or `recordings_dir` (recordings' `file_path` is relative to it).
    """
    client = None
    if backend is None:
        if base_url is None or token is None:
            raise ValueError("give a backend, or base_url and token for the HTTP client")
        from walsync.adapters.http.client import HttpBackend

        backend = client = HttpBackend(base_url, token)
    if files is None:
        files = DirectoryFiles(recordings_dir or Path.cwd())
    chosen = policy_named(policy) if isinstance(policy, str) else policy
    engine = Engine(SqliteStore(db_path, synchronous=synchronous), backend,
                    clock=clock or SystemClock(), files=files, policy=chosen,
                    rng=random.Random(seed))
    if client is not None:
        client.log_head = engine.head_anchor  # the anchored head travels with each upload
    return engine
