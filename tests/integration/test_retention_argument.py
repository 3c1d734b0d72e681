"""A negative retention is refused when the service is made: a sign slip
(`timedelta(days=-30)`) was taken, and the passes then sealed the whole history, new rows
included, a step at each pass (a horizon in the future) instead of what is 30 days old."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

import walsync


def test_a_negative_retention_is_a_value_error(tmp_path: Path) -> None:
    engine = walsync.open_engine(tmp_path / "sync.db", base_url="http://127.0.0.1:9/",
                                 token="tok-1234567890abcdef", recordings_dir=tmp_path)
    try:
        with pytest.raises(ValueError, match="negative"):
            walsync.SyncService(engine, retention=timedelta(days=-30))
        with pytest.raises(ValueError, match="negative"):
            walsync.AsyncSyncService(engine, retention=timedelta(seconds=-1))
        with pytest.raises(ValueError, match="negative"):
            walsync.BackgroundRetention(tmp_path / "sync.db", timedelta(days=-1))
        walsync.SyncService(engine, retention=timedelta(0))  # everything older than now
        walsync.SyncService(engine, retention=None)  # never
    finally:
        engine.close()
