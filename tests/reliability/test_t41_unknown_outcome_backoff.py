"""T41: unknown outcomes back off. A 202 whose body is malformed leaves the upload's outcome
unknown (no budget spent, the key kept for a retry); under `walsync` each further unknown outcome
in a row doubles the wait before the recording goes out automatically again, and `why` says
so. `seed` and `legacy` keep the app's behaviour: every pass sends it again."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from field_server import FieldServer, Reply, Seen, recordings, walsync

from walsync.adapters.http.client import HttpBackend
from walsync.adapters.ports import ManualClock
from walsync.adapters.service.folder_sync import sync_directory

from fakes import T0

TOKEN = "tok-t41-0123456789abcdef"


def malformed(seen: Seen) -> Reply:
    return 202, {}, b'{"job_id": 5}'  # a job id that is not a string: the outcome is unknown


def _run(tmp_path: Path, server: FieldServer, policy: str, minutes: float) -> ManualClock:
    clock = ManualClock(T0)
    with HttpBackend(server.url, TOKEN) as client:
        sync_directory(tmp_path / f"{policy}.db", backend_url=server.url, token=TOKEN,
                       recordings_dir=tmp_path / "rec", policy=policy, poll_seconds=1.0,
                       max_seconds=minutes * 60, say=lambda _: None, sleep=clock.advance,
                       clock=clock, backend=client)
    return clock


def test_t41_repeated_unknown_outcomes_back_off_exponentially(tmp_path: Path) -> None:
    """Regression: UploadOutcomeUnknown spends no budget, so the same batch went out on every
    pass (31 POSTs in 15 s against such a server)."""
    recordings(tmp_path / "rec", 2)
    with FieldServer(malformed) as server:
        _run(tmp_path, server, "walsync", 15)
    posts = len(server.uploads())
    assert 4 <= posts <= 6, posts  # at 0, 60, 180, 420 and 900 s; without the backoff: ~900
    why = walsync("why", "--all", "--json", "--db", str(tmp_path / "walsync.db"))
    reports = json.loads(why.stdout)
    assert len(reports) == 2  # one batch of both
    for report in reports:
        assert report["reason"] == "outcome_unknown"
        assert report["blocked_by"]["unknown_in_a_row"] == posts
        assert report["next_attempt_at"] == report["blocked_by"]["backoff_until"]
        assert "back off" in report["summary"] and report["retry_count"] == 0


@pytest.mark.parametrize("policy", ["seed", "legacy"])
def test_t41_seed_and_legacy_keep_the_apps_resend_on_every_pass(tmp_path: Path,
                                                                 policy: str) -> None:
    recordings(tmp_path / "rec", 2)
    with FieldServer(malformed) as server:
        _run(tmp_path, server, policy, 1)
    assert len(server.uploads()) >= 50


def test_t41_walsync_sync_against_a_malformed_202_sends_once_per_backoff(tmp_path: Path) -> None:
    recordings(tmp_path / "rec", 3)
    with FieldServer(malformed) as server:
        done = walsync("sync", "--db", "log.db", "--backend", server.url, "--token", TOKEN,
                       "--recordings", "rec", "--max-minutes", "0.05", "--poll-seconds", "0.2",
                       cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert len(server.uploads()) == 1, done.stdout
    why = walsync("why", "--all", "--db", "log.db", cwd=tmp_path)
    assert why.stdout.count("outcome_unknown") == 3
