"""An app's base URL is checked when the engine opens: a typo (`htps://`, no scheme, no host)
is a ValueError at once, before the log is touched. It used to be accepted, and every upload
then failed on "UnsupportedProtocol", recorded, while the row read "Waiting to sync"."""

from __future__ import annotations

from pathlib import Path

import pytest

import walsync
from walsync.adapters.http.client import HttpBackend


@pytest.mark.parametrize("url", ["htps://api.example.com/", "api.example.com", "ftp://x/",
                                 "http://", "not a url", "http://[::1"])
def test_a_base_url_no_request_can_go_to_is_refused_at_open(tmp_path: Path, url: str) -> None:
    with pytest.raises(ValueError, match="base_url"):
        walsync.open_engine(tmp_path / "sync.db", base_url=url, token="tok-1234567890abcdef",
                            recordings_dir=tmp_path)
    assert not (tmp_path / "sync.db").exists()
    with pytest.raises(ValueError, match="base_url"):
        HttpBackend(url, "tok-1234567890abcdef")


def test_an_http_or_https_url_with_a_host_is_taken(tmp_path: Path) -> None:
    for url in ("http://127.0.0.1:9/", "https://api.example.com", "http://backend.test"):
        HttpBackend(url, "tok-1234567890abcdef").close()
