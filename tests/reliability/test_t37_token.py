"""T37: the token never lands anywhere. A token that cannot travel in a header is refused up
front; a server that echoes the token (after `Bearer `, `token=`, `auth=` or nothing, raw,
escaped or URL-encoded) gets it scrubbed before anything is stored, so it is in none of the log
files, `log`, `why`, the HTML report and the export; output is redacted only where the token
stands whole, and a short token gets a warning."""

from __future__ import annotations

import json
import re
from itertools import count
from pathlib import Path
from urllib.parse import quote

import pytest
from field_server import FieldServer, Reply, Seen, recordings, walsync

from walsync.adapters.http.client import HttpBackend
from walsync.core.errors import InvalidToken
from walsync.core.redaction import TokenScrubber, check_token

TOKEN = "Zx9/CANARY+t0k3n=="  # '/', '+' and '=' differ between its encodings
ENCODED = quote(TOKEN, safe="")
LOWER = re.sub(r"%[0-9A-F]{2}", lambda m: m[0].lower(), ENCODED)  # the escapes in lower case


def _forms(token: str = TOKEN) -> list[bytes]:
    """What to look for: the token raw, URL-encoded (either case), JSON-escaped, and its core."""
    return [f.encode() for f in (token, ENCODED, LOWER, token.replace("/", "\\/"),
                                 "CANARY+t0k3n", "CANARY%2Bt0k3n", "CANARY%2bt0k3n")]


def _echoing() -> FieldServer:
    """Uploads: 202 with a job, then 429; the job fails; every text echoes the token."""
    posts = count()

    def answer(seen: Seen) -> Reply:
        if seen.method == "POST":
            if next(posts) == 0:
                return 202, {}, {"job_id": "job-1"}
            return 429, {"Retry-After": "1"}, {"detail": f"Bearer {TOKEN} is over the limit"}
        return 200, {}, {"job_id": "job-1", "status": "failed", "total_segments": 1,
                         "failed_segments": 1,
                         "error": (f"token={TOKEN} refused; auth={ENCODED}; {TOKEN}; "
                                   f"{json.dumps(TOKEN)}; url ?t={LOWER}")}
    return FieldServer(answer)


def _leaks(blob: bytes) -> list[bytes]:
    return [form for form in _forms() if form in blob]


def test_t37_a_server_echoing_the_token_leaves_it_nowhere(tmp_path: Path) -> None:
    """Regression: a job's `error` and a 429's `detail` were stored verbatim (only the raw token
    was replaced, in the client's own messages), and reached log, why, report and export."""
    recordings(tmp_path / "rec", 2)
    with _echoing() as server:
        run = walsync("sync", "--db", "log.db", "--backend", server.url, "--recordings", "rec",
                      "--max-minutes", "0.05", "--poll-seconds", "0.2", cwd=tmp_path,
                      env={"WALSYNC_TOKEN": TOKEN})
    assert run.returncode == 0, run.stderr
    assert len(server.uploads()) >= 2 and any(s.method == "GET" for s in server.seen)
    outputs = [run.stdout + run.stderr]
    for args in (["log"], ["log", "--json"], ["why", "--all"], ["why", "--all", "--json"],
                 ["report", "--all", "--html", "report.html"],
                 ["export", "--out", str(tmp_path / "shared.jsonl")],
                 ["export", "--out", str(tmp_path / "private.jsonl"), "--no-redact"]):
        done = walsync(*args, "--db", "log.db", cwd=tmp_path)
        assert done.returncode == 0, (args, done.stderr)
        outputs.append(done.stdout + done.stderr)
    stored = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.is_file())
    assert b"JobFailed" in stored and b"[redacted]" in stored  # the echo was there, scrubbed
    leaks = {name: _leaks(blob) for name, blob in
             [("files", stored), *((f"output {i}", o.encode()) for i, o in enumerate(outputs))]}
    assert not any(leaks.values()), leaks


def test_t37_export_redacts_a_token_an_older_walsync_stored(tmp_path: Path) -> None:
    """An older log may hold the echo: the export's label pattern removes `token=...`, and with
    the token given (`--token` or WALSYNC_TOKEN) every whole occurrence goes."""
    from walsync.adapters.store.sqlite import SqliteStore
    from walsync.core.policies import WALSYNC
    from walsync.core.responses import UploadError

    from fakes import Harness

    h = Harness(WALSYNC, store=SqliteStore(tmp_path / "old.db"))
    h.add(1)
    h.backend.answer_uploads(UploadError(kind="unexpected", http_status=418,
                                         message=f"token={TOKEN} and bare {TOKEN}"))
    h.engine.sync_all()
    h.engine.close()
    labelled = walsync("export", "--db", "old.db", "--out", str(tmp_path / "a.jsonl"), cwd=tmp_path,
                       env={"WALSYNC_TOKEN": ""})
    assert labelled.returncode == 0, labelled.stderr
    text = (tmp_path / "a.jsonl").read_bytes()
    assert b"token=secret-" in text and text.count(TOKEN.encode()) == 1  # the bare one is left
    given = walsync("export", "--db", "old.db", "--out", str(tmp_path / "b.jsonl"), cwd=tmp_path,
                    env={"WALSYNC_TOKEN": TOKEN})
    assert given.returncode == 0, given.stderr
    assert not _leaks((tmp_path / "b.jsonl").read_bytes())


@pytest.mark.parametrize(("token", "what"), [
    (TOKEN + "\r", "carriage return"), ("tok\nen-0123456789abc", "line break"),
    ("tök-0123456789abcdef", "non-ASCII"), ("tok en-0123456789ab", "space")])
def test_t37_a_token_that_cannot_be_a_header_is_refused_before_any_request(
        tmp_path: Path, token: str, what: str) -> None:
    """Regression: a token with a trailing CR (a CRLF token file) made httpx refuse the header
    mid-request with a message quoting it escaped, and that message was stored and printed."""
    recordings(tmp_path / "rec", 1)
    with FieldServer() as server:
        done = walsync("sync", "--db", "log.db", "--backend", server.url, "--recordings", "rec",
                       "--once", cwd=tmp_path, env={"WALSYNC_TOKEN": token})
    assert server.seen == []
    assert done.returncode != 0 and "Traceback" not in done.stderr, done.stderr
    assert what in done.stderr and done.stderr.startswith("Error: "), done.stderr
    core = token.strip()[:6]
    if core:
        assert core not in done.stdout + done.stderr
    for bad in (token, ""):
        with pytest.raises(InvalidToken):
            check_token(bad)
        with pytest.raises(InvalidToken):
            HttpBackend(server.url, bad)


def test_t37_output_is_redacted_only_where_the_token_stands_whole(tmp_path: Path) -> None:
    """Regression: with `--token t`, walsync sync printed 'regis[redacted]ered'."""
    recordings(tmp_path / "rec", 2)
    with FieldServer() as server:
        done = walsync("sync", "--db", "log.db", "--backend", server.url, "--token", "t",
                       "--recordings", "rec", "--once", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "registered 2 new recording(s)" in done.stdout
    assert "warning: the token is only 1 character(s) long" in done.stdout
    assert "[redacted]" not in done.stdout


@pytest.mark.parametrize("text", [
    f"Bearer {TOKEN}", f"token={TOKEN}", f"auth={ENCODED}", f"auth={LOWER}",
    TOKEN, json.dumps({"t": TOKEN}), f"{TOKEN}.", f"({TOKEN})",
])
def test_t37_the_scrubber_catches_every_label_and_encoding(text: str) -> None:
    scrubbed = TokenScrubber(TOKEN).scrub(text)
    assert not _leaks(scrubbed.encode()) and "[redacted]" in scrubbed


def test_t37_the_scrubber_leaves_longer_words_alone() -> None:
    scrub = TokenScrubber("t")
    assert scrub("registered t, then t.") == "registered [redacted], then [redacted]."
    assert re.fullmatch(r"\w+", scrub("tattoo"))
