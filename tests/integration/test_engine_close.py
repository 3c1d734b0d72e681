"""`engine.close()` closes what the engine opened: the log, and the HTTP client `open_engine`
built for it; a client the app built and handed over stays the app's to close."""

from __future__ import annotations

from pathlib import Path

import httpx

import walsync
from walsync.adapters.http.client import HttpBackend
from walsync.adapters.recordings.files import MemoryFiles

TOKEN = "tok-close-0123456789abcdef"


def _pool(backend: object) -> httpx.Client:
    assert isinstance(backend, HttpBackend)
    client = backend._client  # the pool itself: what an unclosed engine would leak
    assert isinstance(client, httpx.Client)
    return client


def test_close_closes_the_http_client_open_engine_built(tmp_path: Path) -> None:
    engine = walsync.open_engine(tmp_path / "s.db", base_url="http://127.0.0.1:9/", token=TOKEN,
                                 files=MemoryFiles())
    pool = _pool(engine.backend)
    assert not pool.is_closed
    engine.close()
    assert pool.is_closed


def test_close_leaves_a_client_the_app_gave_open(tmp_path: Path) -> None:
    backend = HttpBackend("http://127.0.0.1:9/", TOKEN)
    engine = walsync.open_engine(tmp_path / "s.db", backend=backend, files=MemoryFiles())
    engine.close()
    assert not _pool(backend).is_closed
    backend.close()
    assert _pool(backend).is_closed


def test_an_engine_used_after_close_says_the_log_is_closed(tmp_path: Path) -> None:
    """A StoreError naming the closed log and what to do; it said "SQLite error
    ProgrammingError: Cannot operate on a closed database"."""
    engine = walsync.open_engine(tmp_path / "s.db", base_url="http://127.0.0.1:9/", token=TOKEN,
                                 files=MemoryFiles())
    engine.close()
    calls = {"rows": engine.rows, "sync_all": engine.sync_all,
             "register": lambda: engine.register(device="omi", timer_start=1, file_path="x.bin")}
    for name, call in calls.items():
        try:
            call()
        except walsync.StoreError as error:
            assert "s.db is closed" in str(error) and "open_engine" in str(error), (name, error)
        else:
            raise AssertionError(f"{name} after close() raised nothing")
