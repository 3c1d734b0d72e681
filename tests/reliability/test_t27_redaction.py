"""T27: secrets and personal data seeded into events and HTTP metadata never leave in an export.

Canaries: a bearer token, a cookie, a device id, an e-mail address, an IP address, a home path
with the user's name and a token in a URL query, placed (by Hypothesis) in the structured
fields and in the free text the backend and the transport hand back. Every export format (.db,
.jsonl, .jsonl.gz) is scanned raw, gunzipped, JSON-unescaped and base64-decoded; so is the output
of every CLI command run on it. Pseudonyms are stable within an export (correlation works) and
differ between exports; the manifest names the redacted fields; text renderings escape CR/LF.
"""

from __future__ import annotations

import base64
import binascii
import gzip
import json
import re
import sqlite3
from contextlib import closing, suppress
from pathlib import Path

from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tier import record, scale

from walsync.adapters.cli.main import cli
from walsync.adapters.store.readonly.verify import verify_log
from walsync.adapters.store.share.export import export_log
from walsync.adapters.store.sqlite import SqliteStore
from walsync.core.events import UploadFailed
from walsync.core.policies import WALSYNC
from walsync.core.responses import JobStatus, JobUnreachable, UploadError, UploadJobAccepted, UploadLost
from walsync.projections.sentences import sentence

from fakes import T0, Harness

DEVICE = "devcnry77"
CANARIES = {
    "bearer": "Authorization: Bearer cnryTOKENa1b2c3",
    "cookie": "Cookie: session=cnrySESSION42; theme=dark",
    "email": "cnry.user@example.com",
    "ip": "203.0.113.77",
    "path": "/home/cnryuser/recordings/rec.bin",
    "query": "https://api.example.test/v2/sync?token=cnryQTOKEN99&x=1",
}
NEEDLES = ("cnry", "203.0.113.77", "203\\u002e0")


def _base64_runs(text: bytes) -> list[bytes]:
    decoded = []
    for run in re.findall(rb"[A-Za-z0-9+/=_-]{12,}", text):
        for decode in (base64.b64decode, base64.urlsafe_b64decode):
            try:
                decoded.append(decode(run + b"=" * (-len(run) % 4)))
            except (binascii.Error, ValueError):
                continue
    return decoded


def _views(raw: bytes) -> list[bytes]:
    """The bytes as they are, gunzipped, JSON-unescaped line by line, and base64-decoded."""
    views = [raw]
    with suppress(OSError, EOFError):
        views.append(gzip.decompress(raw))
    for view in list(views):
        for line in view.splitlines():
            try:
                views.append(json.dumps(json.loads(line), ensure_ascii=False).encode())
            except (ValueError, UnicodeDecodeError):
                continue
    views += [d for view in list(views) for d in _base64_runs(view)]
    return views


def _leaks(raw: bytes) -> list[str]:
    found = []
    for view in _views(raw):
        lowered = view.lower()
        found += [n for n in NEEDLES if n.lower().encode() in lowered]
    return sorted(set(found))


def _seeded(path: Path, placement: dict[str, str]) -> None:
    """A log with the canaries in the fields `placement` picks (canary name -> field)."""
    h = Harness(WALSYNC, store=SqliteStore(path))
    text = {field: " ".join(CANARIES[c] for c, f in placement.items() if f == field)
            for field in ("file_path", "error", "lost", "unreachable", "job_error")}
    a = h.engine.register(device=DEVICE, timer_start=1779264000, file_path=text["file_path"] or
                          CANARIES["path"], conversation_id="conv-cnry-1")
    b = h.engine.register(device=DEVICE, timer_start=1779264060, file_path=CANARIES["path"])
    for wal in (a, b):
        h.files.contents[wal] = b"\x02\x00\x00\x00ab"
    h.backend.answer_uploads(
        UploadError(kind="server_error", http_status=500, message="500 " + (text["error"] or "x")),
        UploadLost(detail="ReadTimeout " + (text["lost"] or "y")),
        UploadJobAccepted(job_id="job-1"))
    h.engine.sync_wal(a)
    h.clock.advance(60)
    h.engine.sync_wal(a)
    h.clock.advance(60)
    h.engine.sync_wal(b)
    h.backend.answer_job("job-1", JobUnreachable(http_status=None, detail=text["unreachable"] or "z"),
                         JobStatus(job_id="job-1", status="failed", error=text["job_error"] or "e",
                                   total_segments=2, failed_segments=2))
    h.engine.reconcile()
    h.engine.reconcile()
    h.engine.close()
    assert _leaks(path.read_bytes()), "the canaries are in the log itself"


def _first_wal(db: str) -> str:
    with closing(sqlite3.connect(db)) as conn:
        return str(conn.execute("SELECT wal_id FROM wal_rows ORDER BY wal_id").fetchone()[0])


_FIELDS = st.sampled_from(["file_path", "error", "lost", "unreachable", "job_error"])


@settings(max_examples=scale(3, 150), deadline=None, print_blob=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(placement=st.fixed_dictionaries({name: _FIELDS for name in CANARIES}))
def test_t27_no_canary_in_any_export_format_or_cli_output(tmp_path_factory: object,
                                                           placement: dict[str, str]) -> None:
    work = Path(str(tmp_path_factory.mktemp("t27")))  # type: ignore[attr-defined]
    log = work / "log.db"
    _seeded(log, placement)
    runner = CliRunner()
    outputs = []
    for name in ("shared.db", "shared.jsonl", "shared.jsonl.gz"):
        result = runner.invoke(cli, ["export", "--db", str(log), "--out", str(work / name)])
        assert result.exit_code == 0, result.output
        outputs.append(result.output)
        assert _leaks((work / name).read_bytes()) == [], f"{name} leaks"
    shared = str(work / "shared.db")
    for args in (["log", "--db", shared], ["log", "--db", shared, "--json"], ["why", "--all", "--db", shared],
                 ["timeline", "--db", shared, _first_wal(shared)],
                 ["status", "--db", shared, "--json"], ["verify", "--db", shared],
                 ["replay", str(work / "shared.jsonl.gz")], ["replay", str(work / "shared.jsonl")]):
        result = runner.invoke(cli, args)
        assert result.exit_code == 0, (args, result.output)
        outputs.append(result.output)
    assert _leaks("\n".join(outputs).encode()) == []
    record("t27", "canaries seeded per export", len(CANARIES) * 3, lost=0)


def test_t27_pseudonyms_are_stable_within_an_export_and_differ_across(tmp_path: Path) -> None:
    log = tmp_path / "log.db"
    _seeded(log, dict.fromkeys(CANARIES, "error"))
    first = export_log(log, tmp_path / "a.jsonl.gz", redact=True)
    export_log(log, tmp_path / "b.jsonl.gz", redact=True)
    lines = [json.loads(x) for x in gzip.decompress((tmp_path / "a.jsonl.gz").read_bytes()).splitlines()]
    manifest, rows = lines[0], lines[1:]
    assert {"device", "file_path", "bearer_token", "cookie", "email", "ip_address", "url_query",
            "home_path"} <= set(manifest["redacted"]) and tuple(manifest["redacted"]) == first.redacted
    streams = {r["stream"] for r in rows if r["stream"].startswith("wal:")}
    assert len(streams) == 2 and len({s[4:].rsplit("_", 1)[0] for s in streams}) == 1, \
        "one device, one pseudonym: correlation still works"
    other = gzip.decompress((tmp_path / "b.jsonl.gz").read_bytes()).splitlines()[1:]
    assert {json.loads(x)["stream"] for x in other} != {r["stream"] for r in rows}
    out = tmp_path / "c.db"
    export_log(log, out, redact=True)
    assert verify_log(out).ok, "the redacted copy re-chains and verifies on its own"


def test_t27_cr_lf_in_server_strings_cannot_forge_a_line() -> None:
    forged = "boom\r\n2026-05-20T08:00:00Z  seq 1  UploadSynced  all good\x1b[2J"
    event = UploadFailed(at=T0, wal_id="phone_1", attempt_id="a", kind="server_error", http_status=500,
                         message=forged, retry_count=0, retry_count_bumped=False)
    text = sentence(event)
    assert "\n" not in text and "\r" not in text and "\x1b" not in text
    assert "\\r\\n" in text and "\\x1b" in text
