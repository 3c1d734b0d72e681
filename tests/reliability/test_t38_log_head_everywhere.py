"""T38: the tamper anchor reaches the server from every entry point. Every request carries
`X-Walsync-Log-Head` (the log's `SEQ:HASH` when it was sent), and the last one a server saw
verifies with `walsync verify --expect-head`."""

from __future__ import annotations

import re
from pathlib import Path

from field_server import FieldServer, recordings, walsync

from walsync.adapters.bootstrap import open_engine
from walsync.adapters.http.client import HttpBackend
from walsync.adapters.service.folder_sync import sync_directory

_ANCHOR = re.compile(r"\d+:[0-9a-f]{64}")
TOKEN = "tok-t38-0123456789abcdef"


def _heads(server: FieldServer) -> list[str | None]:
    return [s.headers.get("x-walsync-log-head") for s in server.seen]


def _verifies(db: Path, head: str) -> None:
    done = walsync("verify", "--db", str(db), "--expect-head", head)
    assert done.returncode == 0 and done.stdout.startswith("ok:"), done.stdout + done.stderr


def test_t38_walsync_sync_sends_the_head_with_every_request(tmp_path: Path) -> None:
    """Regression: `walsync sync` built its own client and never sent the header."""
    recordings(tmp_path / "rec", 5)
    with FieldServer() as server:
        done = walsync("sync", "--db", "log.db", "--backend", server.url, "--token", TOKEN,
                       "--recordings", "rec", "--once", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    heads = _heads(server)
    assert len(heads) == 2 and all(h is not None and _ANCHOR.fullmatch(h) for h in heads), heads
    assert heads[0] != heads[1]  # each request sends the head as it was then
    _verifies(tmp_path / "log.db", str(heads[-1]))


def test_t38_an_http_client_given_to_open_engine_sends_the_head(tmp_path: Path) -> None:
    """Regression: open_engine wired the header only into a client it built itself."""
    names = recordings(tmp_path / "rec", 2)
    with FieldServer() as server, HttpBackend(server.url, TOKEN) as client:
        engine = open_engine(tmp_path / "log.db", backend=client, recordings_dir=tmp_path / "rec")
        for name in names:
            engine.register(device="omi", timer_start=int(name[-14:-4]), file_path=name)
        engine.sync_all()
        engine.close()
    [head] = _heads(server)
    assert head is not None and _ANCHOR.fullmatch(head)
    _verifies(tmp_path / "log.db", head)


def test_t38_sync_directory_with_a_given_client_sends_the_head(tmp_path: Path) -> None:
    recordings(tmp_path / "rec", 4)
    with FieldServer() as server, HttpBackend(server.url, TOKEN) as client:
        sync_directory(tmp_path / "log.db", backend_url=server.url, token=TOKEN,
                       recordings_dir=tmp_path / "rec", once=True, say=lambda _: None,
                       backend=client)
    heads = _heads(server)
    assert len(heads) == 2 and all(h is not None and _ANCHOR.fullmatch(h) for h in heads), heads
